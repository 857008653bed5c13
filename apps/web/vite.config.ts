// The web app build (dist/) and the Vitest configuration.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    target: "es2023",
    sourcemap: true,
  },
  test: {
    // src/lib must run unchanged in Node (the future SDK), so the unit tests use Node's own WebCrypto.
    environment: "node",
    include: ["src/**/*.test.ts"],
    // Vector files with scrypt backups and the multi-chunk age round trips take a few seconds on 2 cores.
    testTimeout: 60_000,
  },
});
