// Starts the real system for the browser tests: an SMTP server process
// (Python's aiosmtpd, writing a Maildir), `aihub serve` on SQLite pointing its
// mail at it, and Debian's Chromium driven by playwright-core. A test that
// needs the data path too calls `system.startGateway()`: a stand-in provider
// (`aihub-stub-upstream`), two models registered with `aihub admin`, and the
// real `aihub-gateway` on the same control plane, plus the official OpenAI
// Python SDK to call it with. Webhook tests start a `WebhookReceiver` in the
// test process (the control plane is told to allow loopback URLs and to retry
// after 300 ms). Payments go through the Stripe stand-in (`aihub-stub-stripe`)
// when it is built. Usage the gateway cannot make (an earlier month's) goes
// to the control plane's usage ingest, signed as a gateway signs it.
//
// Environment:
//   AIHUB_BIN           the aihub binary (default ${CARGO_TARGET_DIR:-../../target}/debug/aihub)
//   AIHUB_GATEWAY_BIN   the gateway (default: aihub-gateway next to AIHUB_BIN)
//   AIHUB_STUB_UPSTREAM_BIN  the stand-in provider (default: aihub-stub-upstream next to AIHUB_BIN)
//   AIHUB_STUB_STRIPE_BIN    the Stripe stand-in (default: aihub-stub-stripe next to AIHUB_BIN); when
//                       it is there, `aihub serve` takes payments through it (Checkout and its webhooks)
//   AIHUB_TEST_PYTHON   a python with aiosmtpd (and the `openai` SDK for the
//                       gateway's tests) (default python3)
//   CHROMIUM            the browser (default /usr/bin/chromium)
//   AIHUB_PORTAL_SHOTS  a folder: every test's checkpoints are saved there too
//                       (failures are always saved, to a temp folder that is printed)
import { execFile, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { createServer as createHttpServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import PostalMime from "postal-mime";
import { Webhook } from "standardwebhooks";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repoTarget = process.env.CARGO_TARGET_DIR ?? resolve(here, "../../../target");

export const AIHUB_BIN = process.env.AIHUB_BIN ?? join(repoTarget, "debug", "aihub");
export const GATEWAY_BIN = process.env.AIHUB_GATEWAY_BIN ?? join(dirname(AIHUB_BIN), "aihub-gateway");
export const STUB_UPSTREAM_BIN =
  process.env.AIHUB_STUB_UPSTREAM_BIN ?? join(dirname(AIHUB_BIN), "aihub-stub-upstream");
export const STUB_STRIPE_BIN = process.env.AIHUB_STUB_STRIPE_BIN ?? join(dirname(AIHUB_BIN), "aihub-stub-stripe");
export const PYTHON = process.env.AIHUB_TEST_PYTHON ?? "python3";
const INTERNAL_SECRET = "browser-tests-internal-secret-0123456789";
// The control plane's token secret; `aihub admin` needs it too (it seals upstream keys with it).
const TOKEN_SECRET = "browser-tests-token-secret-0123456789abcdef";
const STRIPE_SECRET_KEY = "sk_test_browser_tests";
const STRIPE_WEBHOOK_SECRET = "whsec_browser_tests";
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Ports handed out by `freePort` in this process. */
const givenPorts = new Set();

/** Whether `port` can be listened on now (on 127.0.0.1). */
function canListen(port) {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once("error", () => resolveFree(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolveFree(true)));
  });
}

/**
 * A port that was free a moment ago on 127.0.0.1, picked at random below the
 * kernel's ephemeral range (32768 and up on Linux) and never twice in this
 * process: a `listen(0)` port is an ephemeral one, which an outgoing
 * connection or another process can take before our server binds it.
 */
export async function freePort() {
  for (let i = 0; i < 2000; i++) {
    const port = 20000 + Math.floor(Math.random() * 12768);
    if (!givenPorts.has(port) && (await canListen(port))) {
      givenPorts.add(port);
      return port;
    }
  }
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** A port held by a listening socket until `release()` (then free for the process that needs it). */
function reservePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolvePort({ port, release: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 100 ms until it returns something truthy. */
export async function waitFor(what, check, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

function canConnect(port) {
  return new Promise((ok) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      ok(true);
    });
    socket.once("error", () => ok(false));
  });
}

/** A child process whose output is kept for the failure message. */
function start(name, command, args, options) {
  const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  const output = [];
  const keep = (chunk) => {
    output.push(chunk.toString());
    if (output.length > 400) output.shift();
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  child.exited = new Promise((r) => child.once("exit", r));
  child.describe = () => `${name} output:\n${output.join("").slice(-6000)}`;
  return child;
}

async function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const killed = await Promise.race([child.exited.then(() => true), sleep(5000).then(() => false)]);
  if (!killed) child.kill("SIGKILL");
}

/** Reads the mail the SMTP server stored in its Maildir. */
export class Mailbox {
  constructor(dir) {
    this.dir = dir;
    // aiosmtpd's Mailbox only creates a Maildir that does not exist yet.
    for (const sub of ["cur", "new", "tmp"]) mkdirSync(join(dir, sub), { recursive: true });
  }

  async all() {
    const files = readdirSync(join(this.dir, "new")).sort();
    return Promise.all(files.map((f) => PostalMime.parse(readFileSync(join(this.dir, "new", f)))));
  }

  /** The newest message to `address` whose text contains `path`, waiting for it. */
  async waitForLink(address, path, timeoutMs = 30_000) {
    return waitFor(
      `a mail to ${address} with a ${path} link`,
      async () => {
        const messages = (await this.all()).filter((m) =>
          m.to?.some((t) => t.address?.toLowerCase() === address.toLowerCase()),
        );
        for (const message of messages.reverse()) {
          const text = `${message.text ?? ""}\n${message.html ?? ""}`;
          const match = text.match(new RegExp(`https?://[^\\s"'<>]+${path}\\?token=[A-Za-z0-9_\\-.~%]+`));
          if (match) return { message, link: match[0] };
        }
        return null;
      },
      timeoutMs,
    );
  }
}

/**
 * The whole system for one test file: SMTP server, `aihub serve`, Chromium.
 * Call `stop()` in `after`.
 */
export async function startSystem() {
  if (!existsSync(AIHUB_BIN)) {
    throw new Error(`${AIHUB_BIN} not found: build it first (cargo build -p aihub-control-plane) or set AIHUB_BIN`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium`);
  const tmp = mkdtempSync(join(tmpdir(), "aihub-portal-"));
  const system = { tmp, children: [] };
  let gatewayPort = null;
  try {
    const smtpPort = await freePort();
    const mailbox = new Mailbox(join(tmp, "maildir"));
    const smtp = start(
      "aiosmtpd",
      PYTHON,
      ["-m", "aiosmtpd", "-n", "-l", `127.0.0.1:${smtpPort}`, "-c", "aiosmtpd.handlers.Mailbox", mailbox.dir],
      {},
    );
    system.children.push(smtp);
    await waitFor("the SMTP server", () => canConnect(smtpPort), 15_000).catch((e) => {
      throw new Error(`${e.message}\n${smtp.describe()}`);
    });

    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    // The gateway starts only when a test asks for it, but the control plane
    // (started now) sends batch items to it: its port is chosen up front and
    // held (so no other server of the run takes it) until the gateway starts.
    gatewayPort = await reservePort();
    const databaseUrl = `sqlite://${join(tmp, "aihub.db")}?mode=rwc`;

    // Payments through the Stripe stand-in, when it is built: its hosted page
    // pays, and it sends the signed webhook to this control plane.
    let stripe = null;
    const paymentsEnv = {};
    if (existsSync(STUB_STRIPE_BIN)) {
      const stripePort = await freePort();
      const child = start(
        "aihub-stub-stripe",
        STUB_STRIPE_BIN,
        [
          "--port",
          String(stripePort),
          "--secret-key",
          STRIPE_SECRET_KEY,
          "--webhook-secret",
          STRIPE_WEBHOOK_SECRET,
          "--webhook-url",
          `${baseUrl}/api/v1/payments/stripe/webhook`,
        ],
        {},
      );
      system.children.push(child);
      await waitFor("the Stripe stand-in", () => {
        if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
        return canConnect(stripePort);
      }, 15_000).catch((e) => {
        throw new Error(`${e.message}\n${child.describe()}`);
      });
      stripe = { url: `http://127.0.0.1:${stripePort}` };
      Object.assign(paymentsEnv, {
        AIHUB_PAYMENTS__PROVIDER: "stripe",
        AIHUB_PAYMENTS__STRIPE_API_BASE: stripe.url,
        AIHUB_PAYMENTS__STRIPE_SECRET_KEY: STRIPE_SECRET_KEY,
        AIHUB_PAYMENTS__STRIPE_WEBHOOK_SECRET: STRIPE_WEBHOOK_SECRET,
      });
    }
    const aihub = start("aihub serve", AIHUB_BIN, ["serve"], {
      cwd: tmp,
      env: {
        ...process.env,
        AIHUB_DATABASE__URL: databaseUrl,
        AIHUB_INTERNAL__SHARED_SECRET: INTERNAL_SECRET,
        AIHUB_AUTH__TOKEN_SECRET: TOKEN_SECRET,
        AIHUB_EMAIL__MODE: "smtp",
        AIHUB_EMAIL__SMTP_HOST: "127.0.0.1",
        AIHUB_EMAIL__SMTP_PORT: String(smtpPort),
        AIHUB_EMAIL__SMTP_TLS: "none",
        AIHUB_PUBLIC__PORTAL_URL: baseUrl,
        AIHUB_SERVER__LISTEN: `127.0.0.1:${port}`,
        AIHUB_LOG__LEVEL: process.env.AIHUB_LOG__LEVEL ?? "warn",
        // The webhook receivers are in the test process, on 127.0.0.1; retries
        // come quickly so a test can watch a delivery fail and then succeed.
        AIHUB_WEBHOOKS__ALLOW_PRIVATE_NETWORKS: "true",
        AIHUB_WEBHOOKS__RETRY_DELAYS_MS: "[300,300,300]",
        // Batch jobs' items go through the gateway of `startGateway()`.
        AIHUB_BATCHES__GATEWAY_URL: `http://127.0.0.1:${gatewayPort.port}`,
        ...paymentsEnv,
      },
    });
    system.children.push(aihub);
    await waitFor(
      "aihub serve",
      async () => {
        if (aihub.exitCode !== null) throw new Error(`exited with ${aihub.exitCode}`);
        return (await fetch(`${baseUrl}/healthz`)).ok;
      },
      30_000,
    ).catch((e) => {
      throw new Error(`${e.message}\n${aihub.describe()}`);
    });

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    let gateway = null;
    return Object.assign(system, {
      baseUrl,
      databaseUrl,
      /** Starts the data path once (see `startGateway` below) and returns it. */
      startGateway() {
        gateway ??= startGateway(system, baseUrl, databaseUrl, gatewayPort);
        return gateway;
      },
      mailbox,
      browser,
      /** The Stripe stand-in ({ url }), or null when its binary is not built. */
      stripe,
      logs: () => system.children.map((c) => c.describe()).join("\n"),
      api: (path, body) =>
        fetch(`${baseUrl}/api/v1${path}`, {
          method: body === undefined ? "GET" : "POST",
          headers: { "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
      /** Sends usage rows as a gateway does (see `ingestUsage`); returns `{inserted, duplicates}`. */
      ingestUsage: (rows) => ingestUsage(baseUrl, rows),
      async stop() {
        await browser.close().catch(() => {});
        await (await gateway?.catch(() => null))?.sdk.close();
        await gatewayPort.release();
        for (const child of system.children.reverse()) await stop(child);
        rmSync(tmp, { recursive: true, force: true });
      },
    });
  } catch (e) {
    await gatewayPort?.release();
    for (const child of system.children.reverse()) await stop(child);
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** The path of the control plane's usage ingest (`aihub_contract::routes::USAGE`). */
const USAGE_ROUTE = "/internal/v1/usage";

/**
 * Posts usage rows to the control plane's internal ingest, signed with the
 * shared secret exactly as a gateway signs them (`x-aihub-internal:
 * t=<unix secs>,v1=<hex HMAC-SHA256 of "t.POST.path." + body>`, see
 * `aihub_contract::signing`). Each row is a gateway's `UsageRow`: the fields
 * given over a successful, non-streamed chat completion; `request_id`,
 * `ts_ms` and `developer_id` are the caller's. For stories that need usage
 * the gateway cannot make, such as usage in an earlier month.
 */
async function ingestUsage(baseUrl, rows) {
  const body = JSON.stringify({
    rows: rows.map((row) => ({
      key_id: "",
      endpoint: "chat.completions",
      method: "POST",
      model: "gpt-4o-mini",
      deployment_id: "",
      provider_id: "",
      prompt_tokens: 0,
      completion_tokens: 0,
      cached_tokens: 0,
      reasoning_tokens: 0,
      cost_nanos: 0,
      latency_ms: 100,
      ttft_ms: null,
      status: 200,
      stream: false,
      attempts: 1,
      ip: "127.0.0.1",
      user_agent: "browser-tests",
      error: "",
      gateway_id: "browser-tests",
      batch_id: "",
      ...row,
    })),
  });
  const t = Math.floor(Date.now() / 1000);
  const mac = createHmac("sha256", INTERNAL_SECRET).update(`${t}.POST.${USAGE_ROUTE}.`).update(body).digest("hex");
  const res = await fetch(`${baseUrl}${USAGE_ROUTE}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-aihub-internal": `t=${t},v1=${mac}` },
    body,
  });
  if (!res.ok) throw new Error(`usage ingest answered ${res.status}: ${await res.text()}`);
  return res.json();
}

/** Runs `aihub --json admin ...` against the system's database; returns its JSON. */
export async function aihubAdmin(databaseUrl, args) {
  try {
    const { stdout } = await promisify(execFile)(AIHUB_BIN, ["--json", "admin", ...args], {
      env: {
        ...process.env,
        AIHUB_DATABASE__URL: databaseUrl,
        AIHUB_INTERNAL__SHARED_SECRET: INTERNAL_SECRET,
        AIHUB_AUTH__TOKEN_SECRET: TOKEN_SECRET,
      },
    });
    return JSON.parse(stdout);
  } catch (e) {
    throw new Error(`aihub admin ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}

/** The models the stand-in provider serves through the gateway. */
export const GATEWAY_MODELS = ["gpt-4o-mini", "gpt-4o"];

/**
 * The data path next to a running control plane: the stand-in provider, the
 * catalog (provider `stub`, models gpt-4o-mini and gpt-4o), the gateway (ready
 * once /readyz says it has the configuration) on the `reserved` port (the
 * one the control plane sends batch items to) and an OpenAI SDK session.
 * Its processes join `system.children`, so `system.stop()` ends them.
 */
async function startGateway(system, controlPlaneUrl, databaseUrl, reserved) {
  for (const bin of [GATEWAY_BIN, STUB_UPSTREAM_BIN]) {
    if (!existsSync(bin)) {
      throw new Error(
        `${bin} not found: build it first (cargo build -p aihub-gateway -p aihub-testkit --bins) or set AIHUB_GATEWAY_BIN / AIHUB_STUB_UPSTREAM_BIN`,
      );
    }
  }
  const stubPort = await freePort();
  const stub = start("aihub-stub-upstream", STUB_UPSTREAM_BIN, ["--listen", `127.0.0.1:${stubPort}`], {});
  system.children.push(stub);
  await waitFor("the stand-in provider", () => {
    if (stub.exitCode !== null) throw new Error(`exited with ${stub.exitCode}`);
    return canConnect(stubPort);
  }, 15_000).catch((e) => {
    throw new Error(`${e.message}\n${stub.describe()}`);
  });

  await aihubAdmin(databaseUrl, [
    "add-provider",
    "--name",
    "stub",
    "--kind",
    "openai",
    "--base-url",
    `http://127.0.0.1:${stubPort}/v1`,
    "--api-key",
    "stub-provider-key",
  ]);
  await aihubAdmin(databaseUrl, ["add-model", "--name", "gpt-4o-mini", "--provider", "stub", "--upstream-model", "stub-mini"]);
  await aihubAdmin(databaseUrl, ["add-model", "--name", "gpt-4o", "--provider", "stub", "--upstream-model", "stub-large"]);

  const opsPort = await freePort();
  await reserved.release();
  const port = reserved.port;
  const gw = start("aihub-gateway", GATEWAY_BIN, [], {
    cwd: system.tmp,
    env: {
      ...process.env,
      AIHUB_GW_SERVER__LISTEN: `127.0.0.1:${port}`,
      AIHUB_GW_SERVER__OPS_LISTEN: `127.0.0.1:${opsPort}`,
      AIHUB_GW_SERVER__SHUTDOWN_GRACE_SECS: "1",
      AIHUB_GW_SERVER__INSTANCE_ID: "browser-tests",
      AIHUB_GW_CONTROL_PLANE__URL: controlPlaneUrl,
      AIHUB_GW_CONTROL_PLANE__SHARED_SECRET: INTERNAL_SECRET,
      AIHUB_GW_CONTROL_PLANE__STATE_DIR: join(system.tmp, "gateway-state"),
      AIHUB_GW_SPOOL__DIR: join(system.tmp, "gateway-spool"),
      AIHUB_GW_LOG__LEVEL: process.env.AIHUB_GW_LOG__LEVEL ?? "warn",
    },
  });
  system.children.push(gw);
  await waitFor(
    "aihub-gateway",
    async () => {
      if (gw.exitCode !== null) throw new Error(`exited with ${gw.exitCode}`);
      return (await fetch(`http://127.0.0.1:${opsPort}/readyz`)).ok;
    },
    30_000,
  ).catch((e) => {
    throw new Error(`${e.message}\n${gw.describe()}`);
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    opsUrl: `http://127.0.0.1:${opsPort}`,
    /** The stand-in provider's API root, as a provider's base URL (for stories that add providers themselves). */
    upstreamUrl: `http://127.0.0.1:${stubPort}/v1`,
    models: GATEWAY_MODELS,
    sdk: new OpenAISdk(`${url}/v1`),
  };
}

// One chat completion through the official OpenAI Python SDK. With arguments
// (base_url api_key model) it makes one call, prints the reply and exits 0,
// or prints the refusal as JSON and exits 3; without, it answers JSON lines
// ({"api_key", "model"} -> {"ok", "reply"} or {"ok": false, "status", "code",
// "error_class"}) until its input ends, so polls take milliseconds, not a
// Python start-up each.
const SDK_SCRIPT = String.raw`
import json, sys
import openai
from openai import OpenAI

def call(base_url, api_key, model):
    client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=10)
    try:
        r = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Say hello to the browser tests"}]
        )
        return {"ok": True, "reply": r.choices[0].message.content, "model": r.model}
    except openai.APIStatusError as e:
        return {"ok": False, "status": e.status_code, "code": getattr(e, "code", None),
                "error_class": type(e).__name__, "message": str(e)}

if len(sys.argv) > 1:
    out = call(*sys.argv[1:4])
    if out["ok"]:
        print(out["reply"])
        sys.exit(0)
    print(json.dumps(out))
    sys.exit(3)

for line in sys.stdin:
    req = json.loads(line)
    try:
        out = call(req["base_url"], req["api_key"], req["model"])
    except Exception as e:
        out = {"ok": False, "status": None, "error_class": type(e).__name__, "message": str(e)}
    print(json.dumps(out), flush=True)
`;

export class OpenAISdk {
  constructor(baseUrl) {
    this.baseUrl = baseUrl;
    this.worker = null;
  }

  /** One call in its own `python -c` process: { exitCode, stdout, stderr }. */
  async once(apiKey, model) {
    const child = spawn(PYTHON, ["-c", SDK_SCRIPT, this.baseUrl, apiKey, model], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    const exitCode = await new Promise((r) => child.once("exit", r));
    return { exitCode, stdout, stderr };
  }

  /** One call through the long-lived SDK process: { ok, reply } or { ok: false, status, code, error_class }. */
  async chat(apiKey, model) {
    if (!this.worker) {
      const child = spawn(PYTHON, ["-c", SDK_SCRIPT], { stdio: ["pipe", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (c) => (stderr = (stderr + c).slice(-4000)));
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      child.exited = new Promise((r) => child.once("exit", r));
      this.worker = { child, lines, stderr: () => stderr };
    }
    const { child, lines, stderr } = this.worker;
    child.stdin.write(`${JSON.stringify({ base_url: this.baseUrl, api_key: apiKey, model })}
`);
    const { value, done } = await lines.next();
    if (done) throw new Error(`the OpenAI SDK process ended:
${stderr()}`);
    return JSON.parse(value);
  }

  async close() {
    if (!this.worker) return;
    const { child } = this.worker;
    this.worker = null;
    child.stdin.end();
    await stop(child);
  }
}

let failureDir = null;

/** Saves a screenshot of every open page (always on failure; on request otherwise). */
export async function screenshots(context, label, { failure = false } = {}) {
  let dir = process.env.AIHUB_PORTAL_SHOTS;
  if (!dir && failure) dir = failureDir ??= mkdtempSync(join(tmpdir(), "aihub-portal-failures-"));
  if (!dir) return null;
  mkdirSync(dir, { recursive: true });
  const safe = label.replace(/[^a-z0-9-]+/gi, "_").toLowerCase();
  const pages = context.pages();
  for (const [i, page] of pages.entries()) {
    const file = join(dir, `${safe}${pages.length > 1 ? `-${i}` : ""}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    if (failure) console.error(`screenshot: ${file}`);
  }
  return dir;
}

/** Runs `body` with a fresh browser context; screenshots and logs on failure. */
export async function withContext(system, label, options, body) {
  const context = await system.browser.newContext(options);
  const problems = [];
  context.on("page", (page) => {
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      // Refused API calls (a wrong password, a spent token) are expected;
      // anything else, such as a CSP violation, is a problem.
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
        problems.push(`console: ${m.text()}`);
      }
    });
  });
  const shot = (name) => screenshots(context, `${label}-${name}`);
  try {
    await body(context, shot);
    if (problems.length) throw new Error(`the page reported problems:\n${problems.join("\n")}`);
  } catch (e) {
    await screenshots(context, `${label}-failure`, { failure: true });
    if (problems.length) console.error(problems.join("\n"));
    console.error(system.logs());
    throw e;
  } finally {
    await context.close();
  }
}

/** A unique address per test run. */
export function newEmail(tag) {
  return `${tag}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}@example.com`;
}

/**
 * A webhook receiver in the test process (http://127.0.0.1:<port>/hooks/...):
 * every request is recorded and, once `secret` is set, verified with the
 * `standardwebhooks` package (as the webhooks guide tells developers to).
 * It answers 200 with a small JSON body, 400 to a delivery that fails
 * verification, or what `script()` queued for the next requests: a status
 * code, or a promise to wait for before answering 200 (so a test can watch a
 * delivery while it is in flight).
 */
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
    /** Every request: { method, path, headers, body, event (verified, or null), error, answered }. */
    this.requests = [];
    this.plan = [];
    this.verifier = null;
    this.server = createHttpServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => void this.handle(req, Buffer.concat(chunks), res));
    });
  }

  /** The endpoint's signing secret (`whsec_…`), as the portal showed it. */
  set secret(secret) {
    this.verifier = new Webhook(secret);
  }

  /** What to do with the next requests, in order: a status code, or a promise to await before a 200. */
  script(...steps) {
    this.plan.push(...steps);
  }

  async handle(req, body, res) {
    const record = {
      method: req.method,
      path: req.url,
      headers: req.headers,
      body: body.toString("utf8"),
      event: null,
      error: null,
      answered: null,
      at: Date.now(),
    };
    this.requests.push(record);
    try {
      if (!this.verifier) throw new Error("no secret set yet");
      record.event = this.verifier.verify(body, req.headers);
    } catch (e) {
      record.error = `verification failed: ${e.message}`;
    }
    let status = record.event ? 200 : 400;
    const step = this.plan.shift();
    if (typeof step === "number") status = step;
    else if (step) await step;
    record.answered = status;
    res.writeHead(status, { "content-type": "application/json" });
    const answer = status === 200 ? { received: record.headers["webhook-id"] } : { error: record.error ?? "scripted failure" };
    res.end(JSON.stringify(answer));
  }

  /** Waits for a request matching `match` (the nth such one with `nth`) and returns it. */
  waitForRequest(what, match, { nth = 1, timeoutMs = 20_000 } = {}) {
    return waitFor(
      `the receiver to get ${what}`,
      () => this.requests.filter(match)[nth - 1] ?? null,
      timeoutMs,
    ).catch((e) => {
      const seen = this.requests.map(
        (r) => `${r.headers["x-aihub-event"]} ${r.headers["webhook-id"]} -> ${r.answered}${r.error ? ` (${r.error})` : ""}`,
      );
      throw new Error(`${e.message}; requests so far:\n${seen.join("\n")}`);
    });
  }

  close() {
    this.server.closeAllConnections?.();
    return new Promise((ok) => this.server.close(() => ok()));
  }
}
