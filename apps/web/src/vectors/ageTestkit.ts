/**
 * The upstream C2SP age test kit (`testvectors/age-testkit/`, see its README) against our age
 * helpers (`crypt.ts`: typage's header, our STREAM payload in WebAssembly, our scrypt stanza). Every
 * case must decrypt to the kit's plaintext, or fail with the `CryptError` kind matching the kit's
 * expectation, with the file given as bytes and as a stream; on a payload failure the stream must
 * have released the kit's authenticated prefix (our reader, like typage's, sometimes holds back one
 * chunk more: see KNOWN_DEVIATIONS). Run in Node (`src/lib/ageTestkit.test.ts`) and in Chromium
 * (`e2e/vectors.test.mjs`, through the harness); the Rust side runs the same kit
 * (`crates/p2pos-core/tests/age_testkit.rs`).
 */
import { generateX25519Identity } from "age-encryption";
import { concatBytes, toHex, utf8DecodeStrict } from "../lib/bytes.ts";
import { CryptError, decryptWithIdentities, decryptWithPassphrase, type CryptErrorKind } from "../lib/crypt.ts";
import { scryptInThisThread, type ScryptFunction } from "../lib/scryptStanza.ts";
import { readAllBytes } from "../lib/streams.ts";
import { chunked } from "./checks.ts";

export type Outcome = "success" | CryptErrorKind;

interface Deviation {
  /** Our outcome, where it differs from the kit's. */
  outcome?: Outcome;
  /** What the stream released before a payload failure, where it differs from the kit's prefix. */
  released?: { bytes: number; sha256: string };
  reason: string;
}

const NOTHING = { bytes: 0, sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" };
const FIRST_CHUNK = { bytes: 65_536, sha256: "a68cb6fa0b2e2a8d1abd54fcb26ff31fe16166ed38688bffa681e617813b781a" };
const TYPAGE_HOLDS_BACK =
  "our STREAM reader (as typage's) authenticates a full 64 KiB chunk only as final at EOF and only as non-final before more " +
  "data, so it releases one authenticated chunk less than the kit's reference before the failure";

/**
 * Where typage or our wrapper knowingly differs from the kit: what we observe instead, and why.
 * Every entry is asserted, so the table fails as soon as it stops being true. All outcomes but one
 * match the kit; the rest is typage releasing less plaintext before an error than it could.
 */
export const KNOWN_DEVIATIONS: Readonly<Record<string, Deviation>> = {
  scrypt_uppercase: {
    outcome: "corrupt",
    reason:
      '"Scrypt" is no scrypt stanza, so the file has no passphrase at all: we say so (corrupt) rather ' +
      "than ask to re-type the passphrase (crypt.test.ts: a wrong passphrase vs a file that has none)",
  },
  armor_garbage_encoded: { released: NOTHING, reason: TYPAGE_HOLDS_BACK },
  stream_no_final_full: { released: NOTHING, reason: TYPAGE_HOLDS_BACK },
  stream_no_final_two_chunks_full: { released: FIRST_CHUNK, reason: TYPAGE_HOLDS_BACK },
  stream_trailing_garbage_long: { released: NOTHING, reason: TYPAGE_HOLDS_BACK },
  stream_trailing_garbage_short: { released: NOTHING, reason: TYPAGE_HOLDS_BACK },
  stream_two_final_chunks: { released: NOTHING, reason: TYPAGE_HOLDS_BACK },
  stream_two_final_chunks_full: { released: NOTHING, reason: TYPAGE_HOLDS_BACK },
  stream_two_final_chunks_second: { released: FIRST_CHUNK, reason: TYPAGE_HOLDS_BACK },
};

// ---------------------------------------------------------------------------------------------
// The kit's files

export interface KitCase {
  name: string;
  /** success, no match, HMAC failure, header failure, armor failure or payload failure. */
  expect: string;
  /** Hex SHA-256 of the plaintext (success), or of the plaintext released before a payload failure. */
  payload: string | undefined;
  identities: string[];
  passphrases: string[];
  /** The age file itself (inflated, for the kit's `compressed: zlib` cases). */
  file: Uint8Array;
}

/** `key: value` lines, a blank line, then the age file (possibly binary). */
export async function parseCase(name: string, bytes: Uint8Array): Promise<KitCase> {
  const split = bytes.findIndex((byte, i) => byte === 0x0a && bytes[i + 1] === 0x0a);
  if (split < 0) throw new Error(`${name}: no blank line after the header`);
  const c: KitCase = { name, expect: "", payload: undefined, identities: [], passphrases: [], file: new Uint8Array() };
  let compressed = false;
  for (const line of utf8DecodeStrict(bytes.subarray(0, split)).split("\n")) {
    const colon = line.indexOf(": ");
    const [key, value] = colon < 0 ? [line, ""] : [line.slice(0, colon), line.slice(colon + 2)];
    if (key === "expect") c.expect = value;
    else if (key === "payload") c.payload = value;
    else if (key === "identity") c.identities.push(value);
    else if (key === "passphrase") c.passphrases.push(value);
    else if (key === "compressed") {
      if (value !== "zlib") throw new Error(`${name}: unknown compression ${value}`);
      compressed = true;
    }
    // "armored" needs nothing: our readers detect armor themselves. "file key" and "comment" are notes.
  }
  const file = concatBytes(bytes.subarray(split + 2));
  c.file = compressed
    ? await readAllBytes(new Blob([file]).stream().pipeThrough(new DecompressionStream("deflate")))
    : file;
  return c;
}

/** The kit's expectation in our error vocabulary. */
export function expectedOutcome(c: KitCase): Outcome {
  switch (c.expect) {
    case "success":
      return "success";
    case "no match":
      return c.passphrases.length > 0 ? "passphrase" : "no-identity";
    case "HMAC failure":
    case "header failure":
    case "armor failure":
    case "payload failure":
      return "corrupt";
    default:
      throw new Error(`${c.name}: unknown expectation ${c.expect}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Opening a case through our API

export type Mode = "bytes" | "stream" | "passphrase";

export interface Result {
  outcome: Outcome;
  /** The plaintext handed out before the outcome: all of it on success. */
  released: Uint8Array;
}

/** Each way our API can open the case. */
export function modes(c: KitCase): Mode[] {
  // decryptWithPassphrase takes bytes or text, never a stream (passphrase files are small backups).
  // scrypt_and_x25519 also names an identity, but it is about the passphrase path: scrypt must be alone.
  return c.passphrases.length > 0 ? ["passphrase"] : ["bytes", "stream"];
}

// Two kit files name no identity (their header breaks before any key is tried); our API wants at
// least one, so they get an unrelated one.
const UNRELATED_IDENTITY = await generateX25519Identity();

export async function open(c: KitCase, mode: Mode, scrypt: ScryptFunction = scryptInThisThread): Promise<Result[]> {
  const identities = c.identities.length > 0 ? c.identities : [UNRELATED_IDENTITY];
  switch (mode) {
    case "bytes":
      return [await settle(async (released) => void released.push(await decryptWithIdentities(c.file, identities)))];
    case "stream":
      return [
        await settle(async (released) => {
          // Odd-sized pieces, as the vector runner uses: the header and the chunks straddle reads.
          const reader = (await decryptWithIdentities(chunked(c.file, 7_777), identities)).getReader();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return;
            released.push(value);
          }
        }),
      ];
    case "passphrase": {
      // scrypt_double names two passphrases: each is tried on its own.
      const results: Result[] = [];
      for (const passphrase of c.passphrases) {
        results.push(
          await settle(
            async (released) => void released.push(await decryptWithPassphrase(c.file, passphrase, { scrypt })),
          ),
        );
      }
      return results;
    }
  }
}

async function settle(run: (released: Uint8Array[]) => Promise<void>): Promise<Result> {
  const released: Uint8Array[] = [];
  let outcome: Outcome = "success";
  try {
    await run(released);
  } catch (error) {
    // Anything but a CryptError (a TypeError, a typage Error the wrapper failed to map) is a bug.
    if (!(error instanceof CryptError)) throw error;
    outcome = error.kind;
  }
  return { outcome, released: concatBytes(...released) };
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", concatBytes(bytes))));
}

/**
 * Open `c` in every mode that applies and compare with the kit (or the deviation table). Returns
 * what differs, one line each: empty when the case passes. `onChecked` is told each mode checked.
 */
export async function checkCase(
  c: KitCase,
  scrypt: ScryptFunction = scryptInThisThread,
  onChecked: (mode: Mode) => void = () => undefined,
): Promise<string[]> {
  const problems: string[] = [];
  const deviation = KNOWN_DEVIATIONS[c.name];
  const want = deviation?.outcome ?? expectedOutcome(c);
  for (const mode of modes(c)) {
    for (const { outcome, released } of await open(c, mode, scrypt)) {
      if (outcome !== want) problems.push(`${c.name} (${mode}): ${outcome}, expected ${want}`);
      const what = `${c.name} (${mode}): plaintext released`;
      if (deviation?.outcome || (c.expect !== "success" && !(c.expect === "payload failure" && mode === "stream"))) {
        // Not a kit success, or a failure before the payload (the bytes API is all or nothing).
        if (released.length !== 0) problems.push(`${what}: ${released.length} bytes, expected none`);
      } else if (c.expect === "success") {
        const sha256 = await sha256Hex(released);
        if (sha256 !== c.payload) problems.push(`${what}: SHA-256 ${sha256}, expected ${c.payload ?? "?"}`);
      } else {
        // Each chunk is authenticated before the stream hands it out, so what came out before the
        // error is the kit's partial plaintext (or, where the reader holds back, a shorter one).
        const expected = deviation?.released ?? { bytes: released.length, sha256: c.payload };
        const got = { bytes: released.length, sha256: await sha256Hex(released) };
        if (got.bytes !== expected.bytes || got.sha256 !== expected.sha256) {
          problems.push(`${what}: ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
        }
      }
    }
    onChecked(mode);
  }
  return problems;
}

export interface KitReport {
  cases: number;
  passed: number;
  checked: Record<Mode, number>;
  failures: string[];
  /** Which chunk cipher opened the payloads: "wasm" or "js". */
  cipher: string;
}

/** Every case of the kit, given as its files' names and bytes (README.md excluded). */
export async function runKit(
  files: readonly { name: string; bytes: Uint8Array }[],
  cipher: string,
): Promise<KitReport> {
  const report: KitReport = {
    cases: 0,
    passed: 0,
    checked: { bytes: 0, stream: 0, passphrase: 0 },
    failures: [],
    cipher,
  };
  for (const { name, bytes } of files) {
    const problems = await checkCase(await parseCase(name, bytes), scryptInThisThread, (mode) => {
      report.checked[mode] += 1;
    });
    report.cases += 1;
    if (problems.length === 0) report.passed += 1;
    report.failures.push(...problems);
  }
  return report;
}
