/**
 * The app's WebAssembly module (crates/p2pos-age-stream, embedded by scripts/wasm.sh in
 * `ageStreamWasm.ts`): age's STREAM chunks (`ageStream.ts`) and BLAKE3 (`blob.ts`). One instance
 * per page or worker, loaded on first use; `undefined` where the engine cannot run it (no
 * WebAssembly SIMD), and the callers use JavaScript instead.
 *
 * The module's bytes are a chunk of their own, fetched on first use: the first screen does not
 * wait for them.
 *
 * Calls are synchronous and share one scratch buffer in the module's memory: each call writes its
 * input there and reads its output before returning, so callers never interleave inside one.
 */
/** The scratch buffer's layout (crates/p2pos-age-stream/src/lib.rs). */
export const KEY_AT = 0;
export const NONCE_AT = 32;
export const DATA_AT = 64;
/** The most bytes one call takes at `DATA_AT`: a 64 KiB chunk and its tag. */
export const DATA_MAX = 64 * 1024 + 16;

export interface P2posWasm {
  memory: WebAssembly.Memory;
  scratch(): number;
  seal(len: number): number;
  open(len: number): number;
  hasher_new(): number;
  hasher_update(id: number, len: number): number;
  hasher_finish(id: number): number;
  hasher_drop(id: number): void;
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

let loading: Promise<P2posWasm | undefined> | undefined;

/** The module's exports, or `undefined` where it does not validate (it needs WebAssembly SIMD). */
export function p2posWasm(): Promise<P2posWasm | undefined> {
  loading ??= (async () => {
    if (typeof WebAssembly === "undefined") return undefined;
    const { AGE_STREAM_WASM } = await import("./ageStreamWasm.ts");
    const bytes = decodeBase64(AGE_STREAM_WASM);
    if (!WebAssembly.validate(bytes)) return undefined;
    const { instance } = await WebAssembly.instantiate(bytes, {});
    return instance.exports as unknown as P2posWasm;
  })();
  return loading;
}
