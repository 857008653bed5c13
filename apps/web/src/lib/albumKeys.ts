/**
 * Album keys. Each album (epoch) has its own age X25519 identity: the album record carries its
 * recipient, so anyone with the album key can read and add photos, and the node only ever sees
 * ciphertext. A grant carries the album identity as an armored age file encrypted to one member's
 * recipient; the member's browser opens it with its non-extractable X25519 key, and the album
 * identity is imported as a non-extractable `CryptoKey` in turn.
 */
import type { AlbumKey } from "./apiTypes.ts";
import { utf8DecodeStrict, utf8Encode, wipe } from "./bytes.ts";
import { armorFile, CryptError, decryptWithIdentities, encryptToRecipients, type AgeIdentity } from "./crypt.ts";
import { ageSecretKeyBytes, recipientOf } from "./identityFile.ts";
import { generateAgeSecretKey, importAgeKey } from "./keys.ts";

/** A fresh album key. `secret` is the `AGE-SECRET-KEY-1…` text: seal it into grants, then drop it. */
export interface NewAlbumKey {
  secret: string;
  recipient: string;
}

export async function newAlbumKey(): Promise<NewAlbumKey> {
  const secret = await generateAgeSecretKey();
  return { secret, recipient: recipientOf(secret) };
}

/** The `key` field of a grant: the album identity, armored age, for `memberRecipient`. */
export async function sealAlbumKey(albumSecret: string, memberRecipient: string): Promise<string> {
  return armorFile(await encryptToRecipients(utf8Encode(`${albumSecret}\n`), [memberRecipient]));
}

/** The album identity text out of a grant's `key`, opened with the member's age key. Secret. */
export async function openAlbumKeySecret(sealed: string, memberKey: AgeIdentity): Promise<string> {
  const text = utf8DecodeStrict(await decryptWithIdentities(sealed, [memberKey])).trim();
  if (!text.startsWith("AGE-SECRET-KEY-1")) throw new CryptError("corrupt", "This grant does not hold an album key.");
  return text;
}

/** A grant's album identity as a non-extractable X25519 key (what the page keeps). */
export async function openAlbumKey(sealed: string, memberKey: AgeIdentity): Promise<CryptoKey> {
  const scalar = ageSecretKeyBytes(await openAlbumKeySecret(sealed, memberKey));
  try {
    return await importAgeKey(scalar);
  } finally {
    wipe(scalar);
  }
}

/** Every album key the node gave us, by epoch. Keys that fail to open are skipped. */
export async function openAlbumKeys(
  keys: readonly AlbumKey[],
  memberKey: AgeIdentity,
): Promise<Map<number, CryptoKey>> {
  const opened = new Map<number, CryptoKey>();
  for (const { epoch, key } of keys) {
    try {
      opened.set(epoch, await openAlbumKey(key, memberKey));
    } catch {
      // A grant sealed to an older recipient of ours: nothing to open.
    }
  }
  return opened;
}

/** Encrypt small JSON (titles, file names) to the album recipient as an armored age file. */
export async function sealMeta(value: unknown, albumRecipient: string): Promise<string> {
  return armorFile(await encryptToRecipients(utf8Encode(JSON.stringify(value)), [albumRecipient]));
}

/** Open a `meta` field with album keys. */
export async function openMeta<T>(meta: string, albumKeys: readonly AgeIdentity[]): Promise<T> {
  return JSON.parse(utf8DecodeStrict(await decryptWithIdentities(meta, albumKeys))) as T;
}

export interface AlbumMeta {
  title: string;
  created_ms?: number;
  /** The photo an admin chose as the album's cover (else the newest photo's thumbnail). */
  cover?: string;
}
