import { describe, expect, it } from "vitest";
import { IdError } from "./readableId.ts";
import { formatMemberCard, parseMemberCard } from "./memberCard.ts";
import { generateIdentityFile } from "./identity.ts";

describe("member cards", () => {
  it("round-trips an identity's id and recipient", async () => {
    const identity = await generateIdentityFile();
    const card = formatMemberCard(identity);
    expect(card).toMatch(/^p2pos-member:[A-Z2-7-]+:age1[0-9a-z]{58}$/);
    expect(parseMemberCard(`  ${card}\n`)).toEqual({ id: identity.id, recipient: identity.recipient });
    // Scanners and people may change case or drop the dashes; the id is canonicalised.
    const sloppy = `P2POS-MEMBER:${identity.id.replaceAll("-", "").toLowerCase()}:${identity.recipient}`;
    expect(parseMemberCard(sloppy)).toEqual({
      id: identity.id,
      recipient: identity.recipient,
    });
  });

  it("refuses other texts with a reason", async () => {
    const identity = await generateIdentityFile();
    expect(() => parseMemberCard(identity.id)).toThrow(/not a P2POS member card/);
    expect(() => parseMemberCard(`p2pos-member:${identity.id}`)).toThrow(/encryption address/);
    expect(() => parseMemberCard(`p2pos-member:${identity.id}:age1short`)).toThrow(/not an age recipient/);
    const typo = identity.id.slice(0, 3) + (identity.id[3] === "A" ? "B" : "A") + identity.id.slice(4);
    expect(() => parseMemberCard(formatMemberCard({ id: typo, recipient: identity.recipient }))).toThrow(IdError);
  });
});
