// The share target's service worker (docs/ARCHITECTURE.md, "Installable, and a share target").
// Its scope is /share only: it controls no page of the app, and sees nothing but the POST that a
// phone's share sheet sends to /share (manifest.webmanifest, "share_target"). It keeps the shared
// files in this origin's Cache Storage, on this device only, and sends the browser to the page
// that asks which album they go to (src/vault/pages/SharePage.tsx); that page empties the cache.
const CACHE = "p2pos-shared";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "POST" || url.origin !== self.location.origin || url.pathname !== "/share") return;
  event.respondWith(keep(event.request));
});

async function keep(request) {
  const form = await request.formData();
  const files = form.getAll("photos").filter((value) => typeof value !== "string");
  const cache = await caches.open(CACHE);
  const stamp = Date.now();
  await Promise.all(
    files.map((file, index) =>
      cache.put(
        `/share/files/${stamp}-${index}`,
        new Response(file, {
          headers: {
            "content-type": file.type || "application/octet-stream",
            "x-name": encodeURIComponent(file.name),
            "x-last-modified": String(file.lastModified),
          },
        }),
      ),
    ),
  );
  return Response.redirect(new URL("/#/share", self.location.origin).href, 303);
}
