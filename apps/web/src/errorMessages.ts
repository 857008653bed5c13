/** Turns library errors into sentences for the page. The library's kinds decide, never its wording. */
import { CryptError } from "./lib/crypt.ts";
import { IdentityFileError } from "./lib/identityFile.ts";

export function describeError(error: unknown): string {
  if (error instanceof CryptError) {
    switch (error.kind) {
      case "passphrase":
        return "Wrong passphrase: it does not open this backup. Check it and try again.";
      case "corrupt":
        return "This file is not a P2POS backup, or it is damaged.";
      case "no-identity":
        return "This file is encrypted to someone else, not with a passphrase.";
    }
  }
  if (error instanceof IdentityFileError) {
    return `The backup opened, but it does not hold a P2POS identity. ${error.message}`;
  }
  if (error instanceof DOMException && error.name === "QuotaExceededError") {
    return "The browser has no room left to store your keys.";
  }
  return error instanceof Error ? `Something went wrong: ${error.message}` : "Something went wrong.";
}
