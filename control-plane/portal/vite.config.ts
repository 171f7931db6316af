/// <reference types="vitest/config" />
import { defineConfig, searchForWorkspaceRoot } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies the API to a running `aihub serve` (default port 8081),
// so the portal can be developed with hot reload against the real backend.
const backend = process.env.AIHUB_PORTAL_BACKEND ?? "http://127.0.0.1:8081";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: { "/api": backend },
    // The guides live beside the portal (control-plane/docs/guides) and are bundled from there.
    fs: { allow: [searchForWorkspaceRoot(process.cwd()), "../docs/guides"] },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["src/test/setup.ts"],
    // Above Testing Library's wait limit (src/test/setup.ts), so a slow
    // machine fails on what did not appear rather than on the clock.
    testTimeout: 20_000,
    include: ["src/**/*.test.{ts,tsx}"],
    css: { modules: { classNameStrategy: "non-scoped" } },
  },
});
