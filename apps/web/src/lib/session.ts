/**
 * Signing in to a node with the identity kept in this browser: ask for a challenge, sign
 * `p2pos-login-v1|<origin>|<nonce>|<expires_ms>` with the non-extractable Ed25519 key, send it
 * back. The node answers with an HttpOnly session cookie the browser keeps by itself.
 */
import { ApiError, type ApiClient } from "./api.ts";
import type { Me } from "./apiTypes.ts";
import { encodeBase64 } from "./base64.ts";
import { utf8Encode } from "./bytes.ts";
import type { RecordSigner } from "./records.ts";

/** The exact bytes signed to log in (`crates/p2pos-node/src/auth.rs`, `login_message`). */
export function loginMessage(origin: string, nonce: string, expiresMs: number): string {
  return `p2pos-login-v1|${origin}|${nonce}|${expiresMs}`;
}

export async function signIn(api: ApiClient, signer: RecordSigner, origin: string = location.origin): Promise<Me> {
  const { nonce, expires_ms } = await api.challenge(signer.id);
  const message = utf8Encode(loginMessage(origin, nonce, expires_ms));
  const sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, signer.signingKey, message));
  return api.verify({ identity: signer.id, nonce, sig: encodeBase64(sig) });
}

/** The current session if it belongs to `identity`, else a fresh sign-in. */
export async function ensureSignedIn(api: ApiClient, signer: RecordSigner): Promise<Me> {
  try {
    const me = await api.me();
    if (me.identity === signer.id) return me;
  } catch (error) {
    // Refused already (by `withAutoSignIn`): asking again would be refused again.
    if (isNotAMember(error)) throw error;
    // no session (401) or it expired: sign in
  }
  return signIn(api, signer);
}

/** Whether the node refused this identity as not a member of its family (or has no family yet). */
export function isNotAMember(error: unknown): boolean {
  return error instanceof ApiError && error.code === "not_a_member";
}

/**
 * The same client, but a request refused with 401 (the session expired or was signed out
 * elsewhere) signs in again once and is retried, so a long upload session survives a node restart
 * or a session's end.
 *
 * A sign-in the node refuses because we are not a member (`not_a_member`: removed, not added yet,
 * or no family yet) is not tried again by itself: later 401s get that refusal at once, until a
 * sign-in made on purpose (`signIn` with this client, "check again") succeeds.
 */
export function withAutoSignIn(api: ApiClient, signer: RecordSigner, origin?: string): ApiClient {
  let signingIn: Promise<unknown> | undefined;
  let refused: ApiError | undefined;
  const again = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      if (refused) throw refused;
      signingIn ??= signIn(api, signer, origin)
        .catch((failure: unknown) => {
          if (isNotAMember(failure)) refused = failure as ApiError;
          throw failure;
        })
        .finally(() => (signingIn = undefined));
      await signingIn;
      return call();
    }
  };
  return {
    ...api,
    verify: async (request) => {
      try {
        const me = await api.verify(request);
        refused = undefined;
        return me;
      } catch (error) {
        if (isNotAMember(error)) refused = error as ApiError;
        throw error;
      }
    },
    me: () => again(() => api.me()),
    postRecord: (record) => again(() => api.postRecord(record)),
    records: (since, limit, options) => again(() => api.records(since, limit, options)),
    members: () => again(() => api.members()),
    albums: () => again(() => api.albums()),
    album: (id) => again(() => api.album(id)),
    albumPhotos: (id, page) => again(() => api.albumPhotos(id, page)),
    timeline: (page) => again(() => api.timeline(page)),
    putBlob: (id, body, options) => again(() => api.putBlob(id, body, options)),
    getBlob: (id, signal) => again(() => api.getBlob(id, signal)),
    replicationStatus: (options) => again(() => api.replicationStatus(options)),
    replicationChanges: (options) => again(() => api.replicationChanges(options)),
    nodes: () => again(() => api.nodes()),
    enroll: () => again(() => api.enroll()),
    addPeer: (token) => again(() => api.addPeer(token)),
    removePeer: (node) => again(() => api.removePeer(node)),
  };
}
