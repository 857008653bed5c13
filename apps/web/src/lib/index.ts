/**
 * The P2POS client library: identities, readable ids, signed records, age encryption, blob ids.
 *
 * No UI and no framework: everything here runs unchanged in a browser and in Node ≥ 20, which is
 * what lets the shared test vectors run in both. Byte formats: `docs/FORMATS.md`.
 */
export { Base64Error, decodeBase64, encodeBase64 } from "./base64.ts";
export { openBackup, sealBackup, type SealOptions } from "./backup.ts";
export { BlobHasher, blobId, blobIdOfStream } from "./blob.ts";
export {
  armorFile,
  CryptError,
  dearmor,
  decryptWithIdentities,
  decryptWithPassphrase,
  DEFAULT_LOG_N,
  encryptToRecipients,
  encryptWithPassphrase,
  isArmored,
  type AgeFile,
  type AgeIdentity,
  type CryptErrorKind,
  type PassphraseEncryptOptions,
  type ProgressCallback,
  type ScryptFunction,
  type ScryptOptions,
} from "./crypt.ts";
export { P2posError } from "./errors.ts";
export { bytesToStream, readAllBytes } from "./streams.ts";
export {
  backupFile,
  createIdentity,
  forgetIdentity,
  generateIdentityFile,
  importIdentity,
  loadIdentity,
  restoreIdentity,
  type CreateOptions,
  type IdentityKeys,
  type StoredIdentity,
} from "./identity.ts";
export {
  formatIdentityFile,
  IdentityFileError,
  identityFromSecrets,
  parseIdentityFile,
  recipientOf,
  type IdentityFile,
} from "./identityFile.ts";
export { MIN_PASSPHRASE_LENGTH, passphraseStrength, type Strength, type StrengthLevel } from "./passphrase.ts";
export {
  canonicalReadableId,
  encodeReadableId,
  IdError,
  idGroups,
  parseReadableId,
  type IdErrorKind,
} from "./readableId.ts";
export {
  RecordError,
  signRecord,
  verifyRecord,
  type RecordErrorKind,
  type RecordSigner,
  type SignedRecord,
  type VerifiedRecord,
} from "./records.ts";
