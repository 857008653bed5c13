/**
 * Identity backups: the identity file encrypted with a passphrase, as an armored age scrypt file.
 *
 * This is the same format `p2pos id new` writes to disk, so a backup downloaded from the browser
 * opens with the CLI (and with `age -d`), and a CLI identity file restores in the browser.
 */
import { utf8DecodeStrict } from "./bytes.ts";
import {
  decryptWithPassphrase,
  encryptWithPassphrase,
  type PassphraseEncryptOptions,
  type ScryptOptions,
} from "./crypt.ts";
import { formatIdentityFile, IdentityFileError, parseIdentityFile, type IdentityFile } from "./identityFile.ts";

/** scrypt work factor (`logN`, 18 unless a test needs speed), progress and where scrypt runs. */
export type SealOptions = PassphraseEncryptOptions;

/** Encrypt an identity file with a passphrase into armored backup text. */
export async function sealBackup(
  identity: IdentityFile,
  passphrase: string,
  options: SealOptions = {},
): Promise<string> {
  return encryptWithPassphrase(formatIdentityFile(identity), passphrase, options);
}

/**
 * Decrypt and parse a backup. Throws `CryptError` ("passphrase": wrong passphrase; "corrupt": not
 * an age passphrase file or damaged) or `IdentityFileError` (decrypts, but is no identity file).
 */
export async function openBackup(
  backup: Uint8Array | string,
  passphrase: string,
  options: ScryptOptions = {},
): Promise<{ identity: IdentityFile; text: string }> {
  const plaintext = await decryptWithPassphrase(backup, passphrase, options);
  let text: string;
  try {
    text = utf8DecodeStrict(plaintext);
  } catch (error) {
    throw new IdentityFileError("The backup does not contain text.", { cause: error });
  }
  return { identity: parseIdentityFile(text), text };
}
