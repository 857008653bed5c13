import { describe, expect, it } from "vitest";
import type { ApiClient } from "./api.ts";
import { ApiError } from "./api.ts";
import { HlcClock } from "./hlc.ts";
import { generateIdentityFile, importIdentity } from "./identity.ts";
import type { PreparedPhoto } from "./photos.ts";
import {
  KEY_WAIT_DELAYS_MS,
  UploadQueue,
  type CurrentTarget,
  type PrepareFunction,
  type SleepFunction,
  type UploadItem,
} from "./uploadQueue.ts";
import type { SignedRecord } from "./records.ts";
import { VaultError } from "./vault.ts";
import { bodyOf, newObjectId } from "./vaultRecords.ts";

const META = "-----BEGIN AGE ENCRYPTED FILE-----\nAAAA\n-----END AGE ENCRYPTED FILE-----\n";

function prepared(id: string): PreparedPhoto {
  return {
    blob: { id, size: 3, data: new Blob(["abc"]) },
    thumb: undefined,
    meta: META,
    info: { name: id, type: "image/jpeg", size: 3, lastModified: 0 },
  };
}

/** `failFirstPut`: the first blob upload fails (with this error, or a server error). */
async function setup(failFirstPut: boolean | Error = false) {
  const keys = await importIdentity(await generateIdentityFile());
  const clock = new HlcClock();
  let running = 0;
  let maxRunning = 0;
  let puts = 0;
  let prepares = 0;
  const gates: (() => void)[] = [];
  const prepare: PrepareFunction = (file, _recipient, onProgress, signal) =>
    new Promise((resolve, reject) => {
      prepares++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      signal.addEventListener("abort", () => {
        running--;
        reject(new DOMException("Cancelled.", "AbortError"));
      });
      gates.push(() => {
        running--;
        onProgress(file.size, file.size);
        resolve(prepared(file.name));
      });
    });
  const api = {
    putBlob: () => {
      puts++;
      if (failFirstPut && puts === 1) {
        return Promise.reject(failFirstPut instanceof Error ? failFirstPut : new ApiError(500, "internal", "boom"));
      }
      return Promise.resolve({ id: "x", size: 3 });
    },
    postRecord: () => Promise.resolve({ seq: 1, current: true }),
  } as unknown as ApiClient;
  const uploaded: string[] = [];
  const album = newObjectId();
  const queue = new UploadQueue({
    api,
    context: () => ({ signer: keys, family: newObjectId(), hlc: () => clock.tick() }),
    target: () => Promise.resolve({ album, epoch: 0, recipient: keys.recipient }),
    prepare,
    concurrency: 2,
    onUploaded: (photo) => uploaded.push(photo),
    sleep: () => Promise.resolve(),
  });
  let items: UploadItem[] = [];
  queue.subscribe((next) => (items = next));
  const settle = () => new Promise((resolve) => setTimeout(resolve, 10));
  const openGates = async () => {
    while (gates.length > 0) {
      gates.shift()?.();
      await settle();
    }
  };
  return {
    queue,
    items: () => items,
    openGates,
    settle,
    uploaded,
    maxRunning: () => maxRunning,
    prepares: () => prepares,
  };
}

const files = (n: number) => Array.from({ length: n }, (_, i) => new File(["abc"], `f${i}.jpg`));

describe("upload queue", () => {
  it("runs at most two at a time and finishes them all", async () => {
    const t = await setup();
    t.queue.add(files(5));
    await t.settle();
    expect(t.items().filter((i) => i.status === "encrypting")).toHaveLength(2);
    await t.openGates();
    await t.openGates();
    expect(t.items().map((i) => i.status)).toEqual(["done", "done", "done", "done", "done"]);
    expect(t.maxRunning()).toBe(2);
    expect(t.uploaded).toHaveLength(5);
    expect(t.queue.overall.fraction).toBe(1);
  });

  it("cancels one and retries it", async () => {
    const t = await setup();
    t.queue.add(files(2));
    await t.settle();
    const first = t.items()[0];
    if (!first) throw new Error("no item");
    t.queue.cancel(first.key);
    await t.settle();
    expect(t.items()[0]?.status).toBe("cancelled");
    t.queue.retry(first.key);
    await t.settle();
    await t.openGates();
    expect(t.items().map((i) => i.status)).toEqual(["done", "done"]);
  });

  it("reports a failure and retries it", async () => {
    const t = await setup(true);
    t.queue.add(files(1));
    await t.settle();
    await t.openGates();
    expect(t.items()[0]).toMatchObject({ status: "failed", error: "boom" });
    t.queue.retryFailed();
    await t.settle();
    await t.openGates();
    expect(t.items()[0]?.status).toBe("done");
  });

  it("sends a file again by itself when its connection was lost on the way, without encrypting it again", async () => {
    const t = await setup(new ApiError(0, "network", "The connection to the node was lost."));
    t.queue.add(files(1));
    await t.settle();
    await t.openGates();
    expect(t.items()[0]?.status).toBe("done");
    expect(t.uploaded).toHaveLength(1);
    expect(t.prepares()).toBe(1);
  });

  it("encrypts to the album's epoch when the file's turn comes, and again when the key changed on the way", async () => {
    const keys = await importIdentity(await generateIdentityFile());
    const clock = new HlcClock();
    const album = newObjectId();
    // The node's album: an admin rotates its key while the first blob is on its way.
    let current = { album, epoch: 0, recipient: "age1epoch0" };
    const asked: number[] = [];
    const recipients: string[] = [];
    const posted: number[] = [];
    const api = {
      putBlob: () => {
        current = { album, epoch: 1, recipient: "age1epoch1" };
        return Promise.resolve({ id: "x", size: 3 });
      },
      postRecord: (record: SignedRecord) => {
        const { epoch } = bodyOf(record) as { epoch: number };
        if (epoch !== current.epoch) {
          return Promise.reject(new ApiError(403, "record_refused", "photos are encrypted to the current epoch"));
        }
        posted.push(epoch);
        return Promise.resolve({ seq: 1, current: true });
      },
    } as unknown as ApiClient;
    const queue = new UploadQueue({
      api,
      context: () => ({ signer: keys, family: newObjectId(), hlc: () => clock.tick() }),
      target: () => {
        asked.push(current.epoch);
        return Promise.resolve(current);
      },
      prepare: (file, recipient) => {
        recipients.push(recipient);
        return Promise.resolve(prepared(file.name));
      },
    });
    let items: UploadItem[] = [];
    queue.subscribe((next) => (items = next));
    queue.add(files(1));
    for (let i = 0; i < 20 && items[0]?.status !== "done"; i++) await new Promise((r) => setTimeout(r, 5));
    expect(items[0]?.status).toBe("done");
    expect(recipients).toEqual(["age1epoch0", "age1epoch1"]);
    expect(posted).toEqual([1]);
    expect(asked).toEqual([0, 1]);
  });

  it("gives up when the node refuses a photo and the album did not move", async () => {
    const keys = await importIdentity(await generateIdentityFile());
    let prepares = 0;
    const api = {
      putBlob: () => Promise.resolve({ id: "x", size: 3 }),
      postRecord: () => Promise.reject(new ApiError(403, "record_refused", "the signer has no key for that epoch")),
    } as unknown as ApiClient;
    const queue = new UploadQueue({
      api,
      context: () => ({ signer: keys, family: newObjectId(), hlc: () => new HlcClock().tick() }),
      target: () => Promise.resolve({ album: newObjectId(), epoch: 0, recipient: keys.recipient }),
      prepare: (file) => {
        prepares++;
        return Promise.resolve(prepared(file.name));
      },
    });
    let items: UploadItem[] = [];
    queue.subscribe((next) => (items = next));
    queue.add(files(1));
    for (let i = 0; i < 20 && items[0]?.status !== "failed"; i++) await new Promise((r) => setTimeout(r, 5));
    expect(items[0]).toMatchObject({ status: "failed", error: "the signer has no key for that epoch" });
    expect(prepares).toBe(1);
  });
});

/** The node's words for `key_not_rotated` (`crates/family-vault/src/vault.rs`), as the API sends them. */
const NOT_ROTATED =
  "record refused: the album key must be rotated (a new epoch) after a member lost access, before new photos";
const noKey = () =>
  new VaultError("no_current_key", "You hold no key for this album's current epoch, so you cannot add photos to it.");

/**
 * One file into an album around a rotation. `album(waited)`: the album as the node has it for us
 * after `waited` waits (a `VaultError` when we hold no key to its current epoch); `refuse(epoch,
 * waited)`: the node's refusal of a photo of `epoch`, if any. Waits take no time: they are counted.
 */
async function aroundRotation(
  album: (waited: number) => CurrentTarget | VaultError,
  refuse: (epoch: number, waited: number) => ApiError | undefined,
  sleep?: SleepFunction,
) {
  const keys = await importIdentity(await generateIdentityFile());
  const clock = new HlcClock();
  const slept: number[] = [];
  const asked: (number | "no key")[] = [];
  const recipients: string[] = [];
  const posted: number[] = [];
  const statuses: string[] = [];
  const api = {
    putBlob: () => Promise.resolve({ id: "x", size: 3 }),
    postRecord: (record: SignedRecord) => {
      const { epoch } = bodyOf(record) as { epoch: number };
      const refusal = refuse(epoch, slept.length);
      if (refusal) return Promise.reject(refusal);
      posted.push(epoch);
      return Promise.resolve({ seq: 1, current: true });
    },
  } as unknown as ApiClient;
  const queue = new UploadQueue({
    api,
    context: () => ({ signer: keys, family: newObjectId(), hlc: () => clock.tick() }),
    target: () => {
      const now = album(slept.length);
      asked.push(now instanceof VaultError ? "no key" : now.epoch);
      return now instanceof VaultError ? Promise.reject(now) : Promise.resolve(now);
    },
    prepare: (file, recipient) => {
      recipients.push(recipient);
      return Promise.resolve(prepared(file.name));
    },
    sleep:
      sleep ??
      ((ms) => {
        slept.push(ms);
        return Promise.resolve();
      }),
  });
  let items: UploadItem[] = [];
  queue.subscribe((next) => {
    items = next;
    const status = next[0]?.status;
    if (status && statuses.at(-1) !== status) statuses.push(status);
  });
  queue.add(files(1));
  const until = async (...wanted: string[]) => {
    for (let i = 0; i < 50 && !wanted.includes(items[0]?.status ?? ""); i++) await new Promise((r) => setTimeout(r, 5));
  };
  return { queue, item: () => items[0], until, slept, asked, recipients, posted, statuses };
}

describe("uploads around a rotation", () => {
  it("waits through key_not_rotated and a new epoch not granted yet, then encrypts to the new key", async () => {
    const album = newObjectId();
    const t = await aroundRotation(
      // Revoked, not rotated (until the second wait); then epoch 1, whose key reaches us after the third.
      (waited) =>
        waited < 2
          ? { album, epoch: 0, recipient: "age1epoch0" }
          : waited < 3
            ? noKey()
            : { album, epoch: 1, recipient: "age1epoch1" },
      (epoch, waited) =>
        waited < 2 && epoch === 0
          ? new ApiError(403, "record_refused", NOT_ROTATED, { rule: "key_not_rotated" })
          : epoch !== 1
            ? new ApiError(403, "record_refused", "photos are encrypted to the album's current epoch")
            : undefined,
    );
    await t.until("done", "failed");
    expect(t.item()).toMatchObject({ status: "done", progress: 1 });
    expect(t.recipients).toEqual(["age1epoch0", "age1epoch1"]);
    expect(t.posted).toEqual([1]);
    // Asked again after the refusal, then after each wait.
    expect(t.asked).toEqual([0, 0, 0, "no key", 1]);
    expect(t.slept).toEqual([1_000, 2_000, 4_000]);
    expect(t.statuses).toEqual(["queued", "encrypting", "uploading", "waiting", "encrypting", "uploading", "done"]);
  });

  it("waits for its key to the album's new epoch before encrypting anything", async () => {
    const album = newObjectId();
    const t = await aroundRotation(
      (waited) => (waited < 2 ? noKey() : { album, epoch: 1, recipient: "age1epoch1" }),
      () => undefined,
    );
    await t.until("done", "failed");
    expect(t.item()?.status).toBe("done");
    expect(t.recipients).toEqual(["age1epoch1"]);
    expect(t.slept).toEqual([1_000, 2_000]);
    expect(t.statuses).toEqual(["queued", "encrypting", "waiting", "encrypting", "uploading", "done"]);
  });

  it("fails with a clear message when the album keeps its old key for a minute", async () => {
    const album = newObjectId();
    const t = await aroundRotation(
      () => ({ album, epoch: 0, recipient: "age1epoch0" }),
      () => new ApiError(403, "record_refused", NOT_ROTATED, { rule: "key_not_rotated" }),
    );
    await t.until("failed", "done");
    expect(t.item()).toMatchObject({
      status: "failed",
      error: expect.stringMatching(/still had its old key/) as string,
    });
    expect(t.slept).toEqual(KEY_WAIT_DELAYS_MS);
    expect(t.slept.reduce((a, b) => a + b, 0)).toBe(60_000);
    expect(t.recipients).toEqual(["age1epoch0"]);
    expect(t.posted).toEqual([]);
  });

  it("fails with a clear message when the new key never reaches us", async () => {
    const t = await aroundRotation(noKey, () => undefined);
    await t.until("failed", "done");
    expect(t.item()).toMatchObject({
      status: "failed",
      error: expect.stringMatching(/not shared with you within a minute/) as string,
    });
    expect(t.slept).toEqual(KEY_WAIT_DELAYS_MS);
    expect(t.recipients).toEqual([]);
  });

  it("a waiting upload can be cancelled", async () => {
    let aborted = false;
    const t = await aroundRotation(
      noKey,
      () => undefined,
      (_ms, signal) => {
        return new Promise((_resolve, reject) =>
          signal.addEventListener("abort", () => {
            aborted = true;
            reject(new DOMException("Cancelled.", "AbortError"));
          }),
        );
      },
    );
    await t.until("waiting");
    const item = t.item();
    if (item?.status !== "waiting") throw new Error("not waiting");
    t.queue.cancel(item.key);
    await new Promise((r) => setTimeout(r, 10));
    expect(aborted).toBe(true);
    expect(t.item()?.status).toBe("cancelled");
  });
});
