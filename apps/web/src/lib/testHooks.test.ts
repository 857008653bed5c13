import { describe, expect, it } from "vitest";

import { testHooksAllowed } from "./testHooks.ts";

describe("testHooksAllowed", () => {
  it("needs ?test-hooks and a loopback host", () => {
    const at = (href: string) => testHooksAllowed(new URL(href));
    expect(at("http://127.0.0.1:7800/chat?test-hooks")).toBe(true);
    expect(at("http://127.4.5.6/chat?no-auto-call&test-hooks")).toBe(true);
    expect(at("http://localhost:5173/drop?test-hooks#k")).toBe(true);
    expect(at("http://[::1]:7800/chat?test-hooks")).toBe(true);
    expect(at("http://127.0.0.1:7800/chat")).toBe(false);
    expect(at("https://hub.example/chat?test-hooks&clock-at=0")).toBe(false);
    expect(at("https://127.0.0.1.example/chat?test-hooks")).toBe(false);
    expect(at("http://192.168.1.9/chat?test-hooks")).toBe(false);
  });
});
