import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { familyLinkThroughHub } from "./hubClient.ts";
import { encodeReadableId } from "./readableId.ts";
import { MAX_LINK_NODES, vaultEntry } from "./vaultEntry.ts";

const newId = () => encodeReadableId(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));

describe("vaultEntry", () => {
  it("opens the local vault without a query", () => {
    expect(vaultEntry("")).toEqual({ kind: "local" });
    expect(vaultEntry("?other=1")).toEqual({ kind: "local" });
  });

  it("reads the node link and the family link, in canonical spelling, without repeats", () => {
    const [oak, pine] = [newId(), newId()];
    expect(vaultEntry(`?node=${encodeURIComponent(oak)}`)).toEqual({ kind: "remote", nodes: [oak], relayOnly: false });
    const sloppy = oak.toLowerCase().replaceAll("-", "");
    expect(vaultEntry(`?nodes=${sloppy},${encodeURIComponent(pine)},${oak}&via=relay`)).toEqual({
      kind: "remote",
      nodes: [oak, pine],
      relayOnly: true,
    });
  });

  it("round-trips the family link the Nodes page shows", () => {
    const nodes = [newId(), newId(), newId()];
    const link = familyLinkThroughHub("wss://hub.example.org/v1/ws", nodes);
    expect(link).toMatch(/^https:\/\/hub\.example\.org\/\?nodes=/);
    expect(vaultEntry(new URL(link ?? "").search)).toEqual({ kind: "remote", nodes, relayOnly: false });
    expect(familyLinkThroughHub("https://hub.example.org", nodes)).toBeUndefined();
  });

  it("says which id of a link is wrong", () => {
    const good = newId();
    const typo = good.slice(0, 3) + (good[3] === "A" ? "B" : "A") + good.slice(4);
    expect(vaultEntry(`?nodes=${good},${typo}`)).toEqual({
      kind: "invalid",
      message: expect.stringMatching(/^Node id 2 in the link is not valid: /) as unknown,
    });
    expect(vaultEntry("?node=hello")).toEqual({
      kind: "invalid",
      message: expect.stringMatching(/^The node id in the link is not valid: /) as unknown,
    });
  });

  it("refuses empty, mixed and overlong links", () => {
    expect(vaultEntry("?nodes=,")).toEqual({ kind: "invalid", message: "The link names no node." });
    expect(vaultEntry(`?node=${newId()}&nodes=${newId()}`)).toMatchObject({ kind: "invalid" });
    const many = Array.from({ length: MAX_LINK_NODES + 1 }, newId).join(",");
    expect(vaultEntry(`?nodes=${many}`)).toEqual({
      kind: "invalid",
      message: `The link names ${MAX_LINK_NODES + 1} nodes; at most ${MAX_LINK_NODES}.`,
    });
  });
});
