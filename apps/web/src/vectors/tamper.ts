/**
 * Tampered copies of valid vectors: each must fail, with the error kind a real attack or accident
 * would produce. They prove the checks can fail at all; a runner that passed everything blindly
 * would count these as failures.
 */
import { generateX25519Identity } from "age-encryption";
import { decodeBase64, encodeBase64 } from "../lib/base64.ts";
import { utf8Encode } from "../lib/bytes.ts";
import { parseBody } from "../lib/vaultRecords.ts";
import { canonicalJson, vaultRecords } from "./checks.ts";
import { derive, isObject, json, text, type VectorCase } from "./schema.ts";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export function tamperIds(cases: readonly VectorCase[]): VectorCase[] {
  return cases
    .filter((c) => c.valid)
    .slice(0, 3)
    .flatMap((c) => {
      const id = text(c, "id");
      // Character 9 (counting the dash) is data of the 1st quarter, so its check letter no longer fits.
      const typo = id.slice(0, 9) + nextLetter(id.charAt(9)) + id.slice(10);
      return [
        derive(c, "one-letter typo", { input: typo }, { valid: false, error: "check" }),
        derive(c, "last group missing", { input: id.slice(0, -8) }, { valid: false, error: "length" }),
        derive(c, "a 9 in it", { input: id.slice(0, 3) + "9" + id.slice(4) }, { valid: false, error: "character" }),
      ];
    });
}

export function tamperRecords(cases: readonly VectorCase[]): VectorCase[] {
  const valid = cases.filter((c) => c.valid);
  const otherSigner = valid.map((c) => text(c, "signer")).find((s, _i, all) => s !== all[0]);
  return valid.slice(0, 3).flatMap((c) => {
    const record = json(c, "record");
    if (!isObject(record)) return [];
    const body = decodeBase64(String(record["body"]));
    const sig = decodeBase64(String(record["sig"]));
    const changedBody = utf8Encode(
      JSON.stringify({ ...(JSON.parse(new TextDecoder().decode(body)) as object), tampered: true }),
    );
    const flippedSig = Uint8Array.from(sig, (byte, i) => (i === 5 ? byte ^ 1 : byte));
    const tampered = [
      derive(
        c,
        "body changed",
        { record: { ...record, body: encodeBase64(changedBody) } },
        { valid: false, error: "signature" },
      ),
      derive(
        c,
        "signature bit flipped",
        { record: { ...record, sig: encodeBase64(flippedSig) } },
        { valid: false, error: "signature" },
      ),
      derive(
        c,
        "signature cut short",
        { record: { ...record, sig: encodeBase64(sig.slice(0, 63)) } },
        { valid: false, error: "malformed" },
      ),
    ];
    if (otherSigner !== undefined && otherSigner !== text(c, "signer")) {
      tampered.push(
        derive(
          c,
          "claimed by someone else",
          { record: { ...record, signer: otherSigner } },
          { valid: false, error: "signature" },
        ),
      );
    }
    return tampered;
  });
}

export async function tamperAge(cases: readonly VectorCase[]): Promise<VectorCase[]> {
  const stranger = await generateX25519Identity();
  return cases
    .filter((c) => c.valid)
    .slice(0, 3)
    .flatMap((c) => {
      const file = decodeBase64(text(c, "file"));
      const binary = file[0] === "a".charCodeAt(0);
      const lastFlipped = Uint8Array.from(file, (byte, i) => (i === file.length - 1 ? byte ^ 1 : byte));
      return [
        derive(c, "someone else's key", { identities: [stranger] }, { valid: false, error: "no-identity" }),
        derive(
          c,
          "cut short",
          { file: encodeBase64(file.slice(0, Math.floor(file.length * 0.8))) },
          { valid: false, error: "corrupt" },
        ),
        // Flipping the last byte of an armored file would only touch the footer's newline.
        ...(binary
          ? [derive(c, "last byte flipped", { file: encodeBase64(lastFlipped) }, { valid: false, error: "corrupt" })]
          : []),
      ];
    });
}

export function tamperBackups(cases: readonly VectorCase[]): VectorCase[] {
  return cases
    .filter((c) => c.valid)
    .slice(0, 1)
    .flatMap((c) => {
      const lines = text(c, "file").split("\n");
      // Change one character of the second-to-last base64 line: inside the encrypted payload, so the
      // armor stays well formed and the passphrase still unwraps the key, but the payload MAC fails.
      const target = lines.findIndex((line) => line.startsWith("-----END")) - 2;
      const line = lines[target] ?? "";
      if (target < 1 || line.length < 64) return [];
      lines[target] = line.slice(0, 10) + (line.charAt(10) === "A" ? "B" : "A") + line.slice(11);
      return [
        derive(
          c,
          "wrong passphrase",
          { passphrase: text(c, "passphrase") + "!" },
          { valid: false, error: "passphrase" },
        ),
        derive(c, "payload damaged", { file: lines.join("\n") }, { valid: false, error: "corrupt" }),
      ];
    });
}

export function tamperBlobs(cases: readonly VectorCase[]): VectorCase[] {
  return cases
    .filter((c) => c.valid && decodeBase64(text(c, "data")).length > 0)
    .slice(0, 3)
    .map((c) => {
      const data = decodeBase64(text(c, "data"));
      const flipped = Uint8Array.from(data, (byte, i) => (i === data.length - 1 ? byte ^ 0x80 : byte));
      return derive(c, "last byte flipped", { data: encodeBase64(flipped) }, { valid: false, error: "mismatch" });
    });
}

/**
 * Each case without the record of its first grant's current write, as if the node had never
 * served it: an earlier write (or none) is current then, so the state must differ.
 */
export function tamperVaultState(cases: readonly VectorCase[]): VectorCase[] {
  return cases
    .filter((c) => c.valid)
    .flatMap((c) => {
      const entries = vaultRecords(c);
      const state = json(c, "state");
      const grants = isObject(state) && Array.isArray(state["grants"]) ? (state["grants"] as unknown[]) : [];
      const first = grants.find(isObject);
      if (first === undefined) return [];
      const isCurrent = ({ record, outcome }: (typeof entries)[number]): boolean => {
        const { body } = parseBody(record);
        return (
          outcome === "applied" &&
          body.type === "grant" &&
          body.album === first["album"] &&
          body.member === first["member"] &&
          body.epoch === first["epoch"] &&
          body.revoked === first["revoked"] &&
          record.signer === first["signer"] &&
          canonicalJson(body.hlc) === canonicalJson(first["hlc"])
        );
      };
      const current = entries.map(isCurrent);
      if (current.filter(Boolean).length !== 1) return [];
      const records = (json(c, "records") as unknown[]).filter((_, i) => current[i] !== true);
      return [derive(c, "the current grant's record dropped", { records }, { valid: false, error: "mismatch" })];
    });
}

function nextLetter(c: string): string {
  return ALPHABET.charAt((ALPHABET.indexOf(c) + 1) % ALPHABET.length);
}
