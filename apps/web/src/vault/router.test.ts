import { describe, expect, it } from "vitest";
import { href, parseRoute } from "./router.ts";

describe("routes", () => {
  it("parse and build every page, the Nodes page included", () => {
    expect(parseRoute("#/nodes")).toEqual({ page: "nodes" });
    expect(href({ page: "nodes" })).toBe("#/nodes");
    expect(parseRoute("#/members")).toEqual({ page: "members" });
    expect(parseRoute("")).toEqual({ page: "dashboard" });
    expect(parseRoute("#/albums/a1/photos/p1")).toEqual({ page: "photo", album: "a1", photo: "p1" });
    expect(parseRoute("#/trash")).toEqual({ page: "trash" });
    expect(href({ page: "trash" })).toBe("#/trash");
    expect(parseRoute("#/photos")).toEqual({ page: "photos" });
    expect(href({ page: "photos" })).toBe("#/photos");
    expect(parseRoute("#/photos/p1")).toEqual({ page: "timeline-photo", photo: "p1" });
    expect(href({ page: "timeline-photo", photo: "p 1" })).toBe("#/photos/p%201");
    expect(parseRoute("#/photos/p1/x")).toEqual({ page: "missing", path: "/photos/p1/x" });
    expect(parseRoute("#/nodes/extra")).toEqual({ page: "missing", path: "/nodes/extra" });
  });
});
