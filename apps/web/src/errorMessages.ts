/** Turns library errors into sentences for the page. The library's kinds decide, never its wording. */
import { ApiError, isKeyNotRotated } from "./lib/api.ts";
import { AvatarError } from "./lib/avatar.ts";
import { BackupCheckError } from "./lib/backupState.ts";
import { CryptError } from "./lib/crypt.ts";
import { IdentityFileError } from "./lib/identityFile.ts";
import { ChannelError } from "./lib/nodeChannel.ts";
import { IdError } from "./lib/readableId.ts";
import { UploadError } from "./lib/uploadQueue.ts";
import { VaultError } from "./lib/vault.ts";

/**
 * What was being done, for messages that depend on it (a 403 on an album vs on a member).
 * `enroll`: issuing an enrollment token; `peer`: adding a node with a token, or removing one.
 */
export type ErrorContext =
  | "album"
  | "blob"
  | "claim"
  | "member"
  | "upload"
  | "enroll"
  | "peer"
  | "general"
  /** Asking to join with an invitation link. */
  | "invite";

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
  if (error instanceof BackupCheckError) return `${error.message} Choose the file you saved for this identity.`;
  if (error instanceof IdError) return `That id is not valid: ${error.message}`;
  // Written for people, each kind its own sentence.
  if (error instanceof UploadError || error instanceof VaultError || error instanceof AvatarError) return error.message;
  // Input checks (member cards, recipients) phrase their TypeErrors for people.
  if (error instanceof TypeError && (context === "member" || context === "invite")) return error.message;
  if (error instanceof RangeError && (context === "member" || context === "invite")) return error.message;
  // The channel's own sentences say what happened to the connection through the hub.
  if (error instanceof ChannelError) return error.message;
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
      if (context === "claim") {
        return "Wrong setup code. Look again in the terminal where the node was started: the line “Setup code: …”.";
      }
      // Expired, already used, or not a token of that node: the node's message says which.
      if (context === "peer") {
        return `This token did not work: ${sentence(error.message)} A token works once, for 15 minutes: make a new one on the other node if needed.`;
      }
      return `The node refused: ${error.message}.`;
    case "not_found":
      if (context === "invite") return "This invitation has expired or was cancelled: ask for a new link.";
      if (context === "peer") return "That node is not enrolled here (any more).";
      return context === "album" ? "There is no such album." : `Not found: ${error.message}.`;
    case "conflict":
      if (context === "invite") return `This invitation cannot be used: ${sentence(error.message)} Ask for a new link.`;
      if (context === "claim") return "This node already belongs to a family, or joins one through another node.";
      if (context === "peer") return `That token cannot be used here: ${sentence(error.message)}`;
      if (context === "enroll") return sentence(capitalise(error.message));
      return `Conflict: ${error.message}.`;
    case "bad_request":
      if (context === "peer") return `That is not a token this node can use: ${sentence(error.message)}`;
      return `The node answered ${error.status}: ${error.message}`;
    case "bad_gateway":
      if (context === "peer") return `The other node could not be reached: ${sentence(error.message)}`;
      return `Another node did not answer: ${sentence(error.message)}`;
    case "too_many_requests":
      return "The node is getting too many requests to join right now. Wait a minute and try again.";
    case "payload_too_large":
      return "This file is larger than the node accepts.";
    case "not_a_member":
      return "This identity is not a member of the family on this node (or no longer is). Give an admin your id and encryption address; once they add you, sign in again.";
    case "record_refused":
      if (isKeyNotRotated(error)) {
        return `The node refused: ${sentence(error.message)} Someone lost access to this album, so new photos need a new album key first: an admin who holds the key opens the album and chooses “Change the album key”.`;
      }
      return `The family's rules do not allow this: ${sentence(error.message)}`;
    case "clock_ahead":
      return "This device's clock is more than a minute ahead of the node's, so the node refused the change. Set the device's date and time right (automatic time is best), then try again.";
    case "clock_behind":
      return "This device's clock is more than 10 minutes behind the node's, so the node refused the change. Check the device's date, time and time zone (automatic time is best), then try again.";
    default:
      return `The node answered ${error.status}: ${error.message}`;
  }
}

/** The node's message as the end of a sentence: with a full stop. */
function sentence(text: string): string {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
