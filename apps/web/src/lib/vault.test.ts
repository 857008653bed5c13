/**
 * The vault client against a small in-memory node: real records, real signatures, real age.
 *
 * `FakeNode` keeps only what these tests need of `crates/family-vault/src/vault.rs`, in arrival
 * order (the tests post in HLC order): members and admins, album epochs that never go back and a
 * new key only with a new epoch, grants by admins up to the current epoch, photos encrypted to the
 * current epoch by a holder of its key, and no new photo in an album after a revocation or the
 * removal of a holder until the album has a new epoch. It serves every record to every member
 * (except the ones a test `hidden`, as the node does with an album not shared with the reader yet),
 * and hands the whole log and every blob to the attacker: the worst case.
 */
import { describe, expect, it } from "vitest";
import { ApiError, type ApiClient } from "./api.ts";
import type { AlbumDetail, LogEntry, MemberView, PhotoPage } from "./apiTypes.ts";
import { newAlbumKey, openAlbumKeySecret, openMeta, sealAlbumKey, sealMeta } from "./albumKeys.ts";
import { CryptError, decryptWithIdentities, type AgeIdentity } from "./crypt.ts";
import { HlcClock, wallMsTextIsSafe } from "./hlc.ts";
import { generateIdentityFile, importIdentity, type IdentityKeys } from "./identity.ts";
import { openBlob, openPhotoMeta, preparePhoto, uploadPhoto } from "./photos.ts";
import { signRecord, verifyRecord, type SignedRecord } from "./records.ts";
import { UploadQueue, type UploadItem } from "./uploadQueue.ts";
import { Vault } from "./vault.ts";
import {
  albumRecord,
  familyRecord,
  grantRecord,
  memberRecord,
  newObjectId,
  parseBody,
  type Body,
  type Role,
} from "./vaultRecords.ts";

const refuse = (message: string, rule?: string) => new ApiError(403, "record_refused", message, { rule });

interface Person {
  keys: IdentityKeys;
  /** The identity file's age secret: what a person who keeps everything keeps. */
  ageSecret: string;
}

async function person(): Promise<Person> {
  const file = await generateIdentityFile();
  return { keys: await importIdentity(file), ageSecret: file.ageSecretKey };
}

class FakeNode {
  readonly log: SignedRecord[] = [];
  readonly blobs = new Map<string, Blob>();
  family: string | undefined;
  readonly members = new Map<string, { role: Role; recipient: string; removed: boolean }>();
  readonly albums = new Map<string, { epoch: number; recipient: string; meta: string; mustRotate: boolean }>();
  readonly grants = new Map<string, { album: string; member: string; epoch: number; key: string; revoked: boolean }>();
  readonly photos = new Map<string, Extract<Body, { type: "photo" }> & { author: string }>();
  /** Records `GET /v1/records` leaves out for now (their seq stays taken, as on the node). */
  readonly hidden = new Set<SignedRecord>();

  role(who: string): Role | undefined {
    const member = this.members.get(who);
    return member && !member.removed ? member.role : undefined;
  }

  liveGrant(album: string, member: string, epoch: number): boolean {
    const grant = this.grants.get(`${album}/${member}/${epoch}`);
    return grant !== undefined && !grant.revoked;
  }

  async accept(record: SignedRecord): Promise<void> {
    const { signer, body: raw } = await verifyRecord(record);
    const body = raw as unknown as Body;
    if (body.type === "family") {
      if (this.family) throw refuse("the family already exists");
      this.family = body.family;
      this.members.set(signer, { role: "admin", recipient: "", removed: false });
    } else {
      if (body.family !== this.family) throw refuse("this record belongs to another family");
      const role = this.role(signer);
      if (!role) throw new ApiError(403, "not_a_member", "the signer is not a member of this family");
      const admin = role === "admin";
      switch (body.type) {
        case "member": {
          if (!admin) throw refuse("only an admin may add, change or remove members");
          if (body.removed) {
            for (const grant of this.grants.values()) {
              if (grant.member !== body.member || grant.revoked) continue;
              const album = this.albums.get(grant.album);
              if (album) album.mustRotate = true;
            }
          }
          this.members.set(body.member, { role: body.role, recipient: body.recipient, removed: body.removed });
          break;
        }
        case "album": {
          if (!admin) throw refuse("only an admin may create or change albums");
          const current = this.albums.get(body.album);
          if (current && body.epoch < current.epoch) throw refuse("an album's epoch never goes back");
          if (body.epoch === current?.epoch && body.recipient !== current.recipient) {
            throw refuse("a new album key needs a new epoch");
          }
          const mustRotate = current?.mustRotate === true && body.epoch === current.epoch;
          this.albums.set(body.album, { epoch: body.epoch, recipient: body.recipient, meta: body.meta, mustRotate });
          break;
        }
        case "grant": {
          if (!admin) throw refuse("only an admin may grant album keys");
          const album = this.albums.get(body.album);
          if (!album) throw refuse("no such album");
          if (!this.role(body.member)) throw refuse("not a member of this family");
          if (body.epoch > album.epoch) throw refuse("that epoch of this album does not exist yet");
          if (body.revoked) album.mustRotate = true;
          const { album: a, member, epoch, key, revoked } = body;
          this.grants.set(`${a}/${member}/${epoch}`, { album: a, member, epoch, key, revoked });
          break;
        }
        case "photo": {
          const album = this.albums.get(body.album);
          if (!album) throw refuse("no such album");
          if (!this.liveGrant(body.album, signer, body.epoch)) throw refuse("the signer has no key for that epoch");
          if (this.photos.has(body.photo)) throw refuse("these tests only add photos");
          if (body.epoch !== album.epoch) throw refuse("photos are encrypted to the album's current epoch");
          if (album.mustRotate) throw refuse("the album key must be rotated after a revocation", "key_not_rotated");
          this.photos.set(body.photo, { ...body, author: signer });
          break;
        }
      }
    }
    this.log.push(record);
  }

  /** The API as `keys` sees it once signed in. */
  client(keys: IdentityKeys): ApiClient {
    const member = () => {
      if (!this.role(keys.id)) throw new ApiError(403, "not_a_member", "not a member of this family");
    };
    const unused = () => Promise.reject(new Error("not part of the fake node"));
    const detail = (id: string): AlbumDetail => {
      member();
      const album = this.albums.get(id);
      if (!album) throw new ApiError(404, "not_found", "no such album");
      const keysOf = [...this.grants.values()]
        .filter((g) => g.album === id && g.member === keys.id && !g.revoked)
        .map(({ epoch, key }) => ({ epoch, key }))
        .sort((a, b) => a.epoch - b.epoch);
      if (keysOf.length === 0) throw new ApiError(403, "forbidden", "this album is not shared with you");
      const photoList = [...this.photos.values()].filter((p) => p.album === id);
      const { epoch, recipient, meta } = album;
      const bytes = photoList.reduce((sum, p) => sum + p.size, 0);
      return { id, epoch, recipient, meta, photos: photoList.length, bytes, keys: keysOf };
    };
    // One page holds every photo here (the node's paging is tested in Rust).
    const page = (id: string): PhotoPage => {
      detail(id);
      const photos = [...this.photos.values()]
        .filter((p) => p.album === id)
        .map((p) => ({
          id: p.photo,
          album: id,
          epoch: p.epoch,
          blob: p.blob,
          size: p.size,
          thumb: p.thumb,
          meta: p.meta,
          author: p.author,
          cursor: p.photo,
          nodes: [],
        }));
      return { photos, next: null };
    };
    return {
      health: unused,
      setup: unused,
      challenge: unused,
      verify: unused,
      me: unused,
      logout: unused,
      postRecord: async (record) => {
        member();
        await this.accept(record);
        return { seq: this.log.length, current: true };
      },
      records: (since = 0, limit = 1000) => {
        member();
        const entries: LogEntry[] = this.log.map((record, i) => ({ seq: i + 1, record }));
        return Promise.resolve(entries.filter((e) => e.seq > since && !this.hidden.has(e.record)).slice(0, limit));
      },
      members: () => {
        member();
        const views: MemberView[] = [...this.members]
          .filter(([, m]) => !m.removed)
          .map(([identity, { role, recipient }]) => ({ identity, role, recipient }));
        return Promise.resolve(views);
      },
      albums: unused,
      album: (id) => Promise.resolve().then(() => detail(id)),
      albumPhotos: (id) => Promise.resolve().then(() => page(id)),
      timeline: unused,
      replicationChanges: unused,
      putBlob: (id, body) => {
        this.blobs.set(id, body);
        return Promise.resolve({ id, size: body.size });
      },
      getBlob: (id) => Promise.resolve(this.blobs.get(id) ?? new Blob()),
      replicationStatus: unused,
      nodes: unused,
      enroll: unused,
      addPeer: unused,
      removePeer: unused,
      trash: unused,
      openInvite: unused,
      invites: unused,
      closeInvite: unused,
      join: unused,
    };
  }
}

/** A node founded by `admin`, and the admin's vault on it. */
async function foundedNode(admin: Person): Promise<{ node: FakeNode; vault: Vault }> {
  const node = new FakeNode();
  const clock = new HlcClock();
  const ctx = { signer: admin.keys, family: newObjectId(), hlc: () => clock.tick() };
  await node.accept(await familyRecord(ctx));
  await node.accept(
    await memberRecord(ctx, { member: admin.keys.id, role: "admin", recipient: admin.keys.recipient, removed: false }),
  );
  const vault = new Vault(node.client(admin.keys), admin.keys);
  await vault.refresh();
  return { node, vault };
}

async function join(node: FakeNode, admin: Vault, who: Person, role: Role = "member"): Promise<Vault> {
  await admin.addMember(who.keys.id, who.keys.recipient, role);
  const vault = new Vault(node.client(who.keys), who.keys);
  await vault.refresh();
  return vault;
}

async function view(vault: Vault, who: Person): Promise<MemberView> {
  const member = (await vault.api.members()).find((m) => m.identity === who.keys.id);
  if (!member) throw new Error("not a member");
  return member;
}

/** Add a photo the way the album page does: to the album's current epoch and recipient. */
async function addPhoto(vault: Vault, album: string, name: string): Promise<{ photo: string; bytes: Uint8Array }> {
  const bytes = crypto.getRandomValues(new Uint8Array(5_000));
  const target = await vault.uploadTarget(album);
  const prepared = await preparePhoto(new File([bytes], name, { type: "application/octet-stream" }), target.recipient);
  return { photo: await uploadPhoto(vault.api, vault.context(), target, prepared), bytes };
}

/** Everything a member who keeps everything has: every grant file they ever got, opened. */
async function keepEverything(kept: AgeIdentity[], who: Person, node: FakeNode): Promise<void> {
  for (const record of node.log) {
    const { body } = parseBody(record);
    if (body.type !== "grant" || body.revoked) continue;
    const secret = await openAlbumKeySecret(body.key, who.keys.ageKey).catch(() => undefined);
    if (secret !== undefined && !kept.includes(secret)) kept.push(secret);
  }
}

/** What `kept` opens of a photo: its blob and meta, or the reason it does not. */
async function tryOpen(node: FakeNode, photo: string, kept: AgeIdentity[]) {
  const stored = node.photos.get(photo);
  if (!stored) throw new Error("no such photo");
  const ciphertext = new Uint8Array(await (node.blobs.get(stored.blob) ?? new Blob()).arrayBuffer());
  const blob = await decryptWithIdentities(ciphertext, kept).then(
    (bytes) => bytes,
    (error: unknown) => error,
  );
  const meta = await openMeta<{ name: string }>(stored.meta, kept).then(
    (value) => value,
    (error: unknown) => error,
  );
  return { blob, meta, epoch: stored.epoch };
}

describe("revocation rotates the album key", () => {
  it("a revoked member who kept every key and ciphertext cannot open a photo added after the revocation", async () => {
    const alice = await person();
    const bob = await person();
    const { node, vault: admin } = await foundedNode(alice);
    const bobVault = await join(node, admin, bob);
    const album = await admin.createAlbum("Summer");
    const before = await addPhoto(admin, album, "before.jpg");
    await admin.grant({ id: album }, await view(admin, bob));

    // Bob keeps his identity, every album key he was given, every record and every blob.
    const kept: AgeIdentity[] = [bob.ageSecret, bob.keys.ageKey];
    for (const { key } of (await bobVault.api.album(album)).keys) {
      kept.push(await openAlbumKeySecret(key, bob.keys.ageKey));
    }
    const old = await tryOpen(node, before.photo, kept);
    expect(old.blob).toEqual(before.bytes);
    expect(old.meta).toMatchObject({ name: "before.jpg" });

    const rotation = await admin.revoke({ id: album }, await view(admin, bob));
    expect(rotation).toEqual({ album, rotated: true, epoch: 1 });
    expect(admin.hasGrant(album, bob.keys.id, 0)).toBe(false);
    expect(admin.hasGrant(album, alice.keys.id, 1)).toBe(true);
    // Bob's own client loses the album at once.
    await expect(bobVault.api.album(album)).rejects.toMatchObject({ status: 403 });

    const after = await addPhoto(admin, album, "after.jpg");
    await keepEverything(kept, bob, node);
    expect(kept).toHaveLength(3); // his identity (twice) and the epoch-0 key: nothing of epoch 1
    const added = await tryOpen(node, after.photo, kept);
    expect(added.epoch).toBe(1);
    expect(added.blob).toBeInstanceOf(CryptError);
    expect(added.blob).toMatchObject({ kind: "no-identity" });
    expect(added.meta).toBeInstanceOf(CryptError);
    expect(added.meta).toMatchObject({ kind: "no-identity" });

    // The admin still opens both, and the album's title survived the new key.
    const opened = await admin.openAlbum(album);
    expect(opened.title).toBe("Summer");
    expect([...opened.keys.keys()]).toEqual([0, 1]);
    for (const { photo, bytes } of [before, after]) {
      const stored = (await admin.api.albumPhotos(album)).photos.find((p) => p.id === photo);
      if (!stored) throw new Error("photo missing");
      const blob = await openBlob(admin.api, stored.blob, opened.keyList);
      expect(new Uint8Array(await blob.arrayBuffer())).toEqual(bytes);
    }
  });

  it("refuses photos until the key is rotated, and a newly shared member gets every epoch", async () => {
    const alice = await person();
    const bob = await person();
    const carol = await person();
    const { node, vault: admin } = await foundedNode(alice);
    await join(node, admin, bob);
    const album = await admin.createAlbum("Garden");
    await admin.grant({ id: album }, await view(admin, bob));
    const first = await addPhoto(admin, album, "first.jpg");

    // A revocation alone (as another client might post it): the node takes no new photo.
    await admin.api.postRecord(
      await grantRecord(admin.context(), { album, member: bob.keys.id, epoch: 0, key: "", revoked: true }),
    );
    await expect(addPhoto(admin, album, "refused.jpg")).rejects.toMatchObject({ code: "record_refused" });
    expect(await admin.rotate(album)).toEqual({ album, rotated: true, epoch: 1 });
    const second = await addPhoto(admin, album, "second.jpg");

    const carolVault = await join(node, admin, carol);
    await admin.grant({ id: album }, await view(admin, carol));
    const opened = await carolVault.openAlbum(album);
    expect([...opened.keys.keys()]).toEqual([0, 1]);
    for (const { photo, bytes } of [first, second]) {
      const stored = (await carolVault.api.albumPhotos(album)).photos.find((p) => p.id === photo);
      if (!stored) throw new Error("photo missing");
      expect(new Uint8Array(await (await openBlob(carolVault.api, stored.blob, opened.keyList)).arrayBuffer())).toEqual(
        bytes,
      );
      expect((await openPhotoMeta(stored, opened.keyList)).name).toMatch(/^(first|second)\.jpg$/);
    }
  });

  it("removing a member rotates the albums they held, and names who must rotate the others", async () => {
    const alice = await person();
    const bob = await person();
    const carol = await person();
    const { node, vault: admin } = await foundedNode(alice);
    await join(node, admin, bob);
    const carolVault = await join(node, admin, carol, "admin");
    const shared = await admin.createAlbum("Shared");
    const closed = await admin.createAlbum("Closed");
    for (const album of [shared, closed]) await admin.grant({ id: album }, await view(admin, bob));
    await admin.grant({ id: shared }, await view(admin, carol));
    await admin.grant({ id: closed }, await view(admin, carol));
    // Closed moves on to epoch 1 without Carol: she holds only its old key.
    const next = await newAlbumKey();
    await admin.api.postRecord(
      await albumRecord(admin.context(), {
        album: closed,
        epoch: 1,
        recipient: next.recipient,
        meta: await sealMeta({ title: "Closed" }, next.recipient),
        deleted: false,
      }),
    );
    for (const who of [alice, bob]) {
      await admin.api.postRecord(
        await grantRecord(admin.context(), {
          album: closed,
          member: who.keys.id,
          epoch: 1,
          key: await sealAlbumKey(next.secret, who.keys.recipient),
          revoked: false,
        }),
      );
    }
    const kept: AgeIdentity[] = [bob.ageSecret];
    await keepEverything(kept, bob, node);

    const rotations = await carolVault.removeMember(await view(carolVault, bob));
    expect(rotations).toEqual([
      ...[
        { album: shared, rotated: true, epoch: 1 },
        { album: closed, rotated: false, holders: [alice.keys.id] },
      ].sort((a, b) => a.album.localeCompare(b.album)),
    ]);
    await expect(addPhoto(admin, closed, "refused.jpg")).rejects.toMatchObject({ code: "record_refused" });
    expect(await admin.rotate(closed)).toEqual({ album: closed, rotated: true, epoch: 2 });
    // Carol held a key to Closed, so the new epoch is hers too.
    expect(admin.hasGrant(closed, carol.keys.id, 2)).toBe(true);

    for (const album of [shared, closed]) {
      const { photo } = await addPhoto(admin, album, "new.jpg");
      await keepEverything(kept, bob, node);
      const attempt = await tryOpen(node, photo, kept);
      expect(attempt.blob).toMatchObject({ kind: "no-identity" });
      expect(attempt.meta).toMatchObject({ kind: "no-identity" });
    }
  });
});

describe("an upload around a rotation", () => {
  it("meets key_not_rotated, waits for the new epoch and its key, and is encrypted to the new key", async () => {
    const alice = await person();
    const bob = await person();
    const carol = await person();
    const { node, vault: admin } = await foundedNode(alice);
    const bobVault = await join(node, admin, bob);
    await join(node, admin, carol);
    const album = await admin.createAlbum("Around");
    for (const who of [bob, carol]) await admin.grant({ id: album }, await view(admin, who));
    // Carol's key is revoked (by another client, say): the album takes no new photo for now.
    await admin.api.postRecord(
      await grantRecord(admin.context(), { album, member: carol.keys.id, epoch: 0, key: "", revoked: true }),
    );

    // While Bob's file waits, an admin starts epoch 1 (her own key first), then grants it to Bob.
    const next = await newAlbumKey();
    const rotation = [
      async () => {
        await admin.api.postRecord(
          await albumRecord(admin.context(), {
            album,
            epoch: 1,
            recipient: next.recipient,
            meta: await sealMeta({ title: "Around" }, next.recipient),
            deleted: false,
          }),
        );
        await admin.api.postRecord(
          await grantRecord(admin.context(), {
            album,
            member: alice.keys.id,
            epoch: 1,
            key: await sealAlbumKey(next.secret, alice.keys.recipient),
            revoked: false,
          }),
        );
      },
      async () => {
        await admin.api.postRecord(
          await grantRecord(admin.context(), {
            album,
            member: bob.keys.id,
            epoch: 1,
            key: await sealAlbumKey(next.secret, bob.keys.recipient),
            revoked: false,
          }),
        );
      },
    ];
    const slept: number[] = [];
    const refusals: string[] = [];
    const queue = new UploadQueue({
      api: {
        ...bobVault.api,
        postRecord: (record) =>
          bobVault.api.postRecord(record).catch((error: unknown) => {
            if (error instanceof ApiError) refusals.push(error.message);
            throw error;
          }),
      },
      context: () => bobVault.context(),
      target: () =>
        bobVault.uploadTarget(album).catch((error: unknown) => {
          if (error instanceof Error) refusals.push(error.message);
          throw error;
        }),
      prepare: (file, recipient) => preparePhoto(file, recipient),
      sleep: async (ms) => {
        slept.push(ms);
        await rotation.shift()?.();
      },
    });
    let items: UploadItem[] = [];
    queue.subscribe((now) => (items = now));
    const bytes = crypto.getRandomValues(new Uint8Array(5_000));
    queue.add([new File([bytes], "during.jpg", { type: "application/octet-stream" })]);
    for (let i = 0; i < 200 && !["done", "failed"].includes(items[0]?.status ?? ""); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }

    expect(items[0]).toMatchObject({ status: "done" });
    expect(refusals).toEqual([
      "the album key must be rotated after a revocation",
      "You hold no key for this album's current epoch, so you cannot add photos to it.",
    ]);
    expect(slept).toEqual([1_000, 2_000]);
    const photo = items[0]?.photo ?? "";
    const epoch1 = await openAlbumKeySecret((await bobVault.api.album(album)).keys[1]?.key ?? "", bob.keys.ageKey);
    const epoch0 = await openAlbumKeySecret((await bobVault.api.album(album)).keys[0]?.key ?? "", bob.keys.ageKey);
    const opened = await tryOpen(node, photo, [epoch1]);
    expect(opened.epoch).toBe(1);
    expect(opened.blob).toEqual(bytes);
    expect(opened.meta).toMatchObject({ name: "during.jpg" });
    expect((await tryOpen(node, photo, [epoch0])).blob).toMatchObject({ kind: "no-identity" });
  });
});

/**
 * Alice's album, shared with `holders` (and moved on to epoch 1 if `rotated`) while the node kept
 * it out of Carol's reads, then shared with Carol too: her client read the log in between, so its
 * cursor is past the album's earlier records, and reading on from there never brings them.
 */
async function sharedLater(holders: Person[], rotated = false) {
  const alice = await person();
  const carol = await person();
  const { node, vault: admin } = await foundedNode(alice);
  for (const who of holders) await join(node, admin, who);
  const carolVault = await join(node, admin, carol, "admin");
  const first = node.log.length;
  const album = await admin.createAlbum("Later");
  for (const who of holders) await admin.grant({ id: album }, await view(admin, who));
  if (rotated) expect(await admin.rotate(album)).toMatchObject({ rotated: true, epoch: 1 });
  for (const record of node.log.slice(first)) node.hidden.add(record);
  // The family goes on where Carol can read it: her cursor moves past the album's records.
  const erin = await person();
  await admin.addMember(erin.keys.id, erin.keys.recipient);
  await carolVault.refresh();
  expect(carolVault.state.seq).toBe(node.log.length);
  // Now shared with Carol: the node serves the album's records to her from here on.
  await admin.grant({ id: album }, await view(admin, carol));
  node.hidden.clear();
  await carolVault.refresh();
  for (const who of holders) expect(carolVault.hasGrant(album, who.keys.id, 0)).toBe(false);
  return { node, alice, carolVault, album };
}

describe("key operations read the whole log again", () => {
  it("a rotation gives the new key to a holder whose grant the client's cursor had passed", async () => {
    const bob = await person();
    const { node, alice, carolVault, album } = await sharedLater([bob]);
    expect(await carolVault.rotate(album)).toEqual({ album, rotated: true, epoch: 1 });
    expect(node.liveGrant(album, bob.keys.id, 1)).toBe(true);
    expect(node.liveGrant(album, alice.keys.id, 1)).toBe(true);
    expect(carolVault.hasGrant(album, bob.keys.id, 0)).toBe(true);
  });

  it("a revocation revokes the older epochs the client had not seen, and keeps the other holders", async () => {
    const bob = await person();
    const dave = await person();
    const { node, alice, carolVault, album } = await sharedLater([bob, dave], true);
    const rotation = await carolVault.revoke({ id: album }, await view(carolVault, bob));
    expect(rotation).toEqual({ album, rotated: true, epoch: 2 });
    expect([0, 1, 2].map((epoch) => node.liveGrant(album, bob.keys.id, epoch))).toEqual([false, false, false]);
    expect(node.liveGrant(album, dave.keys.id, 2)).toBe(true);
    expect(node.liveGrant(album, alice.keys.id, 2)).toBe(true);
  });

  it("removing a member rotates an album whose grant to them the client had not seen", async () => {
    const bob = await person();
    const dave = await person();
    const { node, carolVault, album } = await sharedLater([bob, dave]);
    const rotations = await carolVault.removeMember(await view(carolVault, bob));
    expect(rotations).toEqual([{ album, rotated: true, epoch: 1 }]);
    expect(node.liveGrant(album, dave.keys.id, 1)).toBe(true);
    expect(node.liveGrant(album, bob.keys.id, 1)).toBe(false);
  });
});

/** A family record stamped with `wall_ms` exactly as written (a u64 JSON.parse cannot hold). */
async function familyAt(signer: IdentityKeys, family: string, wallMs: string): Promise<SignedRecord> {
  const text = `{"type":"family","v":1,"family":"${family}","hlc":{"wall_ms":${wallMs},"counter":0}}`;
  return signRecord(new TextEncoder().encode(text), signer);
}

/** A vault whose log holds only `record`, and the next record it signs. */
async function nextAfter(record: SignedRecord, keys: IdentityKeys) {
  const api = { records: () => Promise.resolve([{ seq: 1, record }]) } as unknown as ApiClient;
  const vault = new Vault(api, keys);
  const before = Date.now();
  await vault.refresh();
  const next = await memberRecord(vault.context(), {
    member: keys.id,
    role: "admin",
    recipient: keys.recipient,
    removed: false,
  });
  const { body, text } = parseBody(next);
  return { vault, before, after: Date.now(), hlc: body.hlc, text };
}

describe("the vault's clock", () => {
  it("a u64 wall_ms in the log does not move the clock; the next record is stamped now", async () => {
    const { keys } = await person();
    const record = await familyAt(keys, newObjectId(), "18446744073709551615");
    const { vault, before, after, hlc, text } = await nextAfter(record, keys);
    expect(vault.state.family).toBeDefined();
    expect(vault.state.newest).toEqual({ wall_ms: 0, counter: 0 });
    expect(wallMsTextIsSafe(text)).toBe(true);
    expect(hlc.wall_ms).toBeGreaterThanOrEqual(before);
    expect(hlc.wall_ms).toBeLessThanOrEqual(after);
  });

  it("a record ten minutes ahead does not move the clock either", async () => {
    const { keys } = await person();
    const record = await familyAt(keys, newObjectId(), String(Date.now() + 10 * 60_000));
    const { vault, before, after, hlc } = await nextAfter(record, keys);
    expect(vault.state.newest).toEqual({ wall_ms: 0, counter: 0 });
    expect(hlc.wall_ms).toBeGreaterThanOrEqual(before);
    expect(hlc.wall_ms).toBeLessThanOrEqual(after);
  });

  it("a record a little ahead (within a minute) is followed", async () => {
    const { keys } = await person();
    const ahead = Date.now() + 20_000;
    const { vault, hlc } = await nextAfter(await familyAt(keys, newObjectId(), String(ahead)), keys);
    expect(vault.state.newest).toEqual({ wall_ms: ahead, counter: 0 });
    // Observed (counter 1), then ticked: after the record, at its millisecond.
    expect(hlc).toEqual({ wall_ms: ahead, counter: 2 });
  });
});
