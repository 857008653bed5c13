import { describe, expect, it } from "vitest";
import { newAlbumKey, openAlbumKey, openAlbumKeySecret, openMeta, sealAlbumKey, sealMeta } from "./albumKeys.ts";
import { CryptError } from "./crypt.ts";
import { generateIdentityFile, importIdentity } from "./identity.ts";

describe("album keys", () => {
  it("seals the album identity to a member, who opens it with a non-extractable key", async () => {
    const member = await importIdentity(await generateIdentityFile());
    const album = await newAlbumKey();
    expect(album.recipient).toMatch(/^age1[0-9a-z]{58}$/);
    const sealed = await sealAlbumKey(album.secret, member.recipient);
    expect(sealed.startsWith("-----BEGIN AGE ENCRYPTED FILE-----")).toBe(true);
    expect(sealed).not.toContain(album.secret);
    expect(await openAlbumKeySecret(sealed, member.ageKey)).toBe(album.secret);

    const key = await openAlbumKey(sealed, member.ageKey);
    expect(key.extractable).toBe(false);
    const meta = await sealMeta({ title: "Summer 2026" }, album.recipient);
    expect(meta).not.toContain("Summer");
    expect(await openMeta(meta, [key])).toEqual({ title: "Summer 2026" });
  });

  it("is closed to anyone else", async () => {
    const member = await importIdentity(await generateIdentityFile());
    const stranger = await importIdentity(await generateIdentityFile());
    const sealed = await sealAlbumKey((await newAlbumKey()).secret, member.recipient);
    await expect(openAlbumKey(sealed, stranger.ageKey)).rejects.toBeInstanceOf(CryptError);
  });
});
