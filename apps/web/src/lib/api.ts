/**
 * A small typed client for the node API (`docs/API.md`). Same-origin: the session is an HttpOnly
 * cookie the browser sends by itself. Every failure is an `ApiError` carrying the node's status,
 * error code and message (or `network` / `aborted` when no answer arrived).
 */
import type {
  Accepted,
  AlbumDetail,
  AlbumView,
  BlobStored,
  ChallengeResponse,
  EnrollToken,
  ErrorBody,
  ErrorCode,
  Health,
  LogEntry,
  Me,
  MemberView,
  Nodes,
  PeerInfo,
  ReplicationStatus,
  SetupRequest,
  VerifyRequest,
} from "./apiTypes.ts";
import { P2posError } from "./errors.ts";
import type { SignedRecord } from "./records.ts";

/** A node error code, or what happened when no answer arrived. */
export type ApiErrorCode = ErrorCode | "network" | "aborted" | "unexpected";

export class ApiError extends P2posError<ApiErrorCode> {
  /** HTTP status, 0 when no answer arrived. */
  readonly status: number;
  /** With `record_refused`: the vault rule that refused the record (e.g. `key_not_rotated`). */
  readonly rule: string | undefined;

  constructor(
    status: number,
    code: ApiErrorCode,
    message: string,
    options?: ErrorOptions & { rule?: string | undefined },
  ) {
    super(code, message, options);
    this.status = status;
    this.rule = options?.rule;
  }

  get code(): ApiErrorCode {
    return this.kind;
  }
}

/**
 * Whether the node refused a record because the album's key must be rotated first: a member lost
 * access and the album has no new epoch yet (the vault rule `key_not_rotated`). Until the next
 * epoch, and our key to it, the album takes no new photos. Branches on the node's `rule`, never
 * on its message.
 */
export function isKeyNotRotated(error: unknown): boolean {
  return error instanceof ApiError && error.code === "record_refused" && error.rule === "key_not_rotated";
}

export interface BlobUploadOptions {
  /** Bytes sent so far, of `total`. */
  onProgress?: (sent: number, total: number) => void;
  signal?: AbortSignal;
}

export interface ApiClient {
  health(): Promise<Health>;
  setup(request: SetupRequest): Promise<Accepted[]>;
  challenge(identity: string): Promise<ChallengeResponse>;
  verify(request: VerifyRequest): Promise<Me>;
  me(): Promise<Me>;
  logout(): Promise<void>;
  postRecord(record: SignedRecord): Promise<Accepted>;
  records(since?: number, limit?: number): Promise<LogEntry[]>;
  members(): Promise<MemberView[]>;
  albums(): Promise<AlbumView[]>;
  album(id: string): Promise<AlbumDetail>;
  putBlob(id: string, body: Blob, options?: BlobUploadOptions): Promise<BlobStored>;
  getBlob(id: string, signal?: AbortSignal): Promise<Blob>;
  /** Where the family's photos are stored, and how this node's peers are doing (members). */
  /** `album`: only that album's photos; `photos: false`: peers only. */
  replicationStatus(options?: { album?: string; photos?: boolean }): Promise<ReplicationStatus>;
  /** This node, its hub and its enrolled peers (members). */
  nodes(): Promise<Nodes>;
  /** Issue a one-time token another node uses to join (admins). */
  enroll(): Promise<EnrollToken>;
  /** Complete an enrolment with the node that issued `token` (admins). */
  addPeer(token: string): Promise<PeerInfo>;
  /** Stop replicating with a peer (admins). */
  removePeer(node: string): Promise<void>;
}

/**
 * How requests reach the node: the browser's `fetch` (HTTP, the default), or a data channel to it
 * (`nodeChannel.ts`). `upload`, when given, replaces the XMLHttpRequest used for blob uploads.
 */
export interface ApiTransport {
  fetch: (url: string, init?: RequestInit) => Promise<Response>;
  upload?: (url: string, body: Blob, options?: BlobUploadOptions) => Promise<Response>;
}

const HTTP: ApiTransport = { fetch: (url, init) => fetch(url, init) };

/** The client for the node at `base` (default: this page's origin), over `transport`. */
export function createApi(base = "", transport: ApiTransport = HTTP): ApiClient {
  const url = (path: string) => `${base}/v1${path}`;

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const init: RequestInit = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { Accept: "application/json", "Content-Type": "application/json" };
    }
    let response: Response;
    try {
      response = await transport.fetch(url(path), init);
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw new ApiError(0, "network", "The node could not be reached.", { cause: error });
    }
    if (!response.ok) throw await errorOf(response);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  return {
    health: () => call("GET", "/health"),
    setup: (request) => call("POST", "/setup", request),
    challenge: (identity) => call("POST", "/auth/challenge", { identity }),
    verify: (request) => call("POST", "/auth/verify", request),
    me: () => call("GET", "/auth/me"),
    logout: () => call("POST", "/auth/logout"),
    postRecord: (record) => call("POST", "/records", record),
    records: (since = 0, limit = 1000) => call("GET", `/records?since=${since}&limit=${limit}`),
    members: () => call("GET", "/members"),
    albums: () => call("GET", "/albums"),
    album: (id) => call("GET", `/albums/${encodeURIComponent(id)}`),
    replicationStatus: (options = {}) => {
      const query = new URLSearchParams();
      if (options.album !== undefined) query.set("album", options.album);
      if (options.photos === false) query.set("photos", "false");
      const search = query.toString();
      return call("GET", `/replication/status${search ? `?${search}` : ""}`);
    },
    nodes: () => call("GET", "/nodes"),
    enroll: () => call("POST", "/enroll"),
    addPeer: (token) => call("POST", "/nodes/peers", { token }),
    removePeer: (node) => call("DELETE", `/nodes/peers/${encodeURIComponent(node)}`),
    putBlob: (id, body, options = {}) =>
      transport.upload
        ? uploadWith(transport.upload, url(`/blobs/${encodeURIComponent(id)}`), body, options)
        : putBlob(url(`/blobs/${encodeURIComponent(id)}`), body, options),
    async getBlob(id, signal) {
      let response: Response;
      try {
        response = await transport.fetch(url(`/blobs/${encodeURIComponent(id)}`), {
          credentials: "same-origin",
          ...(signal ? { signal } : {}),
        });
      } catch (error) {
        if (signal?.aborted) throw new ApiError(0, "aborted", "Cancelled.", { cause: error });
        if (error instanceof ApiError) throw error;
        throw new ApiError(0, "network", "The node could not be reached.", { cause: error });
      }
      if (!response.ok) throw await errorOf(response);
      return response.blob();
    },
  };
}

async function uploadWith(
  upload: NonNullable<ApiTransport["upload"]>,
  target: string,
  body: Blob,
  options: BlobUploadOptions,
): Promise<BlobStored> {
  let response: Response;
  try {
    response = await upload(target, body, options);
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError(0, "network", "The upload was interrupted.", { cause: error });
  }
  if (!response.ok) throw await errorOf(response);
  options.onProgress?.(body.size, body.size);
  return (await response.json()) as BlobStored;
}

async function errorOf(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  return errorFromBody(response.status, text);
}

function errorFromBody(status: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as Partial<ErrorBody>;
    if (typeof body.error === "string" && typeof body.message === "string") {
      // Codes this client does not know yet are shown with the node's own message.
      const rule = typeof body.rule === "string" ? body.rule : undefined;
      return new ApiError(status, body.error as ErrorCode, body.message, { rule });
    }
  } catch {
    // not JSON: fall through
  }
  return new ApiError(status, "unexpected", `The node answered ${status}${text ? `: ${text.slice(0, 200)}` : ""}.`);
}

/** PUT with XMLHttpRequest: fetch has no upload progress (streaming uploads need HTTP/2). */
function putBlob(target: string, body: Blob, { onProgress, signal }: BlobUploadOptions): Promise<BlobStored> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new ApiError(0, "aborted", "Cancelled."));
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", target);
    xhr.withCredentials = false; // same origin: cookies go anyway
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (event) => onProgress?.(event.loaded, event.lengthComputable ? event.total : body.size);
    const onAbort = () => xhr.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = () => signal?.removeEventListener("abort", onAbort);
    xhr.onload = () => {
      done();
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress?.(body.size, body.size);
        try {
          resolve(JSON.parse(xhr.responseText) as BlobStored);
        } catch (error) {
          reject(new ApiError(xhr.status, "unexpected", "The node's answer was not JSON.", { cause: error }));
        }
      } else {
        reject(errorFromBody(xhr.status, xhr.responseText));
      }
    };
    xhr.onerror = () => {
      done();
      reject(new ApiError(0, "network", "The upload was interrupted."));
    };
    xhr.onabort = () => {
      done();
      reject(new ApiError(0, "aborted", "Cancelled."));
    };
    xhr.send(body);
  });
}
