/**
 * `window.p2posGalleryTest`, installed only when the page was opened with `?test-hooks`: what the
 * browser tests need to play a modified or misbehaving peer, and to read back what this one holds.
 */
import type { GallerySession } from "../lib/gallery.ts";

export interface GalleryTestHooks {
  /** This browser's hub peer id, nickname and tag. */
  me(): { peer: string; nick: string; tag: string } | undefined;
  /** The hub peer id of the connected peer with this nickname. */
  peerOf(nick: string): string | undefined;
  /** Sends `peer` `size` bytes of `fill` as a `data` frame nobody asked for; false when not connected. */
  pushUnrequested(peer: string, size: number, fill: number): boolean;
  /** The state of the data channel to `peer` ("connecting", "open"; undefined once closed). */
  linkState(peer: string): string | undefined;
  /** Accept requests but send no bytes. */
  holdServes(hold: boolean): void;
  setStallMs(ms: number): void;
  /** SHA-256 (hex) of an image this browser holds, or undefined. */
  heldSha256(id: string): Promise<string | undefined>;
}

declare global {
  interface Window {
    p2posGalleryTest?: GalleryTestHooks;
  }
}

export function installTestHooks(current: () => GallerySession | undefined): () => void {
  const peerOf = (nick: string) =>
    current()
      ?.getSnapshot()
      .peers.find((peer) => peer.nick === nick)?.peer;
  window.p2posGalleryTest = {
    me: () => current()?.getSnapshot().me,
    peerOf,
    pushUnrequested: (peer, size, fill) =>
      current()?.test.pushUnrequested(peer, new Uint8Array(size).fill(fill)) ?? false,
    linkState: (peer) => current()?.test.linkState(peer),
    holdServes: (hold) => current()?.test.holdServes(hold),
    setStallMs: (ms) => current()?.test.setStallMs(ms),
    heldSha256: async (id) => {
      const image = current()?.image(id);
      if (!image) return undefined;
      const digest = await crypto.subtle.digest("SHA-256", image.bytes as Uint8Array<ArrayBuffer>);
      return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    },
  };
  return () => {
    delete window.p2posGalleryTest;
  };
}
