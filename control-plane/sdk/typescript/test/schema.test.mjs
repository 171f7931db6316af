// src/schema.ts is generated from control-plane/openapi.json by
// openapi-typescript (`npm run generate`) and committed; this test fails when
// it no longer matches the document (run `npm run generate` and commit).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

test("src/schema.ts matches ../../openapi.json", () => {
  const dir = mkdtempSync(join(tmpdir(), "aihub-ts-schema-"));
  try {
    const fresh = join(dir, "schema.ts");
    execFileSync(
      process.execPath,
      [join(root, "node_modules/openapi-typescript/bin/cli.js"), join(root, "../../openapi.json"), "--output", fresh],
      { stdio: "pipe" },
    );
    const committed = readFileSync(join(root, "src/schema.ts"), "utf8");
    assert.ok(
      readFileSync(fresh, "utf8") === committed,
      "src/schema.ts is out of date: run `npm run generate` in control-plane/sdk/typescript",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
