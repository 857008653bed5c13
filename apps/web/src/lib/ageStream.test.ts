import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import { describe, expect, it } from "vitest";
import {
  CHUNK,
  TAG,
  chunkCipher,
  decryptPayload,
  encryptPayload,
  javascriptCipher,
  openPayload,
  PayloadError,
  type ChunkCipher,
} from "./ageStream.ts";
import { AGE_STREAM_WASM, AGE_STREAM_WASM_SHA256 } from "./ageStreamWasm.ts";
import { concatBytes, toHex } from "./bytes.ts";
import { decryptWithIdentities, encryptToRecipients } from "./crypt.ts";
import { bytesToStream, readAllBytes } from "./streams.ts";

function pattern(length: number, seed: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) ^ (i >> 8);
  return bytes;
}

function nonce(counter: number, last: boolean): Uint8Array {
  const bytes = new Uint8Array(12);
  bytes[10] = counter & 0xff;
  bytes[9] = counter >> 8;
  bytes[11] = last ? 1 : 0;
  return bytes;
}

async function through(bytes: Uint8Array, transform: TransformStream<Uint8Array, Uint8Array>, piece: number) {
  return readAllBytes(bytesToStream(bytes, piece).pipeThrough(transform));
}

describe("age STREAM chunks in WebAssembly", () => {
  it("load the WebAssembly module here (Node has WebAssembly SIMD), whose bytes match their SHA-256", async () => {
    expect((await chunkCipher()).kind).toBe("wasm");
    const bytes = Uint8Array.from(atob(AGE_STREAM_WASM), (c) => c.charCodeAt(0));
    expect(toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)))).toBe(AGE_STREAM_WASM_SHA256);
  });

  it("seal every length byte for byte as @noble/ciphers does, and open what either sealed", async () => {
    const wasm = await chunkCipher();
    const js = javascriptCipher();
    const key = pattern(32, 5);
    const lengths = [...Array.from({ length: 1101 }, (_, i) => i), 4095, 4096, 4097, CHUNK - 1, CHUNK];
    for (const [i, length] of lengths.entries()) {
      const plain = pattern(length, i);
      const n = nonce(i, i % 3 === 0);
      const ours = wasm.seal(key, n, plain);
      expect(toHex(ours), `length ${length}`).toBe(toHex(js.seal(key, n, plain)));
      expect(toHex(wasm.open(key, n, ours))).toBe(toHex(plain));
      expect(toHex(js.open(key, n, ours))).toBe(toHex(plain));
    }
  });

  it("refuse a chunk with a changed byte, tag, nonce or key", async () => {
    const cipher = await chunkCipher();
    const key = pattern(32, 1);
    const sealed = cipher.seal(key, nonce(3, false), pattern(5000, 2));
    for (const at of [0, 2500, sealed.length - TAG, sealed.length - 1]) {
      const changed = sealed.slice();
      changed[at] = (changed[at] ?? 0) ^ 0x01;
      expect(() => cipher.open(key, nonce(3, false), changed)).toThrow(PayloadError);
    }
    expect(() => cipher.open(key, nonce(3, true), sealed)).toThrow(PayloadError);
    expect(() => cipher.open(pattern(32, 9), nonce(3, false), sealed)).toThrow(PayloadError);
    expect(() => cipher.open(key, nonce(3, false), sealed.subarray(0, TAG - 1))).toThrow(PayloadError);
    expect(() => cipher.seal(key, nonce(0, true), new Uint8Array(CHUNK + 1))).toThrow(RangeError);
  });
});

describe("age payloads", () => {
  const key = pattern(32, 7);

  it.each<[string, () => Promise<ChunkCipher> | ChunkCipher]>([
    ["WebAssembly", chunkCipher],
    ["JavaScript", javascriptCipher],
  ])("round-trip at every chunk boundary (%s), whatever the pieces the stream brings", async (_, make) => {
    const cipher = await make();
    for (const length of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17]) {
      const plain = pattern(length, length);
      const sealed = await through(plain, encryptPayload(key, cipher), 10_007);
      const chunks = Math.max(1, Math.ceil(length / CHUNK));
      expect(sealed.length).toBe(length + chunks * TAG);
      expect(toHex(await through(sealed, decryptPayload(key, cipher), 65_000))).toBe(toHex(plain));
      expect(toHex(openPayload(key, cipher, sealed)), `whole, ${length}`).toBe(toHex(plain));
    }
  });

  it("refuse a payload cut at a chunk boundary, with a chunk added, or ending in an empty chunk", async () => {
    const cipher = await chunkCipher();
    const plain = pattern(2 * CHUNK + 100, 3);
    const sealed = await through(plain, encryptPayload(key, cipher), CHUNK);
    // Without its last chunk: the one before is not sealed as last.
    const cut = sealed.subarray(0, 2 * (CHUNK + TAG));
    await expect(through(cut, decryptPayload(key, cipher), CHUNK)).rejects.toThrow(PayloadError);
    expect(() => openPayload(key, cipher, cut)).toThrow(PayloadError);
    // A chunk after the last one.
    const extra = concatBytes(sealed, cipher.seal(key, nonce(3, true), new Uint8Array(10)));
    await expect(through(extra, decryptPayload(key, cipher), CHUNK)).rejects.toThrow(PayloadError);
    expect(() => openPayload(key, cipher, extra)).toThrow(PayloadError);
    // A whole-chunk file sealed with an empty last chunk after it (age forbids it).
    const full = pattern(CHUNK, 4);
    const emptyLast = concatBytes(
      cipher.seal(key, nonce(0, false), full),
      cipher.seal(key, nonce(1, true), new Uint8Array(0)),
    );
    await expect(through(emptyLast, decryptPayload(key, cipher), CHUNK)).rejects.toThrow(/empty chunk/);
    expect(() => openPayload(key, cipher, emptyLast)).toThrow(/empty chunk/);
  });

  it("make files typage reads, and read typage's files", async () => {
    const identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    const plain = pattern(3 * CHUNK + 1234, 8);
    const ours = await encryptToRecipients(plain, [recipient]);
    const decrypter = new Decrypter();
    decrypter.addIdentity(identity);
    expect(toHex(await decrypter.decrypt(ours))).toBe(toHex(plain));
    const encrypter = new Encrypter();
    encrypter.addRecipient(recipient);
    const theirs = await encrypter.encrypt(plain);
    expect(toHex(await decryptWithIdentities(theirs, [identity]))).toBe(toHex(plain));
  });
});
