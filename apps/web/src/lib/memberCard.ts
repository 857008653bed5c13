/**
 * A member card: what an admin needs to add someone to the family, in one short text that fits a
 * QR code — the readable id (who they are) and the age recipient (what album keys are encrypted
 * to). `p2pos-member:<ID>:<age1…>`; the id is checked (Luhn letters) and the recipient's shape too.
 */
import { canonicalReadableId } from "./readableId.ts";

export const MEMBER_CARD_SCHEME = "p2pos-member:";

const RECIPIENT = /^age1[0-9a-z]{58}$/;

export interface MemberCard {
  id: string;
  recipient: string;
}

export function formatMemberCard(card: MemberCard): string {
  return `${MEMBER_CARD_SCHEME}${card.id}:${card.recipient}`;
}

/** Parse a card; throws a `TypeError` saying what is wrong (or the id's own `IdError`). */
export function parseMemberCard(text: string): MemberCard {
  const trimmed = text.trim();
  if (!trimmed.toLowerCase().startsWith(MEMBER_CARD_SCHEME)) {
    throw new TypeError("That is not a P2POS member card (it should start with p2pos-member:).");
  }
  const rest = trimmed.slice(MEMBER_CARD_SCHEME.length);
  const colon = rest.lastIndexOf(":");
  if (colon < 0) throw new TypeError("The member card has no encryption address.");
  const recipient = rest.slice(colon + 1).toLowerCase();
  if (!RECIPIENT.test(recipient)) throw new TypeError("The member card's encryption address is not an age recipient.");
  return { id: canonicalReadableId(rest.slice(0, colon)), recipient };
}
