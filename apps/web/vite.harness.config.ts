// Builds harness/ (the library and the shared vectors, no UI) into dist-harness/ for the browser tests.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL("./harness", import.meta.url)),
  base: "./",
  build: {
    outDir: fileURLToPath(new URL("./dist-harness", import.meta.url)),
    emptyOutDir: true,
    target: "es2023",
    sourcemap: true,
    // The bundle embeds the shared vector files (about 2 MB of base64); size does not matter here.
    chunkSizeWarningLimit: 4096,
  },
  server: {
    // The vectors live at the repository root, outside the Vite root.
    fs: { allow: [fileURLToPath(new URL("../..", import.meta.url))] },
  },
});
