/** Turns library errors into sentences for the page. The library's kinds decide, never its wording. */
import { ApiError } from "./lib/api.ts";
import { CryptError } from "./lib/crypt.ts";
import { IdentityFileError } from "./lib/identityFile.ts";
import { IdError } from "./lib/readableId.ts";

/** What was being done, for messages that depend on it (a 403 on an album vs on a member). */
export type ErrorContext = "album" | "blob" | "claim" | "member" | "upload" | "general";

export function describeError(error: unknown, context: ErrorContext = "general"): string {
  if (error instanceof ApiError) return describeApiError(error, context);
  if (error instanceof CryptError) {
    switch (error.kind) {
      case "passphrase":
        return "Wrong passphrase: it does not open this backup. Check it and try again.";
      case "corrupt":
        return context === "general"
          ? "This file is not a P2POS backup, or it is damaged."
          : "The encrypted data is damaged.";
      case "no-identity":
        return context === "general"
          ? "This file is encrypted to someone else, not with a passphrase."
          : "None of your keys opens this: it was not shared with you.";
    }
  }
  if (error instanceof IdentityFileError) {
    return `The backup opened, but it does not hold a P2POS identity. ${error.message}`;
  }
  if (error instanceof IdError) return `That id is not valid: ${error.message}`;
  // Input checks (member cards, recipients) phrase their TypeErrors for people.
  if (error instanceof TypeError && context === "member") return error.message;
  if (error instanceof DOMException && error.name === "QuotaExceededError") {
    return "The browser has no room left to store your keys.";
  }
  return error instanceof Error ? `Something went wrong: ${error.message}` : "Something went wrong.";
}

function describeApiError(error: ApiError, context: ErrorContext): string {
  switch (error.code) {
    case "network":
      return "The node could not be reached. Is it running?";
    case "aborted":
      return "Cancelled.";
    case "unauthorized":
      return "You are not signed in (or your session ended). Reload the page to sign in again.";
    case "forbidden":
      if (context === "album" || context === "blob") return "This album is not shared with you.";
      if (context === "claim") return "Wrong setup code. It is printed by `p2pos node` when it starts.";
      return `The node refused: ${error.message}.`;
    case "not_found":
      return context === "album" ? "There is no such album." : `Not found: ${error.message}.`;
    case "conflict":
      return context === "claim" ? "This node already belongs to a family." : `Conflict: ${error.message}.`;
    case "payload_too_large":
      return "This file is larger than the node accepts.";
    default:
      return `The node answered ${error.status}: ${error.message}`;
  }
}
