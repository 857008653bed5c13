import { describe, expect, it } from "vitest";
import type { ApiClient } from "../lib/api.ts";
import { newAlbumKey, openAlbumKey, sealAlbumKey } from "../lib/albumKeys.ts";
import { encryptToRecipients } from "../lib/crypt.ts";
import { generateIdentityFile, importIdentity } from "../lib/identity.ts";
import { keptThumb, loadThumb } from "./thumbLoader.ts";

/** A node whose blob answers wait until released; records which were asked for, in order. */
async function slowNode() {
  const member = await importIdentity(await generateIdentityFile());
  const album = await newAlbumKey();
  const key = await openAlbumKey(await sealAlbumKey(album.secret, member.recipient), member.ageKey);
  const sealed = new Blob([new Uint8Array(await encryptToRecipients(new Uint8Array([7]), [album.recipient]))]);
  const asked: string[] = [];
  const waiting: (() => void)[] = [];
  const api = {
    getBlob: (id: string) => {
      asked.push(id);
      return new Promise<Blob>((resolve) => waiting.push(() => resolve(sealed)));
    },
  } as unknown as ApiClient;
  // Answers every fetch, including those started after earlier ones finish decrypting, until
  // `done` settles. (Stopping as soon as none was waiting raced the decryptions: when they took
  // longer than the 20 ms pause, as on a loaded CI machine, the later fetches started after the
  // loop had ended, were never answered, and the test hung.)
  const releaseUntil = async (done: Promise<unknown>) => {
    const state = { finished: false };
    void done.finally(() => {
      state.finished = true;
    });
    while (!state.finished) {
      for (const release of waiting.splice(0)) release();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  return { api, keys: [key], asked, releaseUntil };
}

describe("thumbnail loader", () => {
  it("fetches six at a time, the newest batch first, in the order asked within one, never one whose cell went away, and keeps them", async () => {
    const { api, keys, asked, releaseUntil } = await slowNode();
    const cells = Array.from({ length: 14 }, (_, i) => ({ id: `t${i}`, controller: new AbortController() }));
    const load = (c: (typeof cells)[number]) => loadThumb(api, c.id, keys, c.controller.signal);
    // One render asks for t0–t9 (top to bottom), a later one (a scroll) for t10–t13.
    const first = cells.slice(0, 10).map(load);
    // The first six started at once; the four others wait.
    expect(asked).toEqual(["t0", "t1", "t2", "t3", "t4", "t5"]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    const settled = Promise.allSettled([...first, ...cells.slice(10).map(load)]);
    // t7 scrolled away before its turn.
    cells[7]?.controller.abort();
    await releaseUntil(settled);
    const results = await settled;
    expect(results.map((r) => r.status)).toEqual([
      ...Array<string>(7).fill("fulfilled"),
      "rejected",
      ...Array<string>(6).fill("fulfilled"),
    ]);
    // The later render's first (in its order), then the first's rest (in its order); t7 never.
    expect(asked.slice(6)).toEqual(["t10", "t11", "t12", "t13", "t6", "t8", "t9"]);
    expect(keptThumb(api, "t9")).toBe("data:image/webp;base64,Bw==");
    // Kept: asked again, no fetch.
    expect(await loadThumb(api, "t9", keys, new AbortController().signal)).toBe("data:image/webp;base64,Bw==");
    expect(asked).toHaveLength(13);
  });
});
