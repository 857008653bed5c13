import { describe, expect, it } from "vitest";
import { wordlist } from "@scure/bip39/wordlists/english.js";
import {
  invitationFromHash,
  invitationFromSecret,
  invitationLink,
  joinMac,
  joinRequest,
  newInvitation,
  openName,
  sealName,
  verificationWords,
  verifyJoin,
} from "./invite.ts";

const BEN = {
  id: "AL3CLKU-U4XXSHB-LKUL4J6-2HTYWLY-DNCT2EU-LBPB7CN-FZGBNFQ-3ROR7AF",
  recipient: "age1s5yfpkk6kwxl8s7hzrc8kfj6suqhl5dmg7n9cnf6qm34m0c40uxsn8ypws",
};
const EVE_RECIPIENT = "age1a7vkv6rwl0m26r6mththr54my2m6m0lq5rnu4x9h482yncl0rvvs0lxpt9";
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i);

describe("invitations", () => {
  it("derive a fixed id and fixed words from a fixed secret and keys", () => {
    const invitation = invitationFromSecret(SECRET);
    // Pinned: a change of the derivation is a change of the format (docs/FORMATS.md).
    expect(invitation.id).toMatchInlineSnapshot(`"7a57MV6eYScDAoyWHGHsdQ"`);
    expect(verificationWords(invitation, BEN.id, BEN.recipient)).toMatchInlineSnapshot(`
      [
        "census",
        "cool",
        "lonely",
        "pluck",
      ]
    `);
  });

  it("give four words of the BIP-39 list, the same on both screens", () => {
    const invitation = newInvitation();
    const words = verificationWords(invitation, BEN.id, BEN.recipient);
    expect(words).toHaveLength(4);
    for (const word of words) expect(wordlist).toContain(word);
    const admin = invitationFromHash(new URL(invitationLink("http://oak.local/", invitation)).hash);
    expect(admin?.id).toBe(invitation.id);
    expect(verificationWords(admin ?? invitation, BEN.id, BEN.recipient)).toEqual(words);
  });

  it("catch a node that swaps the invitee's key: other words, and a MAC that fails", () => {
    const invitation = newInvitation();
    const request = joinRequest(invitation, BEN, "Ben");
    expect(verifyJoin(invitation, request)).toBe(true);
    const swapped = { ...request, recipient: EVE_RECIPIENT };
    expect(verifyJoin(invitation, swapped)).toBe(false);
    expect(verificationWords(invitation, BEN.id, EVE_RECIPIENT)).not.toEqual(
      verificationWords(invitation, BEN.id, BEN.recipient),
    );
    // Without the secret, a MAC made with another invitation does not pass either.
    const forged = { ...swapped, mac: joinMac(newInvitation(), BEN.id, EVE_RECIPIENT, request.sealed) };
    expect(verifyJoin(invitation, forged)).toBe(false);
    expect(verifyJoin(invitation, { ...request, sealed: sealName(invitation, "Eve") })).toBe(false);
  });

  it("seal the name for the admin only", () => {
    const invitation = newInvitation();
    const sealed = sealName(invitation, "Ben Rivers");
    expect(openName(invitation, sealed)).toBe("Ben Rivers");
    expect(() => openName(newInvitation(), sealed)).toThrow();
  });

  it("read the secret from a link's fragment, and nothing else", () => {
    expect(invitationFromHash("#/members")).toBeUndefined();
    expect(invitationFromHash("#invite=short")).toBeUndefined();
    const invitation = invitationFromSecret(SECRET);
    const link = invitationLink("https://oak.example/?node=abc", invitation);
    expect(link.startsWith("https://oak.example/?node=abc#invite=")).toBe(true);
    expect(invitationFromHash(new URL(link).hash)?.id).toBe(invitation.id);
  });
});
