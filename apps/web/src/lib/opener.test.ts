import { afterEach, describe, expect, it } from "vitest";
import { newAlbumKey, openAlbumKey, sealAlbumKey, sealMeta } from "./albumKeys.ts";
import { CryptError, encryptToRecipients } from "./crypt.ts";
import { generateIdentityFile, importIdentity } from "./identity.ts";
import { openerHere, openDataUrl, openMetaBatched, setOpener, type Opener } from "./opener.ts";
import { openPhotoMeta } from "./photos.ts";

async function albumFixture() {
  const member = await importIdentity(await generateIdentityFile());
  const album = await newAlbumKey();
  const key = await openAlbumKey(await sealAlbumKey(album.secret, member.recipient), member.ageKey);
  return { album, key };
}

/** The opener of this thread, counting the batches it is given. */
function counting(): { opener: Opener; batches: number[] } {
  const batches: number[] = [];
  return {
    batches,
    opener: {
      ...openerHere,
      metas: (metas, keys) => {
        batches.push(metas.length);
        return openerHere.metas(metas, keys);
      },
    },
  };
}

afterEach(() => setOpener(openerHere));

describe("opener", () => {
  it("sends the metas asked for in one task as one batch, each answer to its asker", async () => {
    const { album, key } = await albumFixture();
    const { opener, batches } = counting();
    setOpener(opener);
    const metas = await Promise.all(
      ["a.jpg", "b.jpg", "c.jpg"].map(async (name) => sealMeta({ name, type: "image/jpeg" }, album.recipient)),
    );
    const opened = await Promise.all(metas.map((meta) => openPhotoMeta({ meta, size: 1 }, [key])));
    expect(opened.map((m) => m.name)).toEqual(["a.jpg", "b.jpg", "c.jpg"]);
    expect(batches).toEqual([3]);
    // Asked for in a later task: a batch of its own.
    expect((await openPhotoMeta({ meta: metas[0] ?? "" }, [key])).name).toBe("a.jpg");
    expect(batches).toEqual([3, 1]);
  });

  it("fails only the meta that cannot be opened, as a CryptError", async () => {
    const { album, key } = await albumFixture();
    const other = await albumFixture();
    const good = await sealMeta({ name: "good.jpg" }, album.recipient);
    const foreign = await sealMeta({ name: "foreign.jpg" }, other.album.recipient);
    const [a, b] = await Promise.allSettled([openMetaBatched(good, [key]), openMetaBatched(foreign, [key])]);
    expect(a).toEqual({ status: "fulfilled", value: { name: "good.jpg" } });
    expect(b.status).toBe("rejected");
    expect(b.status === "rejected" && b.reason instanceof CryptError && b.reason.kind).toBe("no-identity");
  });

  it("opens a blob into a data: URL", async () => {
    const { album, key } = await albumFixture();
    const plain = new Uint8Array([1, 2, 3, 250]);
    const sealed = await encryptToRecipients(plain, [album.recipient]);
    expect(await openDataUrl(new Blob([new Uint8Array(sealed)]), [key], "image/webp")).toBe(
      "data:image/webp;base64,AQID+g==",
    );
  });
});
