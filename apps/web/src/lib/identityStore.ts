/**
 * Where this browser keeps its identity: one IndexedDB record.
 *
 * IndexedDB stores `CryptoKey`s by structured clone, so non-extractable keys survive reloads while
 * their secret bytes stay inside the browser's crypto implementation.
 */
import { createStore, del, get, set, type UseStore } from "idb-keyval";

/** The identity as this browser stores it. No raw secret: only non-extractable keys and the backup. */
export interface StoredIdentity {
  /** Readable id (Ed25519 public key). */
  id: string;
  publicKey: Uint8Array;
  /** age recipient, `age1…`. */
  recipient: string;
  /** Ed25519 private key, non-extractable, usage "sign". */
  signingKey: CryptoKey;
  /** X25519 age identity, non-extractable, usage "deriveBits". */
  ageKey: CryptoKey;
  /** The passphrase-protected identity file (armored age), offered as the backup download. */
  backup: string;
  /** A name the person gave this identity on this browser (not part of the identity file). */
  name?: string;
  /** When this browser created or restored the identity (ms since the epoch). */
  createdAt: number;
  /** When the person last downloaded the backup here (ms since the epoch); absent: never. */
  backupDownloadedAt?: number;
  /**
   * When the backup was shown to work (ms since the epoch): the person chose the saved file and it
   * opened with their passphrase, or the identity was restored from it. Absent: not yet.
   */
  backupConfirmedAt?: number;
}

const KEY = "current";
let store: UseStore | undefined;

function identityStore(): UseStore {
  store ??= createStore("p2pos", "identity");
  return store;
}

export async function readStoredIdentity(): Promise<StoredIdentity | undefined> {
  return get<StoredIdentity>(KEY, identityStore());
}

export async function writeStoredIdentity(identity: StoredIdentity): Promise<void> {
  await set(KEY, identity, identityStore());
}

export async function deleteStoredIdentity(): Promise<void> {
  await del(KEY, identityStore());
}
