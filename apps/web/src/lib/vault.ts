/**
 * The family vault as one client sees it: claim a node, read the record log, create albums, add
 * members, grant and revoke album keys, open album titles. Every record is signed here and checked
 * again by the node (`crates/family-vault/src/vault.rs`).
 */
import type { ApiClient } from "./api.ts";
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
import { HlcClock } from "./hlc.ts";
import type { IdentityKeys } from "./identity.ts";
import { canonicalReadableId } from "./readableId.ts";
import { signIn } from "./session.ts";
import { emptyVaultState, foldRecords, hasGrant, type VaultState } from "./vaultState.ts";
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
  readonly state: VaultState = emptyVaultState();
  readonly clock = new HlcClock();

  constructor(api: ApiClient, keys: Keys) {
    this.api = api;
    this.keys = keys;
  }

  /** Read the log since the last time (all of it the first time). */
  async refresh(): Promise<void> {
    for (;;) {
      const page = await this.api.records(this.state.seq, 1000);
      foldRecords(this.state, page);
      if (page.length < 1000) break;
    }
    // Our next writes must come after everything the family has written.
    this.clock.observe(this.state.newest, Math.max(Date.now(), this.state.newest.wall_ms));
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

  async removeMember(member: MemberView): Promise<void> {
    await this.api.postRecord(
      await memberRecord(this.context(), {
        member: member.identity,
        role: member.role,
        recipient: member.recipient,
        removed: true,
      }),
    );
    await this.refresh();
  }

  /** Give `member` the album's current key (admins holding that key). */
  async grant(album: AlbumDetail, member: MemberView): Promise<void> {
    const own = album.keys.find((k) => k.epoch === album.epoch);
    if (!own) throw new Error("You hold no key for this album's current epoch, so you cannot share it.");
    const secret = await openAlbumKeySecret(own.key, this.keys.ageKey);
    const key = await sealAlbumKey(secret, member.recipient);
    await this.api.postRecord(
      await grantRecord(this.context(), {
        album: album.id,
        member: member.identity,
        epoch: album.epoch,
        key,
        revoked: false,
      }),
    );
    await this.refresh();
  }

  /** Revoke `member`'s key of the album's current epoch. (They keep what they already downloaded.) */
  async revoke(album: AlbumDetail, member: MemberView): Promise<void> {
    const grant = this.state.grants.get(`${album.id}/${member.identity}/${album.epoch}`);
    // A revocation carries no key.
    const key = "";
    if (grant) this.clock.observe(grant.hlc, Math.max(Date.now(), grant.hlc.wall_ms));
    await this.api.postRecord(
      await grantRecord(this.context(), {
        album: album.id,
        member: member.identity,
        epoch: album.epoch,
        key,
        revoked: true,
      }),
    );
    await this.refresh();
  }

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

/** An album as a member opens it: the node's detail, our keys by epoch, the decrypted title. */
export interface OpenAlbum {
  detail: AlbumDetail;
  keys: Map<number, CryptoKey>;
  keyList: CryptoKey[];
  /** Undefined when the title could not be opened. */
  title: string | undefined;
}

/** Storage used by the albums shared with us: ciphertext and thumbnails, in bytes. */
export function storageUsed(albums: readonly AlbumDetail[]): number {
  return albums.reduce((sum, album) => sum + album.photo_list.reduce((s, p) => s + p.size + (p.thumb_size ?? 0), 0), 0);
}

export type { AlbumView };
