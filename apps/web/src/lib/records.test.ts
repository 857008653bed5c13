import { describe, expect, it } from "vitest";
import { vectorTests } from "../vectors/vitest.ts";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { utf8Encode } from "./bytes.ts";
import { GROUP_ORDER } from "./ed25519Point.ts";
import { generateIdentityFile, importIdentity } from "./identity.ts";
import { RecordError, signRecord, verifyRecord } from "./records.ts";

await vectorTests("records");

describe("signed records", () => {
  const signer = generateIdentityFile().then(importIdentity);

  it("sign → verify returns the signer and the exact body", async () => {
    const me = await signer;
    const record = await signRecord({ type: "album", title: "Summer 2026", n: 5 }, me);
    const verified = await verifyRecord(JSON.parse(JSON.stringify(record)));
    expect(verified.signer).toBe(me.id);
    expect(verified.body).toEqual({ type: "album", title: "Summer 2026", n: 5 });
    expect(new TextDecoder().decode(verified.bodyBytes)).toBe('{"type":"album","title":"Summer 2026","n":5}');
  });

  it("signs given bytes as they are, without re-serialising", async () => {
    const bytes = utf8Encode('{ "b" : 1,\n  "a" : 2.50 }');
    const record = await signRecord(bytes, await signer);
    expect(decodeBase64(record.body)).toEqual(bytes);
    expect((await verifyRecord(record)).bodyBytes).toEqual(bytes);
  });

  it("refuses to sign a body that is not a JSON object", async () => {
    await expect(signRecord([1, 2], await signer)).rejects.toMatchObject({ kind: "malformed" });
    await expect(signRecord(utf8Encode("null"), await signer)).rejects.toMatchObject({ kind: "malformed" });
  });

  it("checks S < L and R itself, whatever WebCrypto would accept", async () => {
    const record = await signRecord({ n: 1 }, await signer);
    const sig = decodeBase64(record.sig);
    // S + L: the same signature to a lax verifier (Ed25519 malleability).
    let s = 0n;
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i] ?? 0);
    let sPlusL = s + GROUP_ORDER;
    const malleable = sig.slice();
    for (let i = 32; i < 64; i++) {
      malleable[i] = Number(sPlusL & 0xffn);
      sPlusL >>= 8n;
    }
    await expect(verifyRecord({ ...record, sig: encodeBase64(malleable) })).rejects.toThrow(/not canonical/);
    // R = the identity point (small order).
    const smallR = sig.slice();
    smallR.set([1, ...new Array<number>(31).fill(0)], 0);
    await expect(verifyRecord({ ...record, sig: encodeBase64(smallR) })).rejects.toThrow(/R is not a valid point/);
  });

  it("a tampered record fails with the right kind", async () => {
    const me = await signer;
    const other = await importIdentity(await generateIdentityFile());
    const record = await signRecord({ n: 1 }, me);
    const cases: [unknown, string][] = [
      [{ ...record, body: encodeBase64(utf8Encode('{"n":2}')) }, "signature"],
      [{ ...record, signer: other.id }, "signature"],
      [{ ...record, signer: "not an id" }, "signer"],
      [{ ...record, sig: record.sig.slice(0, -4) }, "malformed"],
      [{ body: record.body, signer: record.signer }, "malformed"],
      ["a string", "malformed"],
    ];
    for (const [tampered, kind] of cases) {
      const error: unknown = await verifyRecord(tampered).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RecordError);
      expect(error).toMatchObject({ kind });
    }
  });
});

describe("record shape", () => {
  it("refuses fields beyond body, signer and sig, as the Rust side does", async () => {
    const identity = await generateIdentityFile().then(importIdentity);
    const record = await signRecord({ type: "album" }, identity);
    await expect(verifyRecord(record)).resolves.toBeTruthy();
    await expect(verifyRecord({ ...record, note: "unsigned" })).rejects.toMatchObject({ kind: "malformed" });
  });
});
