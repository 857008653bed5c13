import { describe, expect, it } from "vitest";
import { vectorTests } from "../vectors/vitest.ts";
import { openBackup, sealBackup } from "./backup.ts";
import { encodeBase64 } from "./base64.ts";
import { generateIdentityFile, importIdentity } from "./identity.ts";
import { formatIdentityFile, IdentityFileError, parseIdentityFile } from "./identityFile.ts";
import { verifyRecord, signRecord } from "./records.ts";

await vectorTests("backups");

describe("identity files", () => {
  it("format → parse round trips and matches the documented layout", async () => {
    const identity = await generateIdentityFile();
    const text = formatIdentityFile(identity);
    expect(text.split("\n")).toEqual([
      "# p2pos identity (v1). Keep this file secret: it is your signing and decryption key.",
      `# id: ${identity.id}`,
      `# recipient: ${identity.recipient}`,
      `# ed25519-seed: ${encodeBase64(identity.seed)}`,
      identity.ageSecretKey,
      "",
    ]);
    const parsed = parseIdentityFile(text.replaceAll("\n", "\r\n"));
    expect(parsed.id).toBe(identity.id);
    expect(parsed.recipient).toBe(identity.recipient);
    expect(parsed.seed).toEqual(identity.seed);
    // Without the optional id line the key still determines the id.
    expect(parseIdentityFile(text.replace(/^# id: .*$/m, "")).id).toBe(identity.id);
  });

  it.each([
    ["no seed line", (t: string) => t.replace(/^# ed25519-seed: .*$/m, "")],
    [
      "a seed of 31 bytes",
      (t: string) => t.replace(/^# ed25519-seed: .*$/m, `# ed25519-seed: ${encodeBase64(new Uint8Array(31))}`),
    ],
    ["two age keys", (t: string) => t + (t.split("\n")[4] ?? "")],
    ["no age key", (t: string) => t.replace(/^AGE-SECRET-KEY-1.*$/m, "")],
    [
      "a damaged age key",
      (t: string) =>
        t.replace(/^(AGE-SECRET-KEY-1.{10})(.)/m, (_m, head: string, c: string) => head + (c === "Q" ? "P" : "Q")),
    ],
    ["an unexpected line", (t: string) => `${t}hello\n`],
    [
      "an id line naming someone else",
      (t: string) => t.replace(/^# id: (.)/m, (_m, c: string) => `# id: ${c === "A" ? "B" : "A"}`),
    ],
  ])("refuses %s", async (_what, damage) => {
    const text = formatIdentityFile(await generateIdentityFile());
    expect(() => parseIdentityFile(damage(text))).toThrow(IdentityFileError);
  });

  it("imports as non-extractable keys that sign and decrypt", async () => {
    const file = await generateIdentityFile();
    const keys = await importIdentity(file);
    expect(keys.signingKey.extractable).toBe(false);
    expect(keys.ageKey.extractable).toBe(false);
    expect(file.seed.every((b) => b === 0)).toBe(true); // wiped after import
    const verified = await verifyRecord(await signRecord({ hello: "world" }, keys));
    expect(verified.signer).toBe(keys.id);
  });

  it("seals and opens a backup", async () => {
    const identity = await generateIdentityFile();
    const backup = await sealBackup(identity, "correct horse battery staple", { logN: 10 });
    const opened = await openBackup(backup, "correct horse battery staple");
    expect(opened.identity.id).toBe(identity.id);
    expect(opened.text).toBe(formatIdentityFile(identity));
    await expect(openBackup(backup, "wrong horse battery staple")).rejects.toMatchObject({ kind: "passphrase" });
  });
});
