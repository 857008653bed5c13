/**
 * The vault's record bodies (`crates/family-vault/src/model.rs`) and builders that sign them.
 *
 * Bodies are serde's internally tagged JSON (`"type": "family"|…`), every one with `"v": 1`, the
 * family id and a hybrid logical clock. The node refuses unknown fields, so the builders emit
 * exactly the model's fields.
 */
import { decodeBase64 } from "./base64.ts";
import { utf8DecodeStrict } from "./bytes.ts";
import type { Hlc } from "./hlc.ts";
import { signRecord, type RecordSigner, type SignedRecord } from "./records.ts";

export const BODY_VERSION = 1;
/** Largest encrypted `meta`/`key` field the node accepts. */
export const MAX_META_BYTES = 8 * 1024;

export type Role = "admin" | "member";

interface Common {
  v: number;
  family: string;
  hlc: Hlc;
}

export interface FamilyBody extends Common {
  type: "family";
}
export interface MemberBody extends Common {
  type: "member";
  member: string;
  role: Role;
  recipient: string;
  removed: boolean;
}
export interface AlbumBody extends Common {
  type: "album";
  album: string;
  epoch: number;
  recipient: string;
  meta: string;
  deleted: boolean;
}
export interface GrantBody extends Common {
  type: "grant";
  album: string;
  member: string;
  epoch: number;
  key: string;
  revoked: boolean;
}
export interface PhotoBody extends Common {
  type: "photo";
  photo: string;
  album: string;
  epoch: number;
  blob: string;
  size: number;
  thumb: string | null;
  thumb_size: number | null;
  meta: string;
  deleted: boolean;
}

/** The family key's epoch and recipient, and the family's name sealed to it (admins). */
export interface FamilyMetaBody extends Common {
  type: "family_meta";
  epoch: number;
  recipient: string;
  meta: string;
}
/** The family key of `epoch` for `member`, armored age for their recipient (admins). */
export interface FamilyGrantBody extends Common {
  type: "family_grant";
  member: string;
  epoch: number;
  key: string;
  revoked: boolean;
}
/** A member's name (and avatar), sealed to the family key of `epoch`; signed by that member only. */
export interface ProfileBody extends Common {
  type: "profile";
  member: string;
  epoch: number;
  meta: string;
}

export type Body =
  FamilyBody | MemberBody | AlbumBody | GrantBody | PhotoBody | FamilyMetaBody | FamilyGrantBody | ProfileBody;

type Fields<B extends Body> = Omit<B, "type" | "v" | "family" | "hlc">;

const OBJECT_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

/** A fresh random object id: 26 characters of `a–z 2–7` (130 bits). */
export function newObjectId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(26));
  return Array.from(bytes, (byte) => OBJECT_ID_ALPHABET[byte & 31]).join("");
}

export function isObjectId(text: string): boolean {
  return /^[a-z2-7]{26}$/.test(text);
}

/** Everything a builder needs: who signs, the family, and a fresh timestamp. */
export interface RecordContext {
  signer: RecordSigner;
  family: string;
  hlc: () => Hlc;
}

async function sign(body: Body, signer: RecordSigner): Promise<SignedRecord> {
  return signRecord(body, signer);
}

function common(ctx: Pick<RecordContext, "family" | "hlc">): Common {
  return { v: BODY_VERSION, family: ctx.family, hlc: ctx.hlc() };
}

export function familyRecord(ctx: RecordContext): Promise<SignedRecord> {
  return sign({ type: "family", ...common(ctx) }, ctx.signer);
}

export function memberRecord(ctx: RecordContext, fields: Fields<MemberBody>): Promise<SignedRecord> {
  return sign({ type: "member", ...common(ctx), ...fields }, ctx.signer);
}

export async function albumRecord(ctx: RecordContext, fields: Fields<AlbumBody>): Promise<SignedRecord> {
  checkArmored(fields.meta, "album meta");
  return await sign({ type: "album", ...common(ctx), ...fields }, ctx.signer);
}

export async function grantRecord(ctx: RecordContext, fields: Fields<GrantBody>): Promise<SignedRecord> {
  // A revocation carries no key.
  if (!(fields.revoked && fields.key === "")) checkArmored(fields.key, "grant key");
  return await sign({ type: "grant", ...common(ctx), ...fields }, ctx.signer);
}

export async function photoRecord(ctx: RecordContext, fields: Fields<PhotoBody>): Promise<SignedRecord> {
  checkArmored(fields.meta, "photo meta");
  return await sign({ type: "photo", ...common(ctx), ...fields }, ctx.signer);
}

export async function familyMetaRecord(ctx: RecordContext, fields: Fields<FamilyMetaBody>): Promise<SignedRecord> {
  checkArmored(fields.meta, "family name");
  return await sign({ type: "family_meta", ...common(ctx), ...fields }, ctx.signer);
}

export async function familyGrantRecord(ctx: RecordContext, fields: Fields<FamilyGrantBody>): Promise<SignedRecord> {
  if (!(fields.revoked && fields.key === "")) checkArmored(fields.key, "family key grant");
  return await sign({ type: "family_grant", ...common(ctx), ...fields }, ctx.signer);
}

/** A profile is ours alone: the node refuses one whose `member` is not its signer. */
export async function profileRecord(
  ctx: RecordContext,
  fields: Omit<Fields<ProfileBody>, "member">,
): Promise<SignedRecord> {
  checkArmored(fields.meta, "profile");
  return await sign({ type: "profile", ...common(ctx), member: ctx.signer.id, ...fields }, ctx.signer);
}

/** The body of a record the node has already verified (it never hands out anything else). */
export function bodyOf(record: SignedRecord): Body {
  return parseBody(record).body;
}

/**
 * The body and the exact text it was parsed from: `JSON.parse` rounds integers above 2^53 (a u64
 * `wall_ms`), so whoever does arithmetic on a number checks it against the text (`hlc.ts`).
 */
export function parseBody(record: SignedRecord): { body: Body; text: string } {
  const text = utf8DecodeStrict(decodeBase64(record.body));
  return { body: JSON.parse(text) as Body, text };
}

function checkArmored(field: string, what: string): void {
  if (!field.startsWith("-----BEGIN AGE ENCRYPTED FILE-----")) {
    throw new TypeError(`the ${what} must be an armored age file`);
  }
  if (new TextEncoder().encode(field).length > MAX_META_BYTES) {
    throw new RangeError(`the ${what} is over ${MAX_META_BYTES} bytes`);
  }
}
