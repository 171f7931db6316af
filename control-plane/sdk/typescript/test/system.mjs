// Starts a real AI Hub for the SDK's tests, the way the Python SDK's
// tests/conftest.py does (and control-plane/portal/browser/harness.mjs for the
// browser tests):
//
// - `aihub-stub-upstream`, a stand-in OpenAI-compatible provider;
// - `aihub serve` on a temporary SQLite database (email in "log" mode: .eml
//   files in a temporary outbox; webhooks allowed to loopback receivers and
//   retried after 300 ms);
// - `aihub admin add-provider` / `add-model` (gpt-4o-mini, gpt-4o on the stub);
// - `aihub-gateway` in front of it: the SDK's base URL is the gateway's, which
//   answers /v1/... itself and forwards /api/... to the control plane;
// - verified developers (`aihub admin create-developer --password`, then the
//   real flow: resend-verification, the link from the outbox, verify-email).
//
// Why not the portal's harness.mjs: its startSystem() always starts an SMTP
// server (Python's aiosmtpd) and Chromium, its control plane is not behind the
// gateway's single address, and it imports playwright-core and postal-mime from
// the portal's node_modules; this package must test with its own `npm ci`.
//
// Binaries: AIHUB_BIN (default $CARGO_TARGET_DIR/debug/aihub, CARGO_TARGET_DIR
// defaulting to /root/.cache/aihub/target), with aihub-gateway and
// aihub-stub-upstream next to it (or AIHUB_GATEWAY_BIN / AIHUB_STUB_UPSTREAM_BIN).
// Nothing waits by sleeping alone: every wait polls a condition with a deadline.
import { execFile, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const target = process.env.CARGO_TARGET_DIR || "/root/.cache/aihub/target";
export const AIHUB_BIN = process.env.AIHUB_BIN || join(target, "debug", "aihub");
const GATEWAY_BIN = process.env.AIHUB_GATEWAY_BIN || join(dirname(AIHUB_BIN), "aihub-gateway");
const STUB_UPSTREAM_BIN = process.env.AIHUB_STUB_UPSTREAM_BIN || join(dirname(AIHUB_BIN), "aihub-stub-upstream");

const INTERNAL_SECRET = "ts-sdk-tests-internal-secret-0123456789abc";
const TOKEN_SECRET = "ts-sdk-tests-token-secret-0123456789abcdef0";
export const PASSWORD = "correct-horse-42";
export const MODELS = ["gpt-4o-mini", "gpt-4o"];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns something truthy (a throw counts as "not yet"). */
export async function waitFor(what, check, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

const given = new Set();
/** A port free a moment ago, below the ephemeral range, never handed out twice in this process. */
async function freePort() {
  for (let i = 0; i < 2000; i++) {
    const port = 20000 + Math.floor(Math.random() * 12768);
    if (given.has(port)) continue;
    const free = await new Promise((ok) => {
      const s = createServer();
      s.once("error", () => ok(false));
      s.listen(port, "127.0.0.1", () => s.close(() => ok(true)));
    });
    if (free) {
      given.add(port);
      return port;
    }
  }
  throw new Error("no free port");
}

function canConnect(port) {
  return new Promise((ok) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), ok(true)));
    socket.once("error", () => ok(false));
  });
}

async function httpOk(url) {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await r.body?.cancel();
    return r.ok;
  } catch {
    return false;
  }
}

/** A child process whose output is kept for failure messages. */
function start(name, command, args, options = {}) {
  const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  const output = [];
  const keep = (chunk) => {
    output.push(chunk.toString());
    if (output.length > 400) output.shift();
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  child.exited = new Promise((r) => child.once("exit", r));
  child.describe = () => `--- ${name} (exit ${child.exitCode ?? child.signalCode}) ---\n${output.join("").slice(-6000)}`;
  child.alive = () => child.exitCode === null && child.signalCode === null;
  return child;
}

async function stop(child) {
  if (!child.alive()) return;
  child.kill("SIGTERM");
  if (!(await Promise.race([child.exited.then(() => true), sleep(5000).then(() => false)]))) child.kill("SIGKILL");
}

/** Decodes quoted-printable text (soft line breaks, =XX bytes). */
function unQuotedPrintable(text) {
  return text.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

/** Starts the system; call `stop()` when done. */
export async function startSystem() {
  for (const bin of [AIHUB_BIN, GATEWAY_BIN, STUB_UPSTREAM_BIN]) {
    if (!existsSync(bin)) {
      throw new Error(
        `${bin} not found: build it (cargo build -p aihub-control-plane -p aihub-gateway -p aihub-testkit --bins) or set AIHUB_BIN`,
      );
    }
  }
  const tmp = mkdtempSync(join(tmpdir(), "aihub-ts-sdk-"));
  const outbox = join(tmp, "outbox");
  const children = [];
  const [cpPort, gwPort, opsPort, stubPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const databaseUrl = `sqlite://${join(tmp, "aihub.db")}?mode=rwc`;
  const gatewayUrl = `http://127.0.0.1:${gwPort}`;
  const controlPlaneUrl = `http://127.0.0.1:${cpPort}`;
  const logs = () => children.map((c) => c.describe()).join("\n");
  const adminEnv = {
    ...process.env,
    AIHUB_DATABASE__URL: databaseUrl,
    AIHUB_INTERNAL__SHARED_SECRET: INTERNAL_SECRET,
    AIHUB_AUTH__TOKEN_SECRET: TOKEN_SECRET,
    AIHUB_LOG__LEVEL: "warn",
  };

  /** `aihub --json admin ...` on this system's database; its JSON. */
  async function admin(...args) {
    try {
      const { stdout } = await promisify(execFile)(AIHUB_BIN, ["--json", "admin", ...args], { env: adminEnv, cwd: tmp });
      return JSON.parse(stdout);
    } catch (e) {
      throw new Error(`aihub admin ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
    }
  }

  async function stopAll() {
    for (const child of [...children].reverse()) await stop(child);
    if (process.env.AIHUB_SDK_KEEP_TMP) console.error(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }

  try {
    const stub = start("aihub-stub-upstream", STUB_UPSTREAM_BIN, ["--listen", `127.0.0.1:${stubPort}`]);
    children.push(stub);
    const serve = start("aihub serve", AIHUB_BIN, ["serve"], {
      cwd: tmp,
      env: {
        ...adminEnv,
        AIHUB_AUTH__MAX_FAILURES_PER_IP: "10000",
        AIHUB_EMAIL__MODE: "log",
        AIHUB_EMAIL__OUTBOX_DIR: outbox,
        AIHUB_PUBLIC__PORTAL_URL: gatewayUrl,
        AIHUB_SERVER__LISTEN: `127.0.0.1:${cpPort}`,
        AIHUB_LOG__LEVEL: process.env.AIHUB_LOG__LEVEL ?? "warn",
        AIHUB_WEBHOOKS__ALLOW_PRIVATE_NETWORKS: "true",
        AIHUB_WEBHOOKS__RETRY_DELAYS_MS: "[300,300,300]",
        AIHUB_BATCHES__GATEWAY_URL: gatewayUrl,
      },
    });
    children.push(serve);
    await waitFor("the stand-in provider", () => {
      if (!stub.alive()) throw new Error("aihub-stub-upstream exited");
      return canConnect(stubPort);
    });
    await waitFor("aihub serve /readyz", () => {
      if (!serve.alive()) throw new Error("aihub serve exited");
      return httpOk(`${controlPlaneUrl}/readyz`);
    }, 60_000);

    await admin("add-provider", "--name", "stub", "--kind", "openai", "--base-url", `http://127.0.0.1:${stubPort}/v1`, "--api-key", "stub-provider-key");
    await admin("add-model", "--name", "gpt-4o-mini", "--provider", "stub", "--upstream-model", "stub-mini");
    await admin("add-model", "--name", "gpt-4o", "--provider", "stub", "--upstream-model", "stub-large");

    const gateway = start("aihub-gateway", GATEWAY_BIN, [], {
      cwd: tmp,
      env: {
        ...process.env,
        AIHUB_GW_SERVER__LISTEN: `127.0.0.1:${gwPort}`,
        AIHUB_GW_SERVER__OPS_LISTEN: `127.0.0.1:${opsPort}`,
        AIHUB_GW_SERVER__SHUTDOWN_GRACE_SECS: "1",
        AIHUB_GW_SERVER__INSTANCE_ID: "ts-sdk-tests",
        AIHUB_GW_CONTROL_PLANE__URL: controlPlaneUrl,
        AIHUB_GW_CONTROL_PLANE__SHARED_SECRET: INTERNAL_SECRET,
        AIHUB_GW_CONTROL_PLANE__STATE_DIR: join(tmp, "gateway-state"),
        AIHUB_GW_SPOOL__DIR: join(tmp, "gateway-spool"),
        AIHUB_GW_LOG__LEVEL: process.env.AIHUB_GW_LOG__LEVEL ?? "warn",
      },
    });
    children.push(gateway);
    await waitFor("aihub-gateway /readyz", () => {
      if (!gateway.alive()) throw new Error("aihub-gateway exited");
      return httpOk(`http://127.0.0.1:${opsPort}/readyz`);
    }, 60_000);
    await waitFor("the management API through the gateway", () => httpOk(`${gatewayUrl}/api/v1/auth/config`));
  } catch (e) {
    const text = logs();
    await stopAll();
    throw new Error(`could not start AI Hub: ${e.message}\n${text}`);
  }

  /** The token of the newest verify-email link mailed to `address`. */
  function verificationToken(address) {
    return waitFor(`the verification mail to ${address}`, () => {
      if (!existsSync(outbox)) return null;
      const files = readdirSync(outbox)
        .filter((f) => f.endsWith(".eml"))
        .map((f) => join(outbox, f))
        .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
      for (const file of files) {
        const text = unQuotedPrintable(readFileSync(file, "utf8"));
        if (!text.toLowerCase().includes(address.toLowerCase())) continue;
        const match = text.match(/verify-email\?token=([A-Za-z0-9_\-.~%]+)/);
        if (match) return decodeURIComponent(match[1]);
      }
      return null;
    });
  }

  /** A new (unverified) developer with a password; its email. */
  async function newDeveloper(tag, password = PASSWORD) {
    const email = `${tag}-${randomUUID().slice(0, 10)}@example.com`;
    await admin("create-developer", "--email", email, "--name", `TS SDK ${tag}`, "--password", password);
    return email;
  }

  /** A developer whose address is verified through the real flow; its email. */
  async function verifiedDeveloper(tag) {
    const email = await newDeveloper(tag);
    const post = async (path, body) => {
      const r = await fetch(`${gatewayUrl}/api/v1/developer/${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    };
    await post("resend-verification", { email });
    await post("verify-email", { token: await verificationToken(email) });
    return email;
  }

  return { tmp, baseURL: gatewayUrl, controlPlaneUrl, databaseUrl, admin, newDeveloper, verifiedDeveloper, logs, stop: stopAll };
}

/** An HTTP server in the test process recording every request (answers 200). */
export class WebhookReceiver {
  static async start() {
    const receiver = new WebhookReceiver();
    await new Promise((ok, fail) => {
      receiver.server.once("error", fail);
      receiver.server.listen(0, "127.0.0.1", ok);
    });
    receiver.url = `http://127.0.0.1:${receiver.server.address().port}/hooks/aihub`;
    return receiver;
  }

  constructor() {
    /** Every request: { path, headers, body (a Buffer, as received) }. */
    this.requests = [];
    this.server = createHttpServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        this.requests.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"received":true}');
      });
    });
  }

  /** The first request matching `match`, waiting for it. */
  waitFor(what, match, timeoutMs = 20_000) {
    return waitFor(`the receiver to get ${what}`, () => this.requests.find(match) ?? null, timeoutMs);
  }

  close() {
    this.server.closeAllConnections?.();
    return new Promise((ok) => this.server.close(() => ok()));
  }
}
