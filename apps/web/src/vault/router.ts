/** Hash routing: `#/albums/<id>` and friends. Small on purpose: a few pages, no nesting. */
import { useEffect, useState } from "react";

export type Route =
  | { page: "dashboard" }
  | { page: "photos" }
  /** A photo open in the viewer over the timeline (Photos). */
  | { page: "timeline-photo"; photo: string }
  | { page: "albums" }
  | { page: "album"; album: string }
  | { page: "photo"; album: string; photo: string }
  | { page: "members" }
  | { page: "nodes" }
  | { page: "settings" }
  | { page: "trash" }
  | { page: "identity" }
  /** Files another app shared into the installed app, waiting for an album. */
  | { page: "share" }
  | { page: "missing"; path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "") || "/";
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const [first, second, third, fourth] = parts;
  if (parts.length === 0) return { page: "dashboard" };
  if (first === "albums" && parts.length === 1) return { page: "albums" };
  if (first === "photos" && second && parts.length === 2) return { page: "timeline-photo", photo: second };
  if (first === "albums" && second && parts.length === 2) return { page: "album", album: second };
  if (first === "albums" && second && third === "photos" && fourth && parts.length === 4) {
    return { page: "photo", album: second, photo: fourth };
  }
  if (parts.length === 1 && first && isSinglePage(first)) {
    return { page: first };
  }
  return { page: "missing", path };
}

/** The pages whose path is one word (`#/members`). */
const SINGLE_PAGES = ["photos", "members", "nodes", "settings", "trash", "identity", "share"] as const;
type SinglePage = (typeof SINGLE_PAGES)[number];

function isSinglePage(word: string): word is SinglePage {
  return (SINGLE_PAGES as readonly string[]).includes(word);
}

export function href(route: Route): string {
  switch (route.page) {
    case "dashboard":
      return "#/";
    case "album":
      return `#/albums/${encodeURIComponent(route.album)}`;
    case "photo":
      return `#/albums/${encodeURIComponent(route.album)}/photos/${encodeURIComponent(route.photo)}`;
    case "timeline-photo":
      return `#/photos/${encodeURIComponent(route.photo)}`;
    case "missing":
      return "#/";
    default:
      return `#/${route.page}`;
  }
}

export function navigate(route: Route): void {
  location.hash = href(route);
}

/** Go to `route` in place of the current history entry (Back skips what this replaced). */
export function replaceRoute(route: Route): void {
  location.replace(href(route));
}

/** The route shown before the last hash change, if there was one in this page's life. */
let shown: Route | undefined;
let previous: Route | undefined;

export function previousRoute(): Route | undefined {
  return previous;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    shown ??= parseRoute(location.hash);
    const onChange = () => {
      const next = parseRoute(location.hash);
      // Every hook instance hears the change: only the first one moves the history along.
      if (shown === undefined || href(next) !== href(shown) || next.page === "missing") {
        previous = shown;
        shown = next;
      }
      setRoute(next);
    };
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
