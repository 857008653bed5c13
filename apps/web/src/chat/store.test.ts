import { describe, expect, it } from "vitest";
import { nearbyTags } from "./crypto.ts";
import { mergeNearby, parseNearbyProfile } from "./nearby.ts";
import { advances, ChatStore, ChatStoreError, memoryBackend, pendingOutbox, type StoredMessage } from "./store.ts";

const CONTACT = {
  id: "ann",
  name: "Ann",
  secret: "A".repeat(42) + "A",
  lastSeen: 1,
  addedAt: 1,
  rendezvous: false,
};

function msg(id: string, at: number, status: StoredMessage["status"], from: "me" | "them" = "me"): StoredMessage {
  return { id, from, at, text: `text ${id}`, status };
}

describe("ChatStore", () => {
  it("seals every record with a non-extractable key and opens it again after a reopen", async () => {
    const backend = memoryBackend();
    const store = await ChatStore.open(backend);
    await store.saveProfile({ name: "Ben", visible: false });
    await store.saveContact(CONTACT);
    await store.addMessage("ann", msg("m1", 10, "sent"));
    await store.putImage("m1", new Uint8Array([1, 2, 3]));

    const key = backend.raw.get("key");
    expect(key).toBeInstanceOf(CryptoKey);
    expect((key as CryptoKey).extractable).toBe(false);
    // Nothing readable at rest: no name, no text, no image byte.
    for (const [name, value] of backend.raw) {
      if (name === "key") continue;
      const bytes = (value as { data: Uint8Array }).data;
      const text = new TextDecoder().decode(bytes);
      expect(text).not.toContain("Ben");
      expect(text).not.toContain("text m1");
    }

    const again = await ChatStore.open(backend);
    expect(await again.profile()).toEqual({ name: "Ben", visible: false });
    expect((await again.contacts()).map((c) => c.name)).toEqual(["Ann"]);
    expect((await again.messages("ann")).map((m) => m.text)).toEqual(["text m1"]);
    expect(await again.image("m1")).toEqual(new Uint8Array([1, 2, 3]));
  });

  it("refuses a record moved under another name, and a record sealed under another key", async () => {
    const backend = memoryBackend();
    const store = await ChatStore.open(backend);
    await store.addMessage("ann", msg("m1", 10, "sent"));
    backend.raw.set("chat:cid", backend.raw.get("chat:ann"));
    await expect(store.messages("cid")).rejects.toBeInstanceOf(ChatStoreError);

    const other = memoryBackend();
    const otherStore = await ChatStore.open(other);
    await otherStore.addMessage("ann", msg("m2", 10, "sent"));
    backend.raw.set("chat:ann", other.raw.get("chat:ann"));
    await expect(store.messages("ann")).rejects.toThrow(/does not open/);
  });

  it("keeps the outbox in order, sends each once, and moves statuses forward only", async () => {
    const store = await ChatStore.open(memoryBackend());
    await store.addMessage("ann", msg("b", 20, "queued"));
    await store.addMessage("ann", msg("a", 10, "queued"));
    await store.addMessage("ann", msg("t", 15, "received", "them"));
    await store.addMessage("ann", msg("a", 99, "queued")); // same id: ignored
    expect((await store.outbox("ann")).map((m) => m.id)).toEqual(["a", "b"]);

    await store.setStatus("ann", "a", "sent");
    expect((await store.outbox("ann")).map((m) => m.id)).toEqual(["b"]);
    await store.setStatus("ann", "a", "read");
    await store.setStatus("ann", "a", "delivered"); // a late delivered receipt does not undo read
    expect((await store.messages("ann")).find((m) => m.id === "a")?.status).toBe("read");
    expect(advances("received", "read")).toBe(true);
    expect(advances("sent", "received")).toBe(false);
    expect(pendingOutbox([msg("x", 1, "queued", "them")])).toEqual([]);
  });

  it("searches, deletes a message and its image, and deletes a chat", async () => {
    const store = await ChatStore.open(memoryBackend());
    await store.addMessage("ann", { ...msg("m1", 10, "sent"), text: "Lunch at noon?" });
    await store.addMessage("ann", { ...msg("m2", 20, "received", "them"), text: "yes, LUNCH" });
    await store.addMessage("cid", {
      id: "i1",
      from: "me",
      at: 5,
      image: { name: "lunch.png", type: "image/png", size: 3 },
      status: "sent",
    });
    await store.putImage("i1", new Uint8Array([9, 9, 9]));
    expect((await store.search("lunch")).map((r) => r.message.id)).toEqual(["m2", "m1", "i1"]);
    expect(await store.search("   ")).toEqual([]);

    await store.deleteMessage("ann", "m1");
    expect((await store.messages("ann")).map((m) => m.id)).toEqual(["m2"]);
    await store.deleteChat("cid");
    expect(await store.messages("cid")).toEqual([]);
    expect(await store.image("i1")).toBeUndefined();
  });

  it("updates a contact met again with a new secret, keeping when it was added and its rendezvous", async () => {
    const store = await ChatStore.open(memoryBackend());
    await store.saveContact({ ...CONTACT, rendezvous: true });
    await store.updateContact("ann", { rendezvous: true });
    await store.saveContact({ ...CONTACT, secret: "B".repeat(43), addedAt: 50, lastSeen: 60, rendezvous: true });
    const [ann] = await store.contacts();
    expect(ann).toMatchObject({ secret: "B".repeat(43), addedAt: 1, lastSeen: 60, rendezvous: true });
    await store.deleteContact("ann");
    expect(await store.contacts()).toEqual([]);
  });
});

describe("nearby", () => {
  const secretA = new Uint8Array(32).fill(7);
  const secretB = new Uint8Array(32).fill(8);
  const s1 = "AAAAAAAAAAAAAAAAAAAAAA";

  async function profile(name: string, secrets: Uint8Array[], s = s1) {
    return { app: "chat", v: 1, name, s, t: await nearbyTags(secrets, s) };
  }

  it("shows a contact once, by its tag, and strangers by name and short id", async () => {
    const peers = [
      { peer: "p-self", profile: await profile("Me", []) },
      { peer: "p-ann-1", profile: await profile("Ann", [secretA]) },
      { peer: "p-ann-1", profile: await profile("Ann", [secretA]) }, // seen in two network namespaces
      { peer: "p-cid-2", profile: await profile("Cid", [secretB]) },
      { peer: "p-vault", profile: { name: "a node" } }, // not chat
    ];
    const merged = await mergeNearby(peers, [{ id: "ann-id", secret: secretA }], "p-self");
    expect(merged).toEqual([
      { peer: "p-ann-1", name: "Ann", shortId: "pann1", contact: "ann-id" },
      { peer: "p-cid-2", name: "Cid", shortId: "pcid2" },
    ]);
  });

  it("does not recognise a contact by another session's tags, and checks profiles strictly", async () => {
    const replay = await profile("Ann", [secretA], "BBBBBBBBBBBBBBBBBBBBBB");
    // The tags are for session BBB…; a profile that says another `s` does not match.
    const forged = { ...replay, s: s1 };
    const merged = await mergeNearby([{ peer: "x", profile: forged }], [{ id: "ann-id", secret: secretA }], undefined);
    expect(merged[0]?.contact).toBeUndefined();
    expect(parseNearbyProfile({ ...replay, t: replay.t.slice(1) })).toBeUndefined();
    expect(parseNearbyProfile({ ...replay, name: " Ann" })).toBeUndefined();
    expect(parseNearbyProfile({ ...replay, v: 2 })).toBeUndefined();
    expect(parseNearbyProfile(replay)).toEqual({ name: "Ann", s: replay.s, t: replay.t });
  });
});
