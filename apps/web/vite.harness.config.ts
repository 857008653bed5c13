// Builds harness/ into dist-harness/ for the browser tests: index.html (the library and the shared vectors,
// no UI) and webrtc.html (the real peerjs client and RTCPeerConnection helpers, for the hub tests).
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const root = fileURLToPath(new URL("./harness", import.meta.url));

export default defineConfig({
  root,
  base: "./",
  build: {
    outDir: fileURLToPath(new URL("./dist-harness", import.meta.url)),
    emptyOutDir: true,
    target: "es2023",
    sourcemap: true,
    // The bundle embeds the shared vector files (about 2 MB of base64); size does not matter here.
    chunkSizeWarningLimit: 4096,
    // The age test kit's files are fetched as files (the node's CSP allows no data: fetches).
    assetsInlineLimit: 0,
    rolldownOptions: {
      input: {
        index: path.join(root, "index.html"),
        webrtc: path.join(root, "webrtc.html"),
      },
    },
  },
  server: {
    // The vectors live at the repository root, outside the Vite root.
    fs: { allow: [fileURLToPath(new URL("../..", import.meta.url))] },
  },
});
