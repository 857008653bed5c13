import { generateX25519Identity, identityToRecipient } from "age-encryption";
import { describe, expect, it } from "vitest";
import { chunked, readAll } from "../vectors/checks.ts";
import { vectorTests } from "../vectors/vitest.ts";
import { concatBytes, utf8Encode } from "./bytes.ts";
import {
  armorFile,
  CryptError,
  dearmor,
  decryptWithIdentities,
  decryptWithPassphrase,
  encryptToRecipients,
  encryptWithPassphrase,
  isArmored,
} from "./crypt.ts";
import { ageSecretKeyBytes } from "./identityFile.ts";
import { scryptInThisThread, type ScryptFunction } from "./scryptStanza.ts";
import { importAgeKey } from "./keys.ts";

await vectorTests("age");

const CHUNK = 64 * 1024;

async function newRecipient(): Promise<{ identity: string; recipient: string }> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

function photoBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65_536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(length, offset + 65_536)));
  }
  return bytes;
}

describe("age: recipients", () => {
  it("streams a multi-chunk file to two recipients; each opens it, as stream and as bytes", async () => {
    const [alice, bob] = [await newRecipient(), await newRecipient()];
    const plaintext = photoBytes(5 * CHUNK + 12_345);
    const encrypted = await encryptToRecipients(chunked(plaintext, 10_000), [alice.recipient, bob.recipient]);
    const file = await readAll(encrypted);
    expect(file.length).toBeGreaterThan(plaintext.length + 6 * 16);

    for (const who of [alice, bob]) {
      const streamed = await decryptWithIdentities(chunked(file, 33_333), [who.identity]);
      expect(await readAll(streamed)).toEqual(plaintext);
      expect(await decryptWithIdentities(file, [who.identity])).toEqual(plaintext);
    }
  });

  it("decrypts with a non-extractable X25519 CryptoKey", async () => {
    const alice = await newRecipient();
    const key = await importAgeKey(ageSecretKeyBytes(alice.identity));
    expect(key.extractable).toBe(false);
    const plaintext = photoBytes(2 * CHUNK + 1);
    const file = await encryptToRecipients(plaintext, [alice.recipient]);
    expect(await decryptWithIdentities(file, [key])).toEqual(plaintext);
  });

  it("reads armored files as bytes, text and streams", async () => {
    const alice = await newRecipient();
    const plaintext = photoBytes(CHUNK + 7);
    const armored = armorFile(await encryptToRecipients(plaintext, [alice.recipient]));
    expect(isArmored(armored)).toBe(true);
    expect(await decryptWithIdentities(armored, [alice.identity])).toEqual(plaintext);
    expect(await decryptWithIdentities(utf8Encode(`\n ${armored}`), [alice.identity])).toEqual(plaintext);
    const streamed = await decryptWithIdentities(chunked(utf8Encode(armored), 100), [alice.identity]);
    expect(await readAll(streamed)).toEqual(plaintext);
  });

  it("maps failures to kinds, also in the middle of a stream", async () => {
    const [alice, stranger] = [await newRecipient(), await newRecipient()];
    const file = await encryptToRecipients(photoBytes(3 * CHUNK), [alice.recipient]);
    await expect(decryptWithIdentities(file, [stranger.identity])).rejects.toMatchObject({ kind: "no-identity" });

    const damaged = file.map((byte, i) => (i === file.length - 100 ? byte ^ 1 : byte));
    await expect(decryptWithIdentities(damaged, [alice.identity])).rejects.toMatchObject({ kind: "corrupt" });
    // The header is fine, so the stream opens; the error arrives with the last chunk.
    const stream = await decryptWithIdentities(chunked(damaged, CHUNK), [alice.identity]);
    const error: unknown = await readAll(stream).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CryptError);
    expect(error).toMatchObject({ kind: "corrupt" });

    await expect(decryptWithIdentities(utf8Encode("hello"), [alice.identity])).rejects.toMatchObject({
      kind: "corrupt",
    });
  });

  it("refuses bad recipients and identities as programming errors", async () => {
    await expect(encryptToRecipients(new Uint8Array(1), ["age1nope"])).rejects.toThrow(TypeError);
    await expect(encryptToRecipients(new Uint8Array(1), [])).rejects.toThrow(TypeError);
    await expect(decryptWithIdentities(new Uint8Array(1), ["AGE-SECRET-KEY-1NOPE"])).rejects.toThrow(TypeError);
  });
});

describe("age: passphrases", () => {
  it("round trips, reporting scrypt progress", async () => {
    const progress: number[] = [];
    const armored = await encryptWithPassphrase("my identity", "a long passphrase", {
      logN: 12,
      onProgress: (f) => progress.push(f),
    });
    expect(armored.startsWith("-----BEGIN AGE ENCRYPTED FILE-----\n")).toBe(true);
    expect(progress.at(-1)).toBe(1);
    const plain = await decryptWithPassphrase(armored, "a long passphrase");
    expect(new TextDecoder().decode(plain)).toBe("my identity");
    expect(await decryptWithPassphrase(dearmor(armored), "a long passphrase")).toEqual(plain);
  });

  it("runs scrypt through the given function (a Web Worker in the page)", async () => {
    const calls: number[] = [];
    const scrypt: ScryptFunction = (passphrase, salt, logN, onProgress) => {
      calls.push(logN);
      return scryptInThisThread(passphrase, salt, logN, onProgress);
    };
    const armored = await encryptWithPassphrase("x", "a long passphrase", { logN: 11, scrypt });
    await decryptWithPassphrase(armored, "a long passphrase", { scrypt });
    expect(calls).toEqual([11, 11]);
  });

  it("writes logN 18 by default", async () => {
    const armored = await encryptWithPassphrase("x", "a long passphrase", { logN: 18 });
    expect(new TextDecoder().decode(dearmor(armored))).toMatch(/^-> scrypt \S{22} 18$/m);
  }, 120_000);

  it("tells a wrong passphrase from a file that has none", async () => {
    const armored = await encryptWithPassphrase("x", "a long passphrase", { logN: 10 });
    await expect(decryptWithPassphrase(armored, "another passphrase")).rejects.toMatchObject({ kind: "passphrase" });
    const alice = await newRecipient();
    const x25519File = await encryptToRecipients(new Uint8Array(10), [alice.recipient]);
    await expect(decryptWithPassphrase(x25519File, "a long passphrase")).rejects.toMatchObject({ kind: "corrupt" });
    await expect(decryptWithIdentities(armored, [alice.identity])).rejects.toMatchObject({ kind: "no-identity" });
  });

  it("refuses a work factor above 2^20 without running scrypt", async () => {
    const file = dearmor(await encryptWithPassphrase("x", "a long passphrase", { logN: 10 }));
    const text = new TextDecoder("latin1").decode(file);
    const edited = text.replace(/^(-> scrypt \S+) 10$/m, "$1 30");
    expect(edited).not.toBe(text);
    const bytes = concatBytes(Uint8Array.from(edited, (c) => c.charCodeAt(0)));
    await expect(decryptWithPassphrase(bytes, "a long passphrase")).rejects.toMatchObject({ kind: "corrupt" });
  });
});
