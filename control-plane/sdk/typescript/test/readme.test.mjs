// Runs README.md's `js` examples, in order, as one ES module, against a real
// AI Hub (see system.mjs); the module is written inside this package so that
// `@aihub/sdk` resolves to the built package by self-reference.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { PASSWORD, WebhookReceiver, startSystem } from "./system.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The README's ```js blocks, in order. */
export function jsBlocks(markdown) {
  return [...markdown.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

let system;
let receiver;
before(async () => {
  system = await startSystem();
  receiver = await WebhookReceiver.start();
});
after(async () => {
  await receiver?.close();
  await system?.stop();
});

test("the README's examples run against a real AI Hub", async () => {
  const blocks = jsBlocks(readFileSync(join(root, "README.md"), "utf8"));
  assert.ok(blocks.length >= 8, `${blocks.length} js blocks`);
  const email = await system.verifiedDeveloper("ts-readme");
  const script = join(root, `.readme-example-${process.pid}.mjs`);
  writeFileSync(script, blocks.join("\n"));
  let stdout;
  try {
    ({ stdout } = await promisify(execFile)(process.execPath, [script], {
      env: {
        ...process.env,
        AIHUB_SERVER: system.baseURL,
        AIHUB_EMAIL: email,
        AIHUB_PASSWORD: PASSWORD,
        AIHUB_WEBHOOK_URL: receiver.url,
        PORT: "0",
      },
      timeout: 120_000,
    }));
  } catch (e) {
    throw new Error(`the README's examples failed: ${e.message}\n${e.stdout}\n${e.stderr}\n${system.logs()}`);
  } finally {
    rmSync(script, { force: true });
  }
  assert.match(stdout, new RegExp(`^${email} true$`, "m"));
  assert.match(stdout, /^404 not_found .+ \S+$/m); // status, code, message, request id
  assert.match(stdout, /^evt_test$/m);
  // The endpoint the README made got the test event, correctly signed.
  const delivered = receiver.requests.find((r) => JSON.parse(r.body).type === "webhook.test");
  assert.ok(delivered, "the README's webhook.test delivery arrived");
  assert.equal(delivered.headers["webhook-id"], JSON.parse(delivered.body).id);
});
