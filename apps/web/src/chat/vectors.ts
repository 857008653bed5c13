/**
 * `testvectors/chat.json` as executable checks (registered as the `chat` suite in
 * `src/vectors/suites.ts`, so Vitest and the Chromium harness run them): each case's outcome is
 * computed the way the Rust test (`crates/p2pos-core/tests/chat_vectors.rs`) computes it, as "ok"
 * or an error kind, "mismatch" when a value differs, and must be the one the case states.
 */
import { fromHex, toHex } from "../lib/bytes.ts";
import { importSigningKey } from "../lib/keys.ts";
import { canonicalJson, VectorMismatch } from "../vectors/checks.ts";
import { derive, integer, isObject, json, text, type VectorCase } from "../vectors/schema.ts";
import {
  binding,
  deriveSecret,
  nearbyTag,
  normalizeFingerprint,
  rvName,
  rvNamesAt,
  signBinding,
  slotOf,
  verifyBinding,
  verifyKnown,
} from "./crypto.ts";
import { ChatError, decodeB64u, frameText, parseBinary, parseFrame, parseSignal, signalPayload } from "./protocol.ts";

class Mismatch extends Error {}

function same(what: string, actual: string, expected: string): void {
  if (actual !== expected) throw new Mismatch(`${what}: expected ${expected}, got ${actual}`);
}

async function outcomeOf(c: VectorCase): Promise<void> {
  const kind = text(c, "kind");
  switch (kind) {
    case "frame": {
      const parsed = parseFrame(text(c, "input"));
      if ("unknown" in parsed) {
        same("unknown type", parsed.unknown, text(c, "unknown"));
        return;
      }
      same("canonical", frameText(parsed.frame), text(c, "canonical"));
      return;
    }
    case "binary": {
      const parsed = parseBinary(fromHex(text(c, "input")));
      if ("end" in parsed) {
        if (c.fields["end"] !== true) throw new Mismatch("an end frame where the vector has a chunk");
        return;
      }
      same("chunk", toHex(parsed.chunk), text(c, "chunk"));
      return;
    }
    case "signal": {
      const signal = parseSignal(json(c, "payload"));
      if (signal === undefined) {
        if (c.fields["chat"] !== false) throw new Mismatch("not taken as a chat signal");
        return;
      }
      same("canonical", canonicalJson(signalPayload(signal)), canonicalJson(json(c, "canonical")));
      return;
    }
    case "nearby_tag":
      same("tag", await nearbyTag(fromHex(text(c, "secret")), text(c, "s")), text(c, "tag"));
      return;
    case "rv_name": {
      const secret = fromHex(text(c, "secret"));
      const unixMs = integer(c, "unix_ms");
      same("slot", String(slotOf(unixMs)), String(integer(c, "slot")));
      same("name", await rvName(secret, slotOf(unixMs)), text(c, "rv_name"));
      same("names_at", JSON.stringify(await rvNamesAt(secret, unixMs)), JSON.stringify(json(c, "names_at")));
      return;
    }
    case "binding": {
      const theirId = text(c, "their_id");
      const myFp = normalizeFingerprint(text(c, "my_fp_input"));
      same("normalised fingerprint", myFp, text(c, "my_fp"));
      const made = binding(text(c, "my_id"), theirId === "" ? undefined : theirId, myFp, text(c, "their_fp"));
      same("binding", made, text(c, "binding"));
      if (c.valid) {
        const key = await importSigningKey(fromHex(text(c, "seed")));
        same("sig", await signBinding(key, made), text(c, "sig"));
      }
      if (!(await verifyBinding(text(c, "my_id"), text(c, "binding"), text(c, "sig")))) {
        throw new ChatError("signature", "The signature does not verify.");
      }
      return;
    }
    case "secret": {
      const a = { id: text(c, "id_a"), k: decodeB64u(text(c, "k_a"), 32, "k_a") };
      const b = { id: text(c, "id_b"), k: decodeB64u(text(c, "k_b"), 32, "k_b") };
      const one = toHex(await deriveSecret(a, b));
      same("the secret, either order", toHex(await deriveSecret(b, a)), one);
      same("secret", one, text(c, "secret"));
      return;
    }
    case "known":
      if (!(await verifyKnown(fromHex(text(c, "secret")), text(c, "binding"), text(c, "known")))) {
        throw new ChatError("value", "The proof does not verify.");
      }
      return;
    default:
      throw new VectorMismatch(`unknown case kind ${kind}`);
  }
}

/** Runs one case of `chat.json` (or a tampered copy). */
export async function checkChat(c: VectorCase): Promise<void> {
  let got = "ok";
  try {
    await outcomeOf(c);
  } catch (error) {
    if (error instanceof Mismatch) got = "mismatch";
    else if (error instanceof ChatError) got = c.fields["kind"] === "known" ? "known" : error.kind;
    else throw error;
    if (c.valid) throw new VectorMismatch(`expected success, got ${got}: ${error.message}`);
  }
  const expected = c.valid ? "ok" : (c.error ?? "?");
  if (got !== expected) throw new VectorMismatch(`expected ${expected}, got ${got}`);
}

/** Copies of valid cases with one expected value changed, or an unknown field added: each must fail. */
export function tamperChat(cases: readonly VectorCase[]): VectorCase[] {
  const out: VectorCase[] = [];
  for (const c of cases.filter((v) => v.valid)) {
    const kind = text(c, "kind");
    const field = { nearby_tag: "tag", rv_name: "rv_name", secret: "secret", binding: "sig" }[kind];
    if (field !== undefined) {
      const value = text(c, field);
      const last = value.endsWith("a") ? "b" : "a";
      // A changed signature no longer verifies.
      const error = kind === "binding" ? "signature" : "mismatch";
      out.push(derive(c, `${field} changed`, { [field]: value.slice(0, -1) + last }, { valid: false, error }));
    }
    if (kind === "known") {
      const secret = text(c, "secret");
      const other = (secret.startsWith("0") ? "1" : "0") + secret.slice(1);
      out.push(derive(c, "another secret", { secret: other }, { valid: false, error: "known" }));
    }
    if (kind === "frame" && c.fields["canonical"] !== undefined) {
      const input = JSON.parse(text(c, "input")) as unknown;
      if (isObject(input)) {
        const changed = JSON.stringify({ ...input, extra: 1 });
        out.push(derive(c, "an unknown field", { input: changed }, { valid: false, error: "fields" }));
      }
    }
  }
  return out;
}
