/**
 * The typed client for the node API (`docs/API.md`). Routes, parameters, bodies and answers come
 * from the OpenAPI document (`docs/openapi.json` → `apiSchema.ts`) through openapi-fetch, so a call
 * that drifts from the node fails `tsc`. Same-origin: the session is an HttpOnly cookie the browser
 * sends by itself. Every failure is an `ApiError` carrying the node's status, error code and
 * message (or `network` / `aborted` when no answer arrived). Requests go over an `ApiTransport`:
 * the browser's `fetch`, or a data channel to the node (`nodeChannel.ts`).
 */
import createClient from "openapi-fetch";
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
  PhotoPage,
  ReplicationChanges,
  ReplicationStatus,
  SetupRequest,
  TrashView,
  VerifyRequest,
} from "./apiTypes.ts";
import type { paths } from "./apiSchema.ts";
import { P2posError } from "./errors.ts";
import type { SignedRecord } from "./records.ts";
import type { InviteView } from "./apiTypes.ts";
import type { JoinRequestFields } from "./invite.ts";

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

/** Which page: after `cursor` (a page's `next`; absent: the first), `limit` photos (node default 100). */
export interface PageRequest {
  cursor?: string | undefined;
  limit?: number | undefined;
}

export interface ChangesRequest {
  album?: string | undefined;
  since?: string | undefined;
  through?: string | undefined;
}

export interface ApiClient {
  health(): Promise<Health>;
  setup(request: SetupRequest): Promise<Accepted[]>;
  challenge(identity: string): Promise<ChallengeResponse>;
  verify(request: VerifyRequest): Promise<Me>;
  me(): Promise<Me>;
  logout(): Promise<void>;
  postRecord(record: SignedRecord): Promise<Accepted>;
  /** `photos: false` leaves photo records out (they come a page at a time). */
  records(since?: number, limit?: number, options?: { photos?: boolean }): Promise<LogEntry[]>;
  members(): Promise<MemberView[]>;
  albums(): Promise<AlbumView[]>;
  album(id: string): Promise<AlbumDetail>;
  /** Deleted photos and albums you may see, while they can be restored (30 days). */
  trash(): Promise<TrashView>;
  /** An album's photos, a page at a time, newest first (members it is shared with). */
  albumPhotos(id: string, page?: PageRequest): Promise<PhotoPage>;
  /** Every photo of every album shared with you, a page at a time, newest first. */
  timeline(page?: PageRequest): Promise<PhotoPage>;
  putBlob(id: string, body: Blob, options?: BlobUploadOptions): Promise<BlobStored>;
  getBlob(id: string, signal?: AbortSignal): Promise<Blob>;
  /** Where the family's photos are stored, and how this node's peers are doing (members). */
  /** `album`: only that album's photos; `photos: false`: peers only. */
  replicationStatus(options?: { album?: string; photos?: boolean }): Promise<ReplicationStatus>;
  /**
   * What changed since `since` (absent: only the cursor to start from) in the photos of `album`
   * (absent: every album shared with you), at or before the listing position `through`.
   */
  replicationChanges(options?: ChangesRequest): Promise<ReplicationChanges>;
  /** This node, its hub and its enrolled peers (members). */
  nodes(): Promise<Nodes>;
  /** Issue a one-time token another node uses to join (admins). */
  enroll(): Promise<EnrollToken>;
  /** Complete an enrollment with the node that issued `token` (admins). */
  addPeer(token: string): Promise<PeerInfo>;
  /** Stop replicating with a peer (admins). */
  removePeer(node: string): Promise<void>;
  // Invitations (issue 15, `lib/invite.ts`).
  /** Open an invitation known by `id` (admins). */
  openInvite(id: string, ttlSecs?: number): Promise<InviteView>;
  /** The open invitations and their join requests (admins). */
  invites(): Promise<InviteView[]>;
  /** Cancel an invitation, or close it once approved (admins). */
  closeInvite(id: string): Promise<void>;
  /** Ask to join with an invitation (anyone with its link). */
  join(id: string, request: JoinRequestFields): Promise<void>;
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

/**
 * Where the typed client builds its requests before `requestOver` hands them to the transport as
 * `base` + path: a `Request` needs an absolute URL, and a same-origin client (`base` "") has none
 * in Node or behind a data channel, whose `fetch` takes `/v1/...` paths.
 */
const REQUEST_ORIGIN = "http://node.invalid";

/** The upload route, which goes through XMLHttpRequest or `ApiTransport.upload`, not the typed client. */
const BLOB_PATH = "/v1/blobs/{id}" satisfies keyof paths;
type BlobStoredAnswer = paths[typeof BLOB_PATH]["put"]["responses"][201]["content"]["application/json"];

/** The client for the node at `base` (default: this page's origin), over `transport`. */
export function createApi(base = "", transport: ApiTransport = HTTP): ApiClient {
  const root = base.endsWith("/") ? base.slice(0, -1) : base;
  // Routes, parameters, bodies and answers are checked against `apiSchema.ts` by `tsc`: a call that
  // drifts from `docs/openapi.json` does not compile.
  const client = createClient<paths>({
    baseUrl: REQUEST_ORIGIN,
    headers: { Accept: "application/json" },
    fetch: (request) => requestOver(transport, root, request),
  });
  const blobUrl = (id: string) => `${root}${BLOB_PATH.replace("{id}", encodeURIComponent(id))}`;

  return {
    health: async () => answer(await client.GET("/v1/health")),
    setup: async (request) => answer(await client.POST("/v1/setup", { body: request })),
    challenge: async (identity) => answer(await client.POST("/v1/auth/challenge", { body: { identity } })),
    verify: async (request) => answer(await client.POST("/v1/auth/verify", { body: request })),
    me: async () => answer(await client.GET("/v1/auth/me")),
    logout: async () => done(await client.POST("/v1/auth/logout")),
    postRecord: async (record) => answer(await client.POST("/v1/records", { body: record })),
    records: async (since = 0, limit = 1000, options = {}) =>
      answer(
        await client.GET("/v1/records", {
          params: { query: options.photos === false ? { since, limit, photos: false } : { since, limit } },
        }),
      ),
    members: async () => answer(await client.GET("/v1/members")),
    albums: async () => answer(await client.GET("/v1/albums")),
    album: async (id) => answer(await client.GET("/v1/albums/{id}", { params: { path: { id } } })),
    trash: async () => answer(await client.GET("/v1/trash")),
    albumPhotos: async (id, page = {}) =>
      answer(await client.GET("/v1/albums/{id}/photos", { params: { path: { id }, query: pageQuery(page) } })),
    timeline: async (page = {}) => answer(await client.GET("/v1/photos", { params: { query: pageQuery(page) } })),
    replicationChanges: async (options = {}) => {
      const query: { album?: string; since?: string; through?: string } = {};
      if (options.album !== undefined) query.album = options.album;
      if (options.since !== undefined) query.since = options.since;
      if (options.through !== undefined) query.through = options.through;
      return answer(await client.GET("/v1/replication/changes", { params: { query } }));
    },
    replicationStatus: async (options = {}) => {
      const query: { album?: string; photos?: boolean } = {};
      if (options.album !== undefined) query.album = options.album;
      if (options.photos === false) query.photos = false;
      return answer(await client.GET("/v1/replication/status", { params: { query } }));
    },
    nodes: async () => answer(await client.GET("/v1/nodes")),
    enroll: async () => answer(await client.POST("/v1/enroll")),
    addPeer: async (token) => answer(await client.POST("/v1/nodes/peers", { body: { token } })),
    removePeer: async (node) => done(await client.DELETE("/v1/nodes/peers/{id}", { params: { path: { id: node } } })),
    // Invitations (issue 15).
    openInvite: async (id, ttlSecs) =>
      answer(await client.POST("/v1/invites", { body: ttlSecs === undefined ? { id } : { id, ttl_secs: ttlSecs } })),
    invites: async () => answer(await client.GET("/v1/invites")),
    closeInvite: async (id) => done(await client.DELETE("/v1/invites/{id}", { params: { path: { id } } })),
    join: async (id, request) => {
      answer(await client.POST("/v1/invites/{id}/join", { params: { path: { id } }, body: request }));
    },
    putBlob: (id, body, options = {}) =>
      transport.upload ? uploadWith(transport.upload, blobUrl(id), body, options) : putBlob(blobUrl(id), body, options),
    async getBlob(id, signal) {
      const result = await client.GET("/v1/blobs/{id}", {
        params: { path: { id } },
        parseAs: "blob",
        // A blob is not JSON: send no Accept header, as a plain `fetch` would.
        headers: { Accept: null },
        ...(signal ? { signal } : {}),
      });
      if (!result.response.ok) throw errorOf(result.response.status, result.error);
      // An empty blob arrives with `Content-Length: 0`, which openapi-fetch reads as no body.
      return result.data ?? new Blob([]);
    },
  };
}

/**
 * What openapi-fetch's `fetch` does here: the built `Request` goes to the transport as the same
 * request the client always sent (`base` + path, same-origin credentials, its headers and JSON
 * body), and a failure to get any answer becomes an `ApiError` (`network`, or `aborted` when the
 * caller's signal fired).
 */
function pageQuery(page: PageRequest): { cursor?: string; limit?: number } {
  const query: { cursor?: string; limit?: number } = {};
  if (page.cursor !== undefined) query.cursor = page.cursor;
  if (page.limit !== undefined) query.limit = page.limit;
  return query;
}

async function requestOver(transport: ApiTransport, root: string, request: Request): Promise<Response> {
  const target = new URL(request.url);
  const init: RequestInit = {
    method: request.method,
    credentials: "same-origin",
    headers: Object.fromEntries(request.headers),
    signal: request.signal,
  };
  if (request.body !== null) init.body = await request.text();
  try {
    return await transport.fetch(`${root}${target.pathname}${target.search}`, init);
  } catch (error) {
    if (error instanceof ApiError) throw error;
    if (request.signal.aborted) throw new ApiError(0, "aborted", "Cancelled.", { cause: error });
    throw new ApiError(0, "network", "The node could not be reached.", { cause: error });
  }
}

/** The answer's JSON body, or the node's error as an `ApiError`. */
function answer<T>(result: { data?: T; error?: unknown; response: Response }): T {
  const { data, error, response } = result;
  if (!response.ok) throw errorOf(response.status, error);
  if (data === undefined) throw new ApiError(response.status, "unexpected", "The node's answer was empty.");
  return data;
}

/** For routes that answer 204 No Content: nothing, or the node's error as an `ApiError`. */
function done(result: { error?: unknown; response: Response }): void {
  if (!result.response.ok) throw errorOf(result.response.status, result.error);
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
  if (!response.ok) throw errorOf(response.status, parseBody(await response.text().catch(() => "")));
  options.onProgress?.(body.size, body.size);
  return (await response.json()) as BlobStoredAnswer;
}

/** A body as openapi-fetch hands over a failure's: parsed JSON when it is JSON, else the text. */
function parseBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * The node's error body (`ErrorBody`: `{ error, message, rule? }`) as an `ApiError`; anything else
 * (a proxy's HTML, an empty body) as `unexpected` with the status and the start of the text.
 */
function errorOf(status: number, body: unknown): ApiError {
  if (isErrorBody(body)) {
    // Codes this client does not know yet are shown with the node's own message.
    const rule = typeof body.rule === "string" ? body.rule : undefined;
    return new ApiError(status, body.error as ErrorCode, body.message, { rule });
  }
  const text = typeof body === "string" ? body : body === undefined ? "" : JSON.stringify(body);
  return new ApiError(status, "unexpected", `The node answered ${status}${text ? `: ${text.slice(0, 200)}` : ""}.`);
}

function isErrorBody(body: unknown): body is { error: string; message: string; rule?: unknown } {
  if (typeof body !== "object" || body === null) return false;
  const fields = body as Partial<Record<keyof ErrorBody, unknown>>;
  return typeof fields.error === "string" && typeof fields.message === "string";
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
          resolve(JSON.parse(xhr.responseText) as BlobStoredAnswer);
        } catch (error) {
          reject(new ApiError(xhr.status, "unexpected", "The node's answer was not JSON.", { cause: error }));
        }
      } else {
        reject(errorOf(xhr.status, parseBody(xhr.responseText)));
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
