/**
 * The library inside a real browser, for the e2e tests (e2e/*.test.mjs) and for poking at by hand.
 *
 * Everything crosses page.evaluate as JSON, so bytes travel as base64.
 */
import { decodeBase64, encodeBase64 } from "../src/lib/base64.ts";
import { openBackup } from "../src/lib/backup.ts";
import { blobId } from "../src/lib/blob.ts";
import { decryptWithIdentities, encryptToRecipients } from "../src/lib/crypt.ts";
import { generateIdentityFile, importIdentity } from "../src/lib/identity.ts";
import { signRecord, verifyRecord, type SignedRecord } from "../src/lib/records.ts";
import { chunked, readAll } from "../src/vectors/checks.ts";
import { runAllVectors, type VectorReport } from "../src/vectors/suites.ts";
import { runKit, type KitReport } from "../src/vectors/ageTestkit.ts";
import { CHUNK, chunkCipher, javascriptCipher, type ChunkCipher } from "../src/lib/ageStream.ts";

/** The C2SP age test kit's files, emitted as assets and fetched when the kit runs. */
const AGE_KIT = import.meta.glob<string>(
  ["../../../testvectors/age-testkit/*", "!../../../testvectors/age-testkit/README.md"],
  { query: "?url", import: "default", eager: true },
);

/** MB/s (10^6 B/s) of sealing and opening `mib` MiB in age's 64 KiB chunks, best of `runs`. */
function chunkSpeed(cipher: ChunkCipher, mib: number, runs: number): { seal: number; open: number } {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const nonce = new Uint8Array(12);
  const plain = crypto.getRandomValues(new Uint8Array(CHUNK));
  const chunks = mib * 16;
  const sealed = cipher.seal(key, nonce, plain);
  const best = (work: () => void) => {
    let fastest = Infinity;
    for (let run = 0; run < runs; run++) {
      const started = performance.now();
      work();
      fastest = Math.min(fastest, performance.now() - started);
    }
    return Math.round((chunks * CHUNK) / (fastest / 1000) / 1e6);
  };
  return {
    seal: best(() => {
      for (let i = 0; i < chunks; i++) cipher.seal(key, nonce, plain);
    }),
    open: best(() => {
      for (let i = 0; i < chunks; i++) cipher.open(key, nonce, sealed);
    }),
  };
}

const harness = {
  /** Every case of testvectors/*.json plus tampered copies; see src/vectors/suites.ts. */
  runVectors(): Promise<VectorReport> {
    return runAllVectors();
  },

  /** The C2SP age test kit through our age helpers, as in Node (src/vectors/ageTestkit.ts). */
  async runAgeTestkit(): Promise<KitReport> {
    const entries = Object.entries(AGE_KIT).sort(([a], [b]) => (a < b ? -1 : 1));
    const files = await Promise.all(
      entries.map(async ([path, url]) => ({
        name: path.slice(path.lastIndexOf("/") + 1),
        bytes: new Uint8Array(await (await fetch(url)).arrayBuffer()),
      })),
    );
    return runKit(files, (await chunkCipher()).kind);
  },

  /** age STREAM chunks in this thread: the WebAssembly cipher and @noble/ciphers, MB/s. */
  async chunkCipherSpeed(mib = 64, runs = 3): Promise<Record<string, { seal: number; open: number }>> {
    const wasm = await chunkCipher();
    return {
      [wasm.kind]: chunkSpeed(wasm, mib, runs),
      js: chunkSpeed(javascriptCipher(), mib, runs),
    };
  },

  /** Sign `body` with a fresh identity whose keys exist only as non-extractable CryptoKeys. */
  async signWithNewIdentity(body: unknown): Promise<{ record: SignedRecord; id: string; extractable: boolean[] }> {
    const keys = await importIdentity(await generateIdentityFile());
    const record = await signRecord(body, keys);
    return { record, id: keys.id, extractable: [keys.signingKey.extractable, keys.ageKey.extractable] };
  },

  /** Verify a record in the browser; the signer id, or the error kind. */
  async verify(record: unknown): Promise<{ signer: string } | { error: string }> {
    try {
      return { signer: (await verifyRecord(record)).signer };
    } catch (error) {
      return { error: (error as { kind?: string }).kind ?? String(error) };
    }
  },

  /** Encrypt bytes to age recipients through the streaming path (64 KiB pieces); binary age out. */
  async encryptToRecipients(plaintextBase64: string, recipients: string[]): Promise<{ file: string; blobId: string }> {
    const plaintext = decodeBase64(plaintextBase64);
    const file = await readAll(await encryptToRecipients(chunked(plaintext, 64 * 1024), recipients));
    return { file: encodeBase64(file), blobId: await blobId(file) };
  },

  /** Decrypt an age file with identities (AGE-SECRET-KEY-1… strings). */
  async decrypt(fileBase64: string, identities: string[]): Promise<string> {
    return encodeBase64(await decryptWithIdentities(decodeBase64(fileBase64), identities));
  },

  /** Open a passphrase-protected identity file without storing it. */
  async openBackup(text: string, passphrase: string): Promise<{ id: string; recipient: string }> {
    const { identity } = await openBackup(text, passphrase);
    return { id: identity.id, recipient: identity.recipient };
  },
};

declare global {
  interface Window {
    p2posHarness: typeof harness;
  }
}

window.p2posHarness = harness;
const status = document.getElementById("status");
if (status) status.textContent = "ready";
