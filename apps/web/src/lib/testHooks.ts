/**
 * Whether this page may install its browser-test hooks (`window.p2posChatTest`, …): only with
 * `?test-hooks` in the URL **and** on a loopback host. The browser tests serve the app on
 * 127.0.0.1; on a real hub a link carrying `?test-hooks` (say, one that moves the page's clock)
 * changes nothing.
 */
export function testHooksAllowed(url: Pick<URL, "search" | "hostname"> = location): boolean {
  return new URLSearchParams(url.search).has("test-hooks") && isLoopback(url.hostname);
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127(\.\d{1,3}){3}$/.test(hostname);
}
