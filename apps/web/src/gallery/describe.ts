/** Sentences for what can go wrong in the gallery. Library error kinds decide, never their wording. */
import { GalleryError } from "../lib/gallery.ts";
import { GalleryNameError } from "../lib/galleryName.ts";
import { HubError } from "../lib/hubClient.ts";

export function describeGalleryError(error: unknown): string {
  if (error instanceof GalleryError || error instanceof GalleryNameError) return error.message;
  if (error instanceof HubError) {
    switch (error.code) {
      case "unreachable":
      case "closed":
        return `The hub could not be reached, so no one can be found: ${error.message}`;
      case "timeout":
        return "The hub did not answer in time. Check your connection and try again.";
      case "namespace_full":
        return "This gallery is full: the hub allows 256 people in one gallery.";
      case "too_many_namespaces":
        return "This connection to the hub is in too many galleries at once.";
      case "rate_limited":
        return "The hub asked this browser to slow down. Wait a moment and try again.";
      default:
        return `The hub refused: ${error.message}`;
    }
  }
  return error instanceof Error ? `Something went wrong: ${error.message}` : "Something went wrong.";
}
