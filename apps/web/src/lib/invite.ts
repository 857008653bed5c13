/**
 * Invitations (`docs/FORMATS.md`, "Invitations"). An admin's browser makes a 32-byte secret and
 * puts it in the link's `#fragment`, which no server sees; the node learns only `id`, derived from
 * it. The invitee's browser derives the same keys and sends its identity, its age recipient, its
 * name sealed with `nameKey` (AES-256-GCM) and a MAC under `macKey` over all of it. Both screens
 * then show four words derived from the secret and the invitee's id and recipient: a node or hub
 * that swapped the keys cannot make them match (it does not know the secret), and the admin's
 * browser finds the MAC wrong besides.
 *
 * Keys: HKDF-SHA256 (no salt) of the secret, `info` `p2pos invite v1 <purpose>`.
 */
import { gcm } from "@noble/ciphers/aes.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { base64urlnopad } from "@scure/base";
import { wordlist } from "@scure/bip39/wordlists/english.js";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { bytesEqual, utf8DecodeStrict, utf8Encode } from "./bytes.ts";

export const SECRET_BYTES = 32;
/** How many verification words both screens show (11 bits each: 44 bits). */
export const WORD_COUNT = 4;
/** The fragment parameter of an invitation link: `…#invite=<secret>`. */
export const LINK_PARAM = "invite";

export interface Invitation {
  /** The secret: only in the link, never sent to a server. */
  secret: Uint8Array;
  /** What the node knows the invitation by: 16 bytes of HKDF, base64url. */
  id: string;
}

/** What the invitee's browser sends (`POST /v1/invites/{id}/join`), and the admin reads back. */
export interface JoinRequestFields {
  identity: string;
  recipient: string;
  sealed: string;
  mac: string;
}

function derive(secret: Uint8Array, purpose: string, length: number): Uint8Array {
  return hkdf(sha256, secret, undefined, utf8Encode(`p2pos invite v1 ${purpose}`), length);
}

export function invitationFromSecret(secret: Uint8Array): Invitation {
  if (secret.length !== SECRET_BYTES) throw new TypeError(`an invitation secret is ${SECRET_BYTES} bytes`);
  return { secret, id: base64urlnopad.encode(derive(secret, "id", 16)) };
}

export function newInvitation(): Invitation {
  return invitationFromSecret(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

/** The link for `base` (the page's address without its fragment). */
export function invitationLink(base: string, invitation: Invitation): string {
  return `${base}#${LINK_PARAM}=${base64urlnopad.encode(invitation.secret)}`;
}

/** The invitation in a link's fragment (`#invite=…`), or undefined when it has none. */
export function invitationFromHash(hash: string): Invitation | undefined {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const text = params.get(LINK_PARAM);
  if (text === null) return undefined;
  try {
    return invitationFromSecret(base64urlnopad.decode(text.trim()));
  } catch {
    return undefined;
  }
}

/** The exact bytes the MAC and the words cover. */
function transcript(invitation: Invitation, identity: string, recipient: string): Uint8Array {
  return utf8Encode(`p2pos invite v1\n${invitation.id}\n${identity}\n${recipient}\n`);
}

/** The invitee's name sealed for the admin: base64 of a 12-byte nonce and the AES-GCM ciphertext. */
export function sealName(invitation: Invitation, name: string, nonce = crypto.getRandomValues(new Uint8Array(12))) {
  const sealed = gcm(derive(invitation.secret, "name", 32), nonce).encrypt(utf8Encode(JSON.stringify({ name })));
  const out = new Uint8Array(nonce.length + sealed.length);
  out.set(nonce);
  out.set(sealed, nonce.length);
  return encodeBase64(out);
}

/** The name out of `sealed`; throws when it was not sealed with this invitation. */
export function openName(invitation: Invitation, sealed: string): string {
  const bytes = decodeBase64(sealed);
  const plain = gcm(derive(invitation.secret, "name", 32), bytes.subarray(0, 12)).decrypt(bytes.subarray(12));
  const value = JSON.parse(utf8DecodeStrict(plain)) as { name?: unknown };
  if (typeof value.name !== "string") throw new TypeError("the sealed name has no name");
  return value.name;
}

/** HMAC-SHA256 under the invitation's MAC key over the transcript and the sealed name, base64. */
export function joinMac(invitation: Invitation, identity: string, recipient: string, sealed: string): string {
  const message = new Uint8Array([...transcript(invitation, identity, recipient), ...utf8Encode(sealed)]);
  return encodeBase64(hmac(sha256, derive(invitation.secret, "mac", 32), message));
}

/** The invitee's request, ready to send. */
export function joinRequest(
  invitation: Invitation,
  who: { id: string; recipient: string },
  name: string,
): JoinRequestFields {
  const sealed = sealName(invitation, name);
  return {
    identity: who.id,
    recipient: who.recipient,
    sealed,
    mac: joinMac(invitation, who.id, who.recipient, sealed),
  };
}

/** Whether a request the node hands back is the one made with this invitation, unchanged. */
export function verifyJoin(invitation: Invitation, request: JoinRequestFields): boolean {
  try {
    const expected = decodeBase64(joinMac(invitation, request.identity, request.recipient, request.sealed));
    return bytesEqual(expected, decodeBase64(request.mac));
  } catch {
    return false;
  }
}

/**
 * The verification words for this invitation and the invitee's keys: HMAC-SHA256 under the words
 * key over the transcript, its first 44 bits as four 11-bit indexes into the BIP-39 English list.
 */
export function verificationWords(invitation: Invitation, identity: string, recipient: string): string[] {
  const digest = hmac(sha256, derive(invitation.secret, "words", 32), transcript(invitation, identity, recipient));
  const words: string[] = [];
  for (let i = 0; i < WORD_COUNT; i++) {
    let index = 0;
    for (let bit = i * 11; bit < (i + 1) * 11; bit++) {
      index = (index << 1) | (((digest[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1);
    }
    words.push(wordlist[index] ?? "");
  }
  return words;
}

const PENDING_KEY = "p2pos-invitation";
const PENDING_NAME_KEY = "p2pos-join-name";

/**
 * The invitation this tab was opened with: from the link's fragment (kept for the tab's session,
 * so creating an identity or a reload does not lose it), or undefined.
 */
export function pendingInvitation(): Invitation | undefined {
  const fromLink = invitationFromHash(location.hash);
  if (fromLink) {
    sessionStorage.setItem(PENDING_KEY, base64urlnopad.encode(fromLink.secret));
    return fromLink;
  }
  const kept = sessionStorage.getItem(PENDING_KEY);
  return kept === null ? undefined : invitationFromHash(`#${LINK_PARAM}=${kept}`);
}

/** The name typed when asking to join, until our profile is written with it. */
export function pendingName(): string | undefined {
  return sessionStorage.getItem(PENDING_NAME_KEY) ?? undefined;
}

export function keepPendingName(name: string): void {
  sessionStorage.setItem(PENDING_NAME_KEY, name);
}

/** The invitation is used up (we are a member): forget it, and the link's fragment. */
export function forgetInvitation(): void {
  sessionStorage.removeItem(PENDING_KEY);
  if (invitationFromHash(location.hash)) history.replaceState(null, "", `${location.pathname}${location.search}#/`);
}

export function forgetPendingName(): void {
  sessionStorage.removeItem(PENDING_NAME_KEY);
}
