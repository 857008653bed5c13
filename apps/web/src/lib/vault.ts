/**
 * The family vault as one client sees it: claim a node, read the record log, create albums, add
 * members, grant and revoke album keys, open album titles. Every record is signed here and checked
 * again by the node (`crates/family-vault/src/vault.rs`).
 *
 * Revocation rotates (DESIGN.md §8): revoking a member's access to an album, or removing them from
 * the family, starts a new epoch of the album with a fresh key that only the remaining holders get.
 * New photos are encrypted to the current epoch only, so the keys the person kept open nothing new.
 */
import { ApiError, type ApiClient } from "./api.ts";
import type { AlbumDetail, AlbumView, Me, MemberView } from "./apiTypes.ts";
import {
  newAlbumKey,
  openAlbumKey,
  openAlbumKeySecret,
  openMeta,
  sealAlbumKey,
  sealMeta,
  type AlbumMeta,
} from "./albumKeys.ts";
import { P2posError } from "./errors.ts";
import { HlcClock } from "./hlc.ts";
import type { IdentityKeys } from "./identity.ts";
import { recipientOf } from "./identityFile.ts";
import type { UploadTarget } from "./photos.ts";
import { canonicalReadableId } from "./readableId.ts";
import { signIn } from "./session.ts";
import {
  albumsHeldBy,
  emptyVaultState,
  foldRecords,
  hasGrant,
  liveGrants,
  signedEntries,
  type VaultState,
} from "./vaultState.ts";
import {
  albumRecord,
  familyRecord,
  grantRecord,
  memberRecord,
  newObjectId,
  type RecordContext,
  type Role,
} from "./vaultRecords.ts";

export type Keys = Pick<IdentityKeys, "id" | "recipient" | "signingKey" | "ageKey">;

/**
 * `no_current_key`: we hold no key to the album's current epoch (not shared with us, or a new
 * epoch whose key has not been granted to us yet: right after a rotation, for a moment).
 * `recipient_mismatch`: the node names another recipient for the album than the key we hold.
 */
export class VaultError extends P2posError<"no_current_key" | "recipient_mismatch"> {}

/** Normalise a setup code as printed (`ABCDE-FGHJK`), forgiving case and spaces. */
export function normaliseSetupCode(code: string): string {
  return code.trim().toUpperCase().replace(/\s+/g, "");
}

/** Found a family on a fresh node with its setup code, then sign in. */
export async function claimNode(api: ApiClient, keys: Keys, code: string, clock = new HlcClock()): Promise<Me> {
  const ctx: RecordContext = { signer: keys, family: newObjectId(), hlc: () => clock.tick() };
  const records = [
    await familyRecord(ctx),
    await memberRecord(ctx, { member: keys.id, role: "admin", recipient: keys.recipient, removed: false }),
  ];
  await api.setup({ code: normaliseSetupCode(code), records });
  return signIn(api, keys);
}

/** A signed-in member's view of the family: the folded log and a clock that is past all of it. */
export class Vault {
  readonly api: ApiClient;
  readonly keys: Keys;
  readonly clock = new HlcClock();
  #state: VaultState = emptyVaultState();

  constructor(api: ApiClient, keys: Keys) {
    this.api = api;
    this.keys = keys;
  }

  /** The folded log as last read. A full refresh replaces it with a new object. */
  get state(): VaultState {
    return this.#state;
  }

  /**
   * Read the log since the last time (all of it the first time). `full`: read it again from the
   * start into a fresh state. The node serves only the records we may read that it has applied
   * at the time of the read, so reading on from our cursor never brings the ones that become
   * readable later (an album shared with us since, a refused record the node now applies): key
   * operations, which must know every holder, start with a full read.
   */
  async refresh(options: { full?: boolean } = {}): Promise<void> {
    const state = options.full === true ? emptyVaultState() : this.#state;
    for (;;) {
      // Members, albums and keys: photo records are not folded here (they come a page at a time).
      const page = await this.api.records(state.seq, 1000, { photos: false });
      foldRecords(state, await signedEntries(page));
      if (page.length < 1000) break;
    }
    // Only now, whole: until then the incremental reads (and the pages) went on with the old one.
    if (options.full === true) this.#state = state;
    // Our next writes must come after everything the family has written. The fold only keeps a
    // timestamp the clock may observe, and time has moved on since: this cannot be too far ahead.
    try {
      this.clock.observe(state.newest);
    } catch {
      // A newest timestamp the clock refuses changes nothing.
    }
  }

  get family(): string {
    if (!this.state.family) throw new Error("no family yet: the node has no records");
    return this.state.family;
  }

  context(): RecordContext {
    return { signer: this.keys, family: this.family, hlc: () => this.clock.tick() };
  }

  /** Create an album (admins) and grant its key to ourselves. Returns the album id. */
  async createAlbum(title: string): Promise<string> {
    const albumKey = await newAlbumKey();
    const album = newObjectId();
    const meta: AlbumMeta = { title, created_ms: Date.now() };
    const ctx = this.context();
    await this.api.postRecord(
      await albumRecord(ctx, {
        album,
        epoch: 0,
        recipient: albumKey.recipient,
        meta: await sealMeta(meta, albumKey.recipient),
        deleted: false,
      }),
    );
    await this.api.postRecord(
      await grantRecord(ctx, {
        album,
        member: this.keys.id,
        epoch: 0,
        key: await sealAlbumKey(albumKey.secret, this.keys.recipient),
        revoked: false,
      }),
    );
    await this.refresh();
    return album;
  }

  /** Add (or change) a member (admins). The id alone cannot be encrypted to: the recipient comes along. */
  async addMember(id: string, recipient: string, role: Role = "member"): Promise<string> {
    const member = canonicalReadableId(id);
    const to = recipient.trim();
    if (!/^age1[0-9a-z]{58}$/.test(to)) throw new TypeError("That is not an age recipient (age1… , 62 characters).");
    await this.api.postRecord(await memberRecord(this.context(), { member, role, recipient: to, removed: false }));
    await this.refresh();
    return member;
  }

  /**
   * Remove a member (admins), then give every album they held a key to a new key they will not
   * get. Albums whose current key we do not hold cannot be rotated here: they come back with the
   * admins who can (until then the node refuses new photos in them).
   */
  async removeMember(member: MemberView): Promise<Rotation[]> {
    await this.refresh({ full: true });
    const albums = albumsHeldBy(this.state, member.identity);
    await this.api.postRecord(
      await memberRecord(this.context(), {
        member: member.identity,
        role: member.role,
        recipient: member.recipient,
        removed: true,
      }),
    );
    await this.refresh();
    const rotations: Rotation[] = [];
    for (const album of albums) {
      try {
        rotations.push(await this.#rotate(album));
      } catch (error) {
        // The removal stands; the album still needs a new key, from here or another admin.
        rotations.push({ album, rotated: false, holders: [], error });
      }
    }
    return rotations;
  }

  /**
   * Share an album with `member` (admins holding its current key): every epoch we hold a key to,
   * so they can open the older photos too.
   */
  async grant(album: Pick<AlbumDetail, "id">, member: MemberView): Promise<void> {
    // The node's view now: a rotation since the page loaded brought a new epoch.
    const detail = await this.api.album(album.id);
    if (!detail.keys.some((k) => k.epoch === detail.epoch)) {
      throw new VaultError("no_current_key", "You hold no key for this album's current epoch, so you cannot share it.");
    }
    for (const { epoch, key } of [...detail.keys].sort((a, b) => a.epoch - b.epoch)) {
      let secret: string;
      try {
        secret = await openAlbumKeySecret(key, this.keys.ageKey);
      } catch (error) {
        // An older key sealed to a recipient we no longer have: share the rest.
        if (epoch === detail.epoch) throw error;
        continue;
      }
      await this.api.postRecord(
        await grantRecord(this.context(), {
          album: detail.id,
          member: member.identity,
          epoch,
          key: await sealAlbumKey(secret, member.recipient),
          revoked: false,
        }),
      );
    }
    await this.refresh();
  }

  /**
   * Revoke every key `member` holds to the album, then rotate it: new photos are encrypted to a
   * fresh key they will not get. What they could open before, they may have kept.
   */
  async revoke(album: Pick<AlbumDetail, "id">, member: MemberView): Promise<Rotation> {
    await this.refresh({ full: true });
    const detail = await this.api.album(album.id);
    const epochs = new Set([detail.epoch]);
    for (const grant of liveGrants(this.state, album.id)) if (grant.member === member.identity) epochs.add(grant.epoch);
    for (const epoch of [...epochs].sort((a, b) => a - b)) {
      // A revocation carries no key.
      await this.api.postRecord(
        await grantRecord(this.context(), { album: album.id, member: member.identity, epoch, key: "", revoked: true }),
      );
    }
    await this.refresh();
    return this.#rotate(album.id);
  }

  /**
   * Start a new epoch of `album` with a fresh key (admins holding its current key): the album
   * record with the new recipient and the meta sealed to it, then the new key for every current
   * member who holds a key to the album, ourselves first. Without the current key nothing is
   * written and the admins who hold it come back instead.
   */
  async rotate(album: string): Promise<Rotation> {
    await this.refresh({ full: true });
    return this.#rotate(album);
  }

  /** `rotate`, on a state a key operation has just read in full (and kept up since). */
  async #rotate(album: string): Promise<Rotation> {
    let detail: AlbumDetail;
    try {
      detail = await this.api.album(album);
    } catch (error) {
      // Not shared with us (any more): someone else has to.
      if (error instanceof ApiError && error.status === 403) {
        return { album, rotated: false, holders: await this.#keyHolders(album, undefined) };
      }
      throw error;
    }
    const own = detail.keys.find((k) => k.epoch === detail.epoch);
    if (!own) return { album, rotated: false, holders: await this.#keyHolders(album, detail.epoch) };
    const meta = await openMeta<unknown>(detail.meta, [await openAlbumKey(own.key, this.keys.ageKey)]);
    const members = await this.api.members();
    const holders = members.filter(
      (m) => m.identity !== this.keys.id && liveGrants(this.state, album).some((grant) => grant.member === m.identity),
    );
    const next = await newAlbumKey();
    const epoch = detail.epoch + 1;
    await this.api.postRecord(
      await albumRecord(this.context(), {
        album,
        epoch,
        recipient: next.recipient,
        meta: await sealMeta(meta, next.recipient),
        deleted: false,
      }),
    );
    for (const { identity, recipient } of [{ identity: this.keys.id, recipient: this.keys.recipient }, ...holders]) {
      await this.api.postRecord(
        await grantRecord(this.context(), {
          album,
          member: identity,
          epoch,
          key: await sealAlbumKey(next.secret, recipient),
          revoked: false,
        }),
      );
    }
    await this.refresh();
    return { album, rotated: true, epoch };
  }

  /** Current admins holding the newest key of `album` we know of (`epoch`, or the newest granted). */
  async #keyHolders(album: string, epoch: number | undefined): Promise<string[]> {
    const grants = liveGrants(this.state, album);
    const newest = epoch ?? Math.max(-1, ...grants.map((g) => g.epoch));
    const admins = new Set((await this.api.members()).filter((m) => m.role === "admin").map((m) => m.identity));
    return grants
      .filter((g) => g.epoch === newest && admins.has(g.member) && g.member !== this.keys.id)
      .map((g) => g.member)
      .sort();
  }

  /**
   * Where a new photo of `album` goes: its current epoch and recipient as the node has them now,
   * and only if the recipient is the one of the key we hold for that epoch (a node cannot make us
   * encrypt to someone else's key).
   */
  async uploadTarget(album: string): Promise<UploadTarget & { recipient: string }> {
    const detail = await this.api.album(album);
    const own = detail.keys.find((k) => k.epoch === detail.epoch);
    if (!own) {
      throw new VaultError(
        "no_current_key",
        "You hold no key for this album's current epoch, so you cannot add photos to it.",
      );
    }
    const cacheKey = `${album}/${detail.epoch}/${own.key}`;
    let recipient = this.#recipients.get(cacheKey);
    if (recipient === undefined) {
      recipient = recipientOf(await openAlbumKeySecret(own.key, this.keys.ageKey));
      this.#recipients.set(cacheKey, recipient);
    }
    if (recipient !== detail.recipient) {
      throw new VaultError(
        "recipient_mismatch",
        "The album's recipient on the node is not the one of the key you hold: nothing was encrypted.",
      );
    }
    return { album, epoch: detail.epoch, recipient };
  }

  readonly #recipients = new Map<string, string>();
  readonly #albumKeys = new Map<string, CryptoKey>();
  readonly #keyLists = new Map<string, CryptoKey[]>();

  /** An album's detail with its keys opened (cached per album and epoch) and its title. */
  async openAlbum(id: string): Promise<OpenAlbum> {
    const detail = await this.api.album(id);
    const keys = new Map<number, CryptoKey>();
    for (const { epoch, key } of detail.keys) {
      const cacheKey = `${id}/${epoch}/${key}`;
      let opened = this.#albumKeys.get(cacheKey);
      if (!opened) {
        try {
          opened = await openAlbumKey(key, this.keys.ageKey);
        } catch {
          continue;
        }
        this.#albumKeys.set(cacheKey, opened);
      }
      keys.set(epoch, opened);
    }
    let title: string | undefined;
    try {
      title = (await openMeta<AlbumMeta>(detail.meta, [...keys.values()])).title;
    } catch {
      title = undefined;
    }
    // The same keys as last time keep the same array, so views keyed on it do not reload.
    const fresh = [...keys.values()];
    const previous = this.#keyLists.get(id);
    const keyList =
      previous?.length === fresh.length && previous.every((key, i) => key === fresh[i]) ? previous : fresh;
    this.#keyLists.set(id, keyList);
    return { detail, keys, keyList, title };
  }

  hasGrant(album: string, member: string, epoch: number): boolean {
    return hasGrant(this.state, album, member, epoch);
  }
}

/**
 * What a rotation did: the album's new epoch, or (when we hold no key to its current epoch, or
 * cannot open it) the other admins who hold the newest key we know of and can rotate it.
 */
export type Rotation =
  | { album: string; rotated: true; epoch: number }
  | { album: string; rotated: false; holders: string[]; error?: unknown };

/** An album as a member opens it: the node's detail, our keys by epoch, the decrypted title. */
export interface OpenAlbum {
  detail: AlbumDetail;
  keys: Map<number, CryptoKey>;
  keyList: CryptoKey[];
  /** Undefined when the title could not be opened. */
  title: string | undefined;
}

/** Storage used by the albums shared with us: ciphertext and thumbnails, in bytes. */
export function storageUsed(albums: readonly Pick<AlbumView, "bytes">[]): number {
  return albums.reduce((sum, album) => sum + album.bytes, 0);
}

export type { AlbumView };
