// The portal in a real browser against the real system: `aihub serve`
// (SQLite), a real SMTP server, Debian's Chromium; the gateway's story adds
// the real `aihub-gateway`, a stand-in provider and the official OpenAI
// Python SDK; the webhooks story a receiver in this process that verifies
// every delivery with the `standardwebhooks` package. Run: npm run test:browser
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { WebhookReceiver, aihubAdmin, newEmail, startSystem, waitFor, withContext } from "./harness.mjs";

const DESKTOP = { viewport: { width: 1280, height: 800 }, locale: "en-US" };
const PHONE = {
  viewport: { width: 375, height: 812 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  locale: "zh-CN",
};
const PASSWORD = "correct horse battery staple";

let system;

before(async () => {
  system = await startSystem();
});

after(async () => {
  await system?.stop();
});

/** Registers and verifies through the API (for stories about other pages). */
async function verifiedAccount(tag, language = "en") {
  const email = newEmail(tag);
  const res = await system.api("/developer/register", {
    email,
    password: PASSWORD,
    full_name: "Grace Hopper",
    developer_type: "individual",
    language,
  });
  assert.equal(res.status, 202, await res.text());
  const { link } = await system.mailbox.waitForLink(email, "/verify-email");
  const token = new URL(link).searchParams.get("token");
  const verified = await system.api("/developer/verify-email", { token });
  assert.equal(verified.status, 200, await verified.text());
  return email;
}

async function signIn(page, email, password, labels = { email: "Email", password: "Password", submit: "Sign in" }) {
  await page.getByLabel(labels.email, { exact: true }).fill(email);
  await page.getByLabel(labels.password, { exact: true }).fill(password);
  await page.getByRole("button", { name: labels.submit, exact: true }).click();
}

/** The page must not scroll sideways (nothing wider than the phone). */
async function assertNoHorizontalScroll(page) {
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert.ok(scroll <= client, `page is ${scroll}px wide in a ${client}px viewport`);
}

describe("portal", () => {
  it("a new developer registers, verifies by mail, signs in, switches to Chinese and signs out", async () => {
    await withContext(system, "register-story", DESKTOP, async (context, shot) => {
      const page = await context.newPage();
      const email = newEmail("ada");

      await page.goto(`${system.baseUrl}/register`);
      await page.getByRole("heading", { name: "Create your developer account" }).waitFor();
      await page.getByLabel("Full name").fill("Ada Lovelace");
      await page.getByLabel(/^Company/).fill("Analytical Engines");
      await page.getByLabel("Email", { exact: true }).fill(email);
      await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
      await shot("1-register");
      await page.getByRole("button", { name: "Create account" }).click();
      await page.getByRole("heading", { name: "Check your inbox" }).waitFor();
      await page.getByText(email).waitFor();
      await shot("2-check-inbox");

      // The mail arrives through SMTP with a link back into the portal.
      const { message, link } = await system.mailbox.waitForLink(email, "/verify-email");
      assert.ok(link.startsWith(`${system.baseUrl}/verify-email?token=`), link);
      assert.match(message.subject ?? "", /verify/i);
      await page.goto(link);
      await page.getByRole("heading", { name: "Email verified" }).waitFor();
      await shot("3-verified");
      // The link is single-use.
      const reused = await system.api("/developer/verify-email", { token: new URL(link).searchParams.get("token") });
      assert.equal(reused.status, 400);

      await page.getByRole("link", { name: "Sign in" }).click();
      await page.getByRole("heading", { name: "Sign in to AI Hub" }).waitFor();
      await signIn(page, email, PASSWORD);
      await page.getByRole("heading", { name: "Welcome, Ada" }).waitFor();
      assert.equal(new URL(page.url()).pathname, "/");
      await page.getByText("Verified", { exact: true }).waitFor();
      assert.equal(await page.getByText("Verify your email address").count(), 0);
      // The plan card: a new developer is on Free, none of its 1,000 included tokens used.
      const planCard = page.getByRole("region", { name: "Plan" });
      await planCard.getByText("0 of 1,000 tokens this month").waitFor();
      assert.equal((await planCard.getByTestId("dashboard-plan").textContent()).trim(), "Free");
      await shot("4-dashboard");

      // Chinese at once, and still Chinese (and still signed in) after a reload.
      await page.getByLabel("Language", { exact: true }).selectOption("zh-CN");
      await page.getByRole("heading", { name: "欢迎，Ada" }).waitFor();
      assert.equal(await page.locator("html").getAttribute("lang"), "zh-CN");
      await page.reload();
      await page.getByRole("heading", { name: "欢迎，Ada" }).waitFor();
      await page.getByRole("link", { name: "个人资料", exact: true }).waitFor();
      await shot("5-dashboard-zh");

      // Signing out revokes the session on the server.
      const refreshToken = await page.evaluate(() => localStorage.getItem("aihub.refresh_token"));
      assert.ok(refreshToken);
      await page.getByRole("button", { name: "账户菜单" }).click();
      await page.getByRole("menuitem", { name: "退出登录" }).click();
      await page.getByRole("heading", { name: "登录 AI Hub" }).waitFor();
      assert.equal(await page.evaluate(() => localStorage.getItem("aihub.refresh_token")), null);
      const refused = await system.api("/developer/refresh", { refresh_token: refreshToken });
      assert.equal(refused.status, 401);

      // A protected page now leads to sign-in, and back after it.
      await page.goto(`${system.baseUrl}/profile`);
      await page.waitForURL(/\/login\?next=%2Fprofile$/);
      await page.getByRole("heading", { name: "登录 AI Hub" }).waitFor();
      await shot("6-signed-out");
      await signIn(page, email, PASSWORD, { email: "邮箱", password: "密码", submit: "登录" });
      await page.getByRole("heading", { name: "个人资料", exact: true }).waitFor();
      assert.equal(new URL(page.url()).pathname, "/profile");
    });
  });

  it("a forgotten password is reset through the emailed link", async () => {
    const email = await verifiedAccount("grace");
    const newPassword = "a completely new passphrase";
    await withContext(system, "reset-story", DESKTOP, async (context, shot) => {
      const page = await context.newPage();
      await page.goto(`${system.baseUrl}/login`);
      await page.getByRole("link", { name: "Forgot password?" }).click();
      await page.getByRole("heading", { name: "Reset your password" }).waitFor();
      await page.getByLabel("Email", { exact: true }).fill(email);
      await page.getByRole("button", { name: "Send reset link" }).click();
      await page.getByRole("heading", { name: "Check your inbox" }).waitFor();
      await shot("1-sent");

      const { link } = await system.mailbox.waitForLink(email, "/reset-password");
      assert.ok(link.startsWith(`${system.baseUrl}/reset-password?token=`), link);
      await page.goto(link);
      await page.getByRole("heading", { name: "Choose a new password" }).waitFor();
      await page.getByLabel("New password", { exact: true }).fill(newPassword);
      await page.getByLabel("Confirm new password", { exact: true }).fill(newPassword);
      await shot("2-new-password");
      await page.getByRole("button", { name: "Set new password" }).click();
      await page.getByRole("heading", { name: "Password changed" }).waitFor();
      await shot("3-changed");

      // The spent link is refused when opened again.
      await page.goto(link);
      await page.getByLabel("New password", { exact: true }).fill(`${newPassword}!`);
      await page.getByLabel("Confirm new password", { exact: true }).fill(`${newPassword}!`);
      await page.getByRole("button", { name: "Set new password" }).click();
      await page.getByRole("heading", { name: "This reset link no longer works" }).waitFor();

      // The old password no longer works; the new one does.
      await page.goto(`${system.baseUrl}/login`);
      await signIn(page, email, PASSWORD);
      await page.getByRole("alert").getByText("The email or password is incorrect.").waitFor();
      await shot("4-old-password-refused");
      await page.getByLabel("Password", { exact: true }).fill(newPassword);
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await page.getByRole("heading", { name: "Welcome, Grace" }).waitFor();
    });
  });

  it("works on a phone: sign-up, sign-in and the navigation menu, in the browser's language", async () => {
    const email = await verifiedAccount("lin", "zh-CN");
    await withContext(system, "phone", PHONE, async (context, shot) => {
      const page = await context.newPage();
      // No stored choice: the browser's language (zh-CN) decides.
      await page.goto(`${system.baseUrl}/register`);
      await page.getByRole("heading", { name: "创建开发者账户" }).waitFor();
      await assertNoHorizontalScroll(page);
      await shot("1-register");
      // The form checks itself before sending.
      await page.getByRole("button", { name: "创建账户" }).click();
      await page.getByText("此项为必填项。").first().waitFor();

      await page.goto(`${system.baseUrl}/login`);
      await page.getByRole("heading", { name: "登录 AI Hub" }).waitFor();
      await assertNoHorizontalScroll(page);
      await shot("2-login");
      await signIn(page, email, PASSWORD, { email: "邮箱", password: "密码", submit: "登录" });
      await page.getByRole("heading", { name: "欢迎，Grace" }).waitFor();
      await assertNoHorizontalScroll(page);
      await shot("3-dashboard");

      // The sidebar is a drawer behind the menu button.
      const nav = page.getByRole("navigation", { name: "主导航" });
      assert.equal(await nav.isVisible(), false);
      await page.getByRole("button", { name: "打开菜单" }).click();
      await nav.getByRole("link", { name: "个人资料" }).waitFor({ state: "visible" });
      await page.waitForTimeout(300); // the drawer slides in
      await shot("4-menu-open");
      await nav.getByRole("link", { name: "个人资料" }).click();
      await page.getByRole("heading", { name: "个人资料", exact: true }).waitFor();
      await nav.waitFor({ state: "hidden" });
      await assertNoHorizontalScroll(page);
      await shot("5-profile");

      // The header's switcher works here too.
      await page.getByLabel("语言", { exact: true }).selectOption("en");
      await page.getByRole("heading", { name: "Profile", exact: true }).waitFor();
    });
  });
});

/** Signs in through the API and creates a key (for stories that need keys to exist). */
async function createKeyViaApi(email, name, extra = {}) {
  const login = await system.api("/developer/login", { email, password: PASSWORD });
  assert.equal(login.status, 200, await login.clone().text());
  const { access_token } = await login.json();
  const res = await fetch(`${system.baseUrl}/api/v1/developer/keys`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${access_token}` },
    body: JSON.stringify({ name, ...extra }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return { key: await res.json(), accessToken: access_token };
}

describe("API keys", () => {
  it("a verified developer creates a key, copies the snippet, disables, regenerates and deletes it", async () => {
    const email = await verifiedAccount("keys");
    const options = { ...DESKTOP, permissions: ["clipboard-read", "clipboard-write"] };
    await withContext(system, "keys-story", options, async (context, shot) => {
      const page = await context.newPage();
      await page.goto(`${system.baseUrl}/login`);
      await signIn(page, email, PASSWORD);
      await page.getByRole("heading", { name: "Welcome, Grace" }).waitFor();
      await page.getByRole("navigation", { name: "Main navigation" }).getByRole("link", { name: "API keys" }).click();
      await page.getByRole("heading", { name: "No API keys yet" }).waitFor();
      await shot("1-empty");

      // The dialog opens with the name focused; Escape closes it.
      await page.getByRole("button", { name: "Create key" }).click();
      let dialog = page.getByRole("dialog", { name: "Create API key" });
      await dialog.waitFor();
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "detached" });
      await page.getByRole("button", { name: "Create key" }).click();
      await dialog.waitFor();
      await page.keyboard.type("Production backend");
      // Scoped to chat and embeddings, 60 requests a minute, one IP range.
      await dialog.getByText("Your account allows up to 100 requests/min.").waitFor();
      for (const name of ["Completions", "Batches", "Files"]) {
        await dialog.getByRole("checkbox", { name, exact: true }).uncheck();
      }
      await dialog.getByLabel("Requests per minute", { exact: true }).fill("60");
      await dialog.getByLabel(/^IP allow-list/).fill("203.0.113.0/24");
      await dialog.getByLabel(/^Metadata/).fill("team=search");
      await dialog.getByLabel("Expiry").selectOption("90");
      await page.waitForTimeout(250); // the dialog fades in
      await shot("2-create");
      await dialog.getByRole("button", { name: "Create key" }).click();

      // The secret, once, with a snippet that points at this platform.
      dialog = page.getByRole("dialog", { name: "Save your new key" });
      await dialog.waitFor();
      const secret = (await dialog.getByTestId("secret").textContent()).trim();
      assert.match(secret, /^ahub_\S{30,}$/);
      await page.waitForTimeout(250); // the dialog fades in
      await shot("3-secret");
      await dialog.getByRole("button", { name: "Copy code" }).click();
      await dialog.getByRole("button", { name: "Copied" }).waitFor();
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      assert.ok(copied.includes(`base_url="${system.baseUrl}/v1"`), copied);
      assert.ok(copied.includes(`api_key="${secret}"`), copied);
      await dialog.getByRole("tab", { name: "Node.js" }).click();
      await dialog.getByText(`baseURL: "${system.baseUrl}/v1"`).waitFor();
      await dialog.getByRole("button", { name: "I've saved it" }).click();
      await dialog.waitFor({ state: "detached" });

      // In the list, without its secret.
      const row = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: "Production backend" }) });
      await row.getByText("Active").waitFor();
      assert.equal(await page.getByText(secret).count(), 0);
      await row.getByRole("img", { name: "0 requests in the last 30 days" }).waitFor();
      // Its scopes and limits, as the server stored them.
      await row.getByText("chat, embeddings · 60 req/min · 1 IP range").waitFor();
      await row.getByText("team=search", { exact: true }).waitFor();
      await shot("4-list");

      // Edit its limit: above the account's 100 requests/min the server says
      // no, by the field; within it, the change is saved. And disable it.
      await row.getByRole("button", { name: "Edit" }).click();
      dialog = page.getByRole("dialog", { name: "Edit API key" });
      const rpm = dialog.getByLabel("Requests per minute", { exact: true });
      assert.equal(await rpm.inputValue(), "60");
      assert.equal(await dialog.getByLabel(/^IP allow-list/).inputValue(), "203.0.113.0/24");
      await rpm.fill("500");
      await dialog.getByRole("button", { name: "Save changes" }).click();
      await dialog.getByRole("alert").filter({ hasText: "limits.requests_per_minute" }).waitFor();
      await dialog.getByText(/^at most 100/).waitFor();
      await page.waitForTimeout(250);
      await shot("5-limit-refused");
      await rpm.fill("30");
      await dialog.getByLabel(/^Enabled/).uncheck();
      await dialog.getByRole("button", { name: "Save changes" }).click();
      await dialog.waitFor({ state: "detached" });
      await row.getByText("Disabled").waitFor();
      await row.getByText("chat, embeddings · 30 req/min · 1 IP range").waitFor();

      // Regenerate it: a new secret, shown once; the old one stops at once.
      await row.getByRole("button", { name: "Regenerate" }).click();
      dialog = page.getByRole("dialog", { name: "Regenerate “Production backend”" });
      await dialog.getByLabel("Immediately").check();
      await page.waitForTimeout(250); // the dialog fades in
      await shot("6-regenerate");
      await dialog.getByRole("button", { name: "Regenerate" }).click();
      dialog = page.getByRole("dialog", { name: "Save your new secret" });
      await dialog.getByText("The old secret no longer works.").waitFor();
      const newSecret = (await dialog.getByTestId("secret").textContent()).trim();
      assert.match(newSecret, /^ahub_/);
      assert.notEqual(newSecret, secret);
      await dialog.getByRole("button", { name: "I've saved it" }).click();
      await dialog.waitFor({ state: "detached" });

      // Per-key stats.
      await row.getByRole("button", { name: "Usage" }).click();
      dialog = page.getByRole("dialog", { name: "Usage of “Production backend”" });
      await dialog.getByText("No requests in this period yet.").waitFor();
      await page.waitForTimeout(250); // the dialog fades in
      await shot("7-stats");
      await dialog.getByRole("button", { name: "Close" }).click();
      await dialog.waitFor({ state: "detached" });

      // Delete it, after confirming.
      await row.getByRole("button", { name: "Delete" }).click();
      dialog = page.getByRole("dialog", { name: "Delete “Production backend”?" });
      await page.waitForTimeout(250); // the dialog fades in
      await shot("8-delete");
      await dialog.getByRole("button", { name: "Delete key" }).click();
      await page.getByRole("heading", { name: "No API keys yet" }).waitFor();
    });
  });

  it("lists keys on a phone without sideways scrolling", async () => {
    const email = await verifiedAccount("keysphone", "zh-CN");
    await createKeyViaApi(email, "Staging", {
      allowed_endpoints: ["chat"],
      limits: { requests_per_minute: 50, budget_monthly: "5" },
      ip_allowlist: ["203.0.113.0/24", "2001:db8::/32"],
    });
    await createKeyViaApi(email, "A rather long key name for the mobile app backend");
    await withContext(system, "keys-phone", PHONE, async (context, shot) => {
      const page = await context.newPage();
      await page.goto(`${system.baseUrl}/login`);
      await signIn(page, email, PASSWORD, { email: "邮箱", password: "密码", submit: "登录" });
      await page.getByRole("heading", { name: "欢迎，Grace" }).waitFor();
      await page.goto(`${system.baseUrl}/keys`);
      await page.getByRole("heading", { name: "API 密钥", exact: true }).waitFor();
      await page.getByRole("heading", { name: "Staging" }).waitFor();
      await page.getByRole("img", { name: "近 30 天共 0 次请求" }).first().waitFor();
      await page.getByText(/chat · 每分钟 50 次请求 · 每月 (US)?\$5\.00 · 2 个 IP 范围/).waitFor();
      await assertNoHorizontalScroll(page);
      await shot("1-list");
      await page.getByRole("button", { name: "创建密钥" }).click();
      await page.getByRole("dialog", { name: "创建 API 密钥" }).waitFor();
      await assertNoHorizontalScroll(page);
      await page.waitForTimeout(250); // the sheet slides in
      await shot("2-create");
    });
  });
});

/** How soon a change to a key must reach the gateway (the product promises a second). */
const PROPAGATION_MS = 1_000;

/**
 * Polls the SDK with `apiKey` until `accept(result)` holds, within `ms`;
 * returns the result and how long it took.
 */
async function sdkUntil(sdk, what, apiKey, model, accept, ms = PROPAGATION_MS) {
  const started = Date.now();
  let last;
  const result = await waitFor(
    what,
    async () => {
      last = await sdk.chat(apiKey, model);
      return accept(last) ? last : null;
    },
    ms,
  ).catch((e) => {
    throw new Error(`${e.message}; last SDK result: ${JSON.stringify(last)}`);
  });
  return { result, elapsed: Date.now() - started };
}

const works = (r) => r.ok === true && typeof r.reply === "string" && r.reply.length > 0;
const unauthorized = (r) => r.ok === false && r.status === 401 && r.error_class === "AuthenticationError";

async function assertWorks(sdk, apiKey, model, why) {
  const r = await sdk.chat(apiKey, model);
  assert.ok(works(r), `${why}: ${JSON.stringify(r)}`);
}

describe("the developer's flow through the gateway (issue 5)", () => {
  it("creates a key, calls the gateway with the OpenAI SDK, sees its stats, narrows its models, rotates and deletes it", async () => {
    const gateway = await system.startGateway();
    const { sdk } = gateway;
    const email = await verifiedAccount("flow");
    const timings = {};
    await withContext(system, "gateway-flow", DESKTOP, async (context, shot) => {
      const page = await context.newPage();
      await page.goto(`${system.baseUrl}/login`);
      await signIn(page, email, PASSWORD);
      await page.getByRole("heading", { name: "Welcome, Grace" }).waitFor();
      await page.getByRole("navigation", { name: "Main navigation" }).getByRole("link", { name: "API keys" }).click();
      await page.getByRole("heading", { name: "No API keys yet" }).waitFor();

      // Create a key with the defaults (every model); the secret is shown once.
      await page.getByRole("button", { name: "Create key" }).click();
      let dialog = page.getByRole("dialog", { name: "Create API key" });
      await dialog.waitFor();
      await dialog.getByLabel("Name", { exact: true }).fill("SDK app");
      await dialog.getByRole("button", { name: "Create key" }).click();
      dialog = page.getByRole("dialog", { name: "Save your new key" });
      await dialog.waitFor();
      const secret = (await dialog.getByTestId("secret").textContent()).trim();
      assert.match(secret, /^ahub_\S{30,}$/);
      await page.waitForTimeout(250); // the dialog fades in
      await shot("1-secret");
      await dialog.getByRole("button", { name: "I've saved it" }).click();
      await dialog.waitFor({ state: "detached" });
      const row = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: "SDK app" }) });
      await row.getByText("All models", { exact: true }).waitFor();
      await row.getByText("Never", { exact: true }).waitFor(); // last used

      // The official OpenAI SDK, in its own process, against the gateway.
      const first = await sdk.once(secret, "gpt-4o-mini");
      assert.equal(first.exitCode, 0, `the SDK call failed:\n${first.stdout}\n${first.stderr}`);
      assert.ok(first.stdout.trim().length > 0, "the SDK printed no reply");

      // Its usage reaches the key's stats (the gateway's spool, then the
      // control plane): the list's chart and the stats dialog show it.
      await waitFor(
        "the request in the key's stats",
        async () => {
          await page.reload();
          await row.getByRole("heading", { name: "SDK app" }).waitFor();
          await row.getByRole("img", { name: /^1 requests? in the last 30 days$/ }).waitFor({ timeout: 2_000 });
          return true;
        },
        15_000,
      );
      assert.equal(await row.getByText("Never", { exact: true }).count(), 0, "last used is still Never");
      await row.getByRole("button", { name: "Usage" }).click();
      dialog = page.getByRole("dialog", { name: "Usage of “SDK app”" });
      await dialog.waitFor();
      const stat = (name) => dialog.locator(".stats > div").filter({ has: page.getByText(name, { exact: true }) }).locator("dd");
      await waitFor("the stats dialog's totals", async () => (await stat("Requests").textContent()) === "1", 5_000);
      assert.match(await stat("Tokens").textContent(), /^[1-9]/);
      assert.equal(await stat("Errors").textContent(), "0");
      assert.equal(await dialog.getByRole("row").count(), 2, "one day with requests, under the header");
      await page.waitForTimeout(250); // the dialog fades in
      await shot("2-stats");
      await dialog.getByRole("button", { name: "Close" }).click();
      await dialog.waitFor({ state: "detached" });

      // Narrow it to gpt-4o-mini: gpt-4o is refused within a second, by the SDK
      // as PermissionDeniedError (403 model_not_allowed); gpt-4o-mini still works.
      await assertWorks(sdk, secret, "gpt-4o", "gpt-4o before narrowing");
      await row.getByRole("button", { name: "Edit" }).click();
      dialog = page.getByRole("dialog", { name: "Edit API key" });
      await dialog.getByRole("radio", { name: /^Only these models/ }).check();
      const models = dialog.getByLabel("Allowed models", { exact: true });
      await models.fill("gpt-4o-mini");
      await models.press("Enter");
      await dialog.getByRole("button", { name: "Remove gpt-4o-mini" }).waitFor();
      await page.waitForTimeout(250);
      await shot("3-narrow");
      await dialog.getByRole("button", { name: "Save changes" }).click();
      await dialog.waitFor({ state: "detached" });
      await row.getByText("gpt-4o-mini", { exact: true }).waitFor();
      const narrowed = await sdkUntil(
        sdk,
        "gpt-4o refused after narrowing",
        secret,
        "gpt-4o",
        (r) => r.ok === false,
      );
      timings.narrowed = narrowed.elapsed;
      assert.equal(narrowed.result.status, 403, JSON.stringify(narrowed.result));
      assert.equal(narrowed.result.error_class, "PermissionDeniedError");
      assert.equal(narrowed.result.code, "model_not_allowed");
      await assertWorks(sdk, secret, "gpt-4o-mini", "the allowed model after narrowing");
      await shot("4-narrowed");

      // Regenerate with the shortest grace the portal offers (an hour): the
      // new secret works, and so does the old one meanwhile.
      await row.getByRole("button", { name: "Regenerate" }).click();
      dialog = page.getByRole("dialog", { name: "Regenerate “SDK app”" });
      await dialog.getByLabel("In 1 hour").check();
      await page.waitForTimeout(250); // the dialog fades in
      await shot("5-regenerate-grace");
      await dialog.getByRole("button", { name: "Regenerate" }).click();
      dialog = page.getByRole("dialog", { name: "Save your new secret" });
      await dialog.getByText(/^The old secret keeps working until /).waitFor();
      const rotated = (await dialog.getByTestId("secret").textContent()).trim();
      assert.match(rotated, /^ahub_/);
      assert.notEqual(rotated, secret);
      await shot("6-grace-secret");
      await dialog.getByRole("button", { name: "I've saved it" }).click();
      await dialog.waitFor({ state: "detached" });
      const newWorks = await sdkUntil(sdk, "the new secret accepted", rotated, "gpt-4o-mini", works);
      timings.rotatedAccepted = newWorks.elapsed;
      await assertWorks(sdk, secret, "gpt-4o-mini", "the old secret within its grace");
      // Still within the hour, the old secret carries the key's settings.
      assert.equal((await sdk.chat(secret, "gpt-4o")).status, 403);

      // The end of a grace, which the portal cannot shorten below an hour:
      // the same regeneration through the portal's API with 2 seconds.
      const login = await system.api("/developer/login", { email, password: PASSWORD });
      const { access_token } = await login.json();
      const authed = (path, body) =>
        fetch(`${system.baseUrl}/api/v1${path}`, {
          method: body === undefined ? "GET" : "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${access_token}` },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      const listed = await (await authed("/developer/keys")).json();
      const keyId = listed.data.find((k) => k.name === "SDK app").id;
      const short = await authed(`/developer/keys/${keyId}/regenerate`, { grace_seconds: 2 });
      assert.equal(short.status, 200, await short.clone().text());
      const { secret: third, grace_expires_at_ms: graceEnd } = await short.json();
      await sdkUntil(sdk, "the third secret accepted", third, "gpt-4o-mini", works);
      // The earlier grace ends now; the second secret works until its grace ends.
      timings.firstGraceReplaced = (
        await sdkUntil(sdk, "the first secret refused once its grace is replaced", secret, "gpt-4o-mini", unauthorized)
      ).elapsed;
      const stillInGrace = await sdk.chat(rotated, "gpt-4o-mini");
      if (Date.now() < graceEnd) assert.ok(works(stillInGrace), `within the grace: ${JSON.stringify(stillInGrace)}`);
      const expired = await sdkUntil(
        sdk,
        "the second secret refused after its grace",
        rotated,
        "gpt-4o-mini",
        (r) => !works(r),
        Math.max(0, graceEnd - Date.now()) + PROPAGATION_MS,
      );
      const refusedAt = Date.now();
      assert.ok(unauthorized(expired.result), JSON.stringify(expired.result));
      assert.ok(refusedAt >= graceEnd, `refused ${graceEnd - refusedAt} ms before the grace ended`);
      timings.afterGraceEnd = refusedAt - graceEnd;

      // Regenerate with no grace ("Immediately"): the old secret fails within a second.
      await row.getByRole("button", { name: "Regenerate" }).click();
      dialog = page.getByRole("dialog", { name: "Regenerate “SDK app”" });
      await dialog.getByLabel("Immediately").check();
      await dialog.getByRole("button", { name: "Regenerate" }).click();
      dialog = page.getByRole("dialog", { name: "Save your new secret" });
      await dialog.getByText("The old secret no longer works.").waitFor();
      const fourth = (await dialog.getByTestId("secret").textContent()).trim();
      await shot("7-regenerated-now");
      await dialog.getByRole("button", { name: "I've saved it" }).click();
      await dialog.waitFor({ state: "detached" });
      timings.revokedNow = (
        await sdkUntil(sdk, "the old secret refused after regenerating at once", third, "gpt-4o-mini", unauthorized)
      ).elapsed;
      await sdkUntil(sdk, "the newest secret accepted", fourth, "gpt-4o-mini", works);

      // Delete it, after confirming: refused (401) within a second.
      await row.getByRole("button", { name: "Delete" }).click();
      dialog = page.getByRole("dialog", { name: "Delete “SDK app”?" });
      await page.waitForTimeout(250); // the dialog fades in
      await shot("8-delete");
      await dialog.getByRole("button", { name: "Delete key" }).click();
      await page.getByRole("heading", { name: "No API keys yet" }).waitFor();
      const deleted = await sdkUntil(sdk, "the deleted key refused", fourth, "gpt-4o-mini", (r) => r.ok === false);
      timings.deleted = deleted.elapsed;
      assert.ok(unauthorized(deleted.result), JSON.stringify(deleted.result));
      await shot("9-deleted");
    });
    console.log(`gateway flow: ms from the portal's confirmation to the gateway acting: ${JSON.stringify(timings)}`);
  });
});

/** The delivery a receiver got for an event of `type` that verified, or null. */
const verifiedOf = (type) => (r) => r.event !== null && r.event.type === type && r.headers["x-aihub-event"] === type;

/** Reloads `page` until `check()` holds (the delivery log shows what the server has now). */
async function reloadUntil(page, what, check, timeoutMs = 20_000) {
  return waitFor(
    what,
    async () => {
      await page.reload();
      await page.getByRole("heading", { name: "Delivery log" }).waitFor();
      return await check();
    },
    timeoutMs,
  );
}

describe("webhooks and events (issue 6)", () => {
  let receiver;
  before(async () => {
    receiver = await WebhookReceiver.start();
  });
  after(async () => {
    await receiver?.close();
  });

  it("adds an endpoint, tests it, sees signed deliveries with retries and a replay, and watches events live", async () => {
    const email = await verifiedAccount("hooks");
    await withContext(system, "webhooks-story", DESKTOP, async (context, shot) => {
      const page = await context.newPage();
      const nav = page.getByRole("navigation", { name: "Main navigation" });
      await page.goto(`${system.baseUrl}/login`);
      await signIn(page, email, PASSWORD);
      await page.getByRole("heading", { name: "Welcome, Grace" }).waitFor();
      await nav.getByRole("link", { name: "Webhooks" }).click();
      await page.getByRole("heading", { name: "No webhook endpoints yet" }).waitFor();
      await shot("1-empty");

      // Add an endpoint for the receiver, subscribed to api_key.created only.
      await page.getByRole("button", { name: "Add endpoint" }).click();
      let dialog = page.getByRole("dialog", { name: "Add webhook endpoint" });
      await dialog.waitFor();
      await dialog.getByLabel("Endpoint URL", { exact: true }).fill(receiver.url);
      await dialog.getByLabel(/^Description/).fill("Browser test receiver");
      await dialog.getByRole("radio", { name: /^Selected events/ }).check();
      await dialog.getByRole("checkbox", { name: /^api_key\.created/ }).check();
      await page.waitForTimeout(250); // the dialog fades in
      await shot("2-create");
      await dialog.getByRole("button", { name: "Add endpoint" }).click();

      // The signing secret, shown once: the receiver verifies with it.
      dialog = page.getByRole("dialog", { name: "Save your signing secret" });
      await dialog.waitFor();
      const secret = (await dialog.getByTestId("webhook-secret").textContent()).trim();
      assert.match(secret, /^whsec_[A-Za-z0-9+/=]{20,}$/);
      receiver.secret = secret;
      await shot("3-secret");
      await dialog.getByRole("button", { name: "Done" }).click();
      await dialog.waitFor({ state: "detached" });
      const row = page.getByRole("listitem").filter({ has: page.getByRole("link", { name: receiver.url }) });
      await row.getByText("Active", { exact: true }).waitFor();
      await row.getByText("api_key.created", { exact: true }).waitFor();
      assert.equal(await page.getByText(secret).count(), 0, "the secret is still on the page");

      // Send test: the dialog shows the receiver's answer and how long it took.
      await row.getByRole("button", { name: "Send test" }).click();
      dialog = page.getByRole("dialog", { name: "Send a test event" });
      await dialog.getByRole("button", { name: "Send test" }).click();
      await dialog.getByText("Delivered", { exact: true }).waitFor();
      const result = dialog.getByTestId("attempt-result");
      const fact = (name) => result.locator("dl > div").filter({ has: page.getByText(name, { exact: true }) }).locator("dd");
      assert.equal((await fact("Status code").textContent()).trim(), "200");
      assert.match((await fact("Duration").textContent()).trim(), /^[\d,]+ ms$/);
      const test = await receiver.waitForRequest("a verified webhook.test", verifiedOf("webhook.test"));
      assert.equal(test.method, "POST");
      assert.equal(test.headers["user-agent"], "AIHub-Webhook/1.0");
      assert.equal(test.event.id, test.headers["webhook-id"]);
      assert.match(test.event.data.message ?? "", /test event/i);
      // The receiver's answer body is shown too.
      await result.getByText(test.headers["webhook-id"], { exact: false }).waitFor();
      await page.waitForTimeout(250);
      await shot("4-test-sent");
      await dialog.getByRole("button", { name: "Close" }).last().click(); // the footer's, not the corner ×
      await dialog.waitFor({ state: "detached" });

      // A new API key makes an api_key.created event, delivered signed.
      await nav.getByRole("link", { name: "API keys" }).click();
      await page.getByRole("heading", { name: "No API keys yet" }).waitFor();
      await page.getByRole("button", { name: "Create key" }).click();
      dialog = page.getByRole("dialog", { name: "Create API key" });
      await dialog.getByLabel("Name", { exact: true }).fill("Webhook demo");
      await dialog.getByRole("button", { name: "Create key" }).click();
      dialog = page.getByRole("dialog", { name: "Save your new key" });
      await dialog.getByRole("button", { name: "I've saved it" }).click();
      await dialog.waitFor({ state: "detached" });
      const created = await receiver.waitForRequest("a verified api_key.created", verifiedOf("api_key.created"));
      const createdId = created.headers["webhook-id"];
      assert.match(createdId, /^evt_/);
      assert.equal(created.event.id, createdId);
      assert.equal(created.event.data.name, "Webhook demo");
      assert.equal(created.event.data.secret, undefined, "the key's secret is in the event");
      assert.match(created.headers["x-aihub-signature"] ?? "", /^sha256=[0-9a-f]{64}$/);

      // The endpoint's page: the delivery log has it, succeeded, with its attempt.
      await nav.getByRole("link", { name: "Webhooks" }).click();
      await row.getByRole("link", { name: receiver.url }).click();
      await page.getByRole("heading", { name: receiver.url }).waitFor();
      await page.getByRole("heading", { name: "Delivery log" }).waitFor();
      const deliveries = (type) =>
        page.getByRole("listitem").filter({ has: page.locator("code.delivery-type", { hasText: type }) });
      let delivery = deliveries("api_key.created").first();
      await delivery.getByText("Succeeded", { exact: true }).waitFor();
      await delivery.getByText("1 attempt · HTTP 200", { exact: true }).waitFor();
      await deliveries("webhook.test").getByText("Succeeded", { exact: true }).waitFor();
      await delivery.getByRole("button", { name: "Show attempts" }).click();
      await delivery.getByText(createdId, { exact: true }).waitFor(); // the event's id = webhook-id
      await delivery.getByTestId("attempt-result").getByText("200", { exact: true }).waitFor();
      assert.equal(await delivery.getByTestId("attempt-result").count(), 1);
      await shot("5-delivery-log");

      // The receiver fails the next two requests and holds the third until
      // released: the delivery shows pending with its failed attempts, then
      // succeeds on the retry.
      let release;
      const held = new Promise((r) => (release = r));
      receiver.script(500, 500, held);
      const before = receiver.requests.length;
      await createKeyViaApi(email, "Retried key");
      const third = await receiver.waitForRequest(
        "the third try of the next api_key.created",
        (r) => receiver.requests.indexOf(r) >= before && r.headers["x-aihub-event"] === "api_key.created",
        { nth: 3 },
      );
      const retriedId = third.headers["webhook-id"];
      const tries = receiver.requests.slice(before);
      const ids = tries.map((r) => r.headers["webhook-id"]);
      assert.deepEqual(ids, [retriedId, retriedId, retriedId], "retries carry the same webhook-id");
      assert.ok(tries.every((r) => r.event !== null), "every try verifies");
      assert.deepEqual(tries.slice(0, 2).map((r) => r.answered), [500, 500]);
      delivery = deliveries("api_key.created").first();
      await reloadUntil(page, "the retried delivery pending after two failures", async () => {
        await delivery.getByText("Pending", { exact: true }).waitFor({ timeout: 2_000 });
        await delivery.getByText("2 attempts · HTTP 500", { exact: true }).waitFor({ timeout: 1_000 });
        return true;
      });
      await delivery.getByText(/the receiver answered 500/).waitFor();
      // From here on, this delivery by its id (a replay adds a newer row on top).
      const label = await delivery.getAttribute("aria-label");
      assert.match(label, /^api_key\.created wd_/);
      delivery = page.getByRole("listitem", { name: label, exact: true });
      await shot("6-pending-after-failures");
      release();
      await reloadUntil(page, "the retried delivery succeeded", async () => {
        await delivery.getByText("Succeeded", { exact: true }).waitFor({ timeout: 2_000 });
        await delivery.getByText("3 attempts · HTTP 200", { exact: true }).waitFor({ timeout: 1_000 });
        return true;
      });
      await delivery.getByRole("button", { name: "Show attempts" }).click();
      await delivery.getByText(retriedId, { exact: true }).waitFor();
      const attempts = delivery.getByTestId("attempt-result");
      await waitFor("three attempts listed", async () => (await attempts.count()) === 3, 5_000);
      const codes = [];
      for (let i = 0; i < 3; i += 1) codes.push((await attempts.nth(i).locator(".pill").first().textContent()).trim());
      assert.deepEqual(codes, ["500", "500", "200"]);
      await shot("7-retried-succeeded");

      // Replay it: the receiver gets the same webhook-id once more.
      await delivery.getByRole("button", { name: "Replay" }).click();
      await delivery.getByText("The event was queued for this endpoint again.").waitFor();
      const replayed = await receiver.waitForRequest(
        "the replayed event",
        (r) => r.headers["webhook-id"] === retriedId && r.event !== null,
        { nth: 4 },
      );
      assert.equal(replayed.answered, 200);
      assert.equal(replayed.event.data.name, "Retried key");
      await reloadUntil(page, "the replay in the log", async () => (await deliveries("api_key.created").count()) === 3);
      await deliveries("api_key.created").first().getByText("Succeeded", { exact: true }).waitFor();
      await shot("8-replayed");

      // Events: everything so far, then a new key appears on top without a reload.
      await nav.getByRole("link", { name: "Events" }).click();
      await page.getByRole("heading", { name: "Events", exact: true, level: 1 }).waitFor();
      const live = page.getByTestId("live-indicator");
      await live.getByText("Live", { exact: true }).waitFor();
      const events = page.getByRole("list", { name: "Events" }).getByRole("listitem");
      await events.filter({ hasText: createdId }).waitFor();
      await events.filter({ hasText: retriedId }).waitFor();
      await events.filter({ hasText: test.headers["webhook-id"] }).waitFor();
      await shot("9-events");
      await page.evaluate(() => {
        window.__stillThisPage = true;
      });
      const seen = receiver.requests.length;
      await createKeyViaApi(email, "Live key");
      const liveDelivery = await receiver.waitForRequest(
        "the live key's api_key.created",
        (r) => receiver.requests.indexOf(r) >= seen && verifiedOf("api_key.created")(r),
      );
      const liveId = liveDelivery.headers["webhook-id"];
      await waitFor("the new event on top of the list", async () =>
        (await events.first().getAttribute("aria-label")) === `api_key.created ${liveId}`,
      );
      await events.first().getByText("New", { exact: true }).waitFor();
      assert.equal(await page.evaluate(() => window.__stillThisPage), true, "the page was reloaded");
      await live.getByText("Live", { exact: true }).waitFor();
      await events.first().getByRole("button", { name: "Show JSON" }).click();
      const json = JSON.parse(await events.first().getByTestId("event-json").textContent());
      assert.equal(json.id, liveId);
      assert.equal(json.data.name, "Live key");
      await page.waitForTimeout(450); // the new row fades in
      await shot("10-event-live");
    });
  });

  it("shows the Webhooks page on a phone in Chinese without sideways scrolling", async () => {
    const email = await verifiedAccount("hooksphone", "zh-CN");
    const { accessToken } = await createKeyViaApi(email, "Staging");
    const url = `${receiver.url}/a-rather-long-path/for-the-billing-service/production`;
    const res = await fetch(`${system.baseUrl}/api/v1/developer/webhooks`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({ url, description: "计费服务", event_types: ["api_key.created", "api_key.deleted"] }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const endpoint = await res.json();
    receiver.secret = endpoint.secret;
    await withContext(system, "webhooks-phone", PHONE, async (context, shot) => {
      const page = await context.newPage();
      await page.goto(`${system.baseUrl}/login`);
      await signIn(page, email, PASSWORD, { email: "邮箱", password: "密码", submit: "登录" });
      await page.getByRole("heading", { name: "欢迎，Grace" }).waitFor();
      await page.getByRole("button", { name: "打开菜单" }).click();
      const nav = page.getByRole("navigation", { name: "主导航" });
      await nav.getByRole("link", { name: "Webhook" }).click();
      await page.getByRole("heading", { name: "Webhook", exact: true }).waitFor();
      const row = page.getByRole("listitem").filter({ has: page.getByRole("link", { name: url }) });
      await row.getByText("正常", { exact: true }).waitFor();
      await row.getByText("api_key.created, api_key.deleted", { exact: true }).waitFor();
      await row.getByText("计费服务").waitFor();
      await assertNoHorizontalScroll(page);
      await shot("1-list");

      await page.getByRole("button", { name: "添加端点" }).click();
      const dialog = page.getByRole("dialog", { name: "添加 Webhook 端点" });
      await dialog.getByLabel("端点 URL", { exact: true }).waitFor();
      await assertNoHorizontalScroll(page);
      await page.waitForTimeout(250); // the sheet slides in
      await shot("2-create");
      await dialog.getByRole("button", { name: "取消" }).click();
      await dialog.waitFor({ state: "detached" });

      await row.getByRole("link", { name: url }).click();
      await page.getByRole("heading", { name: "投递记录" }).waitFor();
      await page.getByText("没有符合筛选条件的投递。", { exact: true }).waitFor();
      await assertNoHorizontalScroll(page);
      await shot("3-detail");

      // A test from the phone, in Chinese: the answer and its duration fit the sheet.
      await page.getByRole("button", { name: "发送测试" }).click();
      const test = page.getByRole("dialog", { name: "发送测试事件" });
      await test.getByRole("button", { name: "发送测试" }).click();
      await test.getByText("投递成功", { exact: true }).waitFor();
      await test.getByText(/^[\d,]+ 毫秒$/).waitFor();
      await assertNoHorizontalScroll(page);
      await page.waitForTimeout(250);
      await shot("4-test");
      await test.getByRole("button", { name: "关闭" }).last().click(); // the footer's, not the corner ×
      await test.waitFor({ state: "detached" });
      await page.locator(".delivery-list").getByText("成功", { exact: true }).waitFor(); // the log refreshed
    });
  });
});


describe("billing and usage (issue 7)", () => {
  it("sees the Free plan, redeems a code, upgrades to Developer, and exports usage as CSV", async () => {
    const email = await verifiedAccount("billing");
    // A $5 code, as an operator makes them: `aihub --json admin billing codes`.
    const batch = await aihubAdmin(system.databaseUrl, ["billing", "codes", "--amount", "5", "--count", "1"]);
    assert.equal(batch.codes?.length, 1, JSON.stringify(batch));
    const [code] = batch.codes;
    assert.match(code, /^AIHUB-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    await withContext(system, "billing-story", { ...DESKTOP, acceptDownloads: true }, async (context, shot) => {
      const page = await context.newPage();
      const nav = page.getByRole("navigation", { name: "Main navigation" });
      await page.goto(`${system.baseUrl}/login`);
      await signIn(page, email, PASSWORD);
      await page.getByRole("heading", { name: "Welcome, Grace" }).waitFor();

      // The overview: a new account is on Free, with 1,000 included tokens and no credit.
      await nav.getByRole("link", { name: "Billing" }).click();
      await page.getByRole("heading", { name: "Billing", level: 1 }).waitFor();
      assert.equal((await page.getByTestId("current-plan").textContent()).trim(), "Free");
      await page.getByText("0 of 1,000 tokens used").first().waitFor();
      const bar = page.getByRole("progressbar", { name: "Included tokens" });
      assert.equal(await bar.getAttribute("aria-valuemax"), "1000");
      assert.equal((await page.getByTestId("balance-total").textContent()).trim(), "$0.00");
      await shot("1-overview");

      // A wrong code is refused clearly; the real one adds $5.00.
      await page.getByRole("link", { name: "Redeem a code" }).click();
      await page.waitForURL(/\/billing\/credit#redeem$/);
      const redeem = page.getByRole("region", { name: "Redeem a code" });
      await redeem.getByLabel("Code", { exact: true }).fill("AIHUB-NOPE-NOPE-NOPE");
      await redeem.getByRole("button", { name: "Redeem" }).click();
      await redeem.getByText("This code doesn't exist. Check it and try again.").waitFor();
      await redeem.getByLabel("Code", { exact: true }).fill(code);
      await redeem.getByRole("button", { name: "Redeem" }).click();
      await redeem.getByText("$5.00 added. Your balance is now $5.00.").waitFor();
      await page.getByRole("region", { name: "Transactions" }).getByText("+$5.00").waitFor();
      // The same code a second time: already redeemed.
      await redeem.getByLabel("Code", { exact: true }).fill(code);
      await redeem.getByRole("button", { name: "Redeem" }).click();
      await redeem.getByText("This code has already been redeemed.").waitFor();
      await shot("2-redeemed");

      await page.getByRole("navigation", { name: "Billing sections" }).getByRole("link", { name: "Overview" }).click();
      await page.getByTestId("balance-total").getByText("$5.00").waitFor();

      // Upgrade to Developer: the confirmation says it applies now.
      await page.getByRole("link", { name: "Change plan" }).click();
      const developer = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: "Developer" }) });
      await developer.getByRole("button", { name: "Upgrade to Developer" }).click();
      const dialog = page.getByRole("dialog", { name: "Upgrade to Developer?" });
      await dialog.getByText(/^The change takes effect now\./).waitFor();
      await page.waitForTimeout(250); // the dialog fades in
      await shot("3-confirm");
      await dialog.getByRole("button", { name: "Upgrade now" }).click();
      await page.getByText("You're on Developer now.").waitFor();
      await developer.getByText("Current", { exact: true }).waitFor();
      await page.getByRole("navigation", { name: "Billing sections" }).getByRole("link", { name: "Overview" }).click();
      await page.getByTestId("current-plan").getByText("Developer").waitFor();
      await shot("4-developer");

      // Usage: this month so far, and its requests as CSV.
      await nav.getByRole("link", { name: "Usage" }).click();
      await page.getByRole("heading", { name: "Usage", level: 1 }).waitFor();
      await page.getByRole("button", { name: "This month", pressed: true }).waitFor();
      await page.getByTestId("usage-requests").getByText("0").waitFor();
      await shot("5-usage");
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByRole("button", { name: "Export CSV" }).click(),
      ]);
      assert.match(download.suggestedFilename(), /^aihub-usage-\d{4}-\d{2}-01-to-\d{4}-\d{2}-\d{2}\.csv$/);
      const chunks = [];
      for await (const chunk of await download.createReadStream()) chunks.push(chunk);
      const csv = Buffer.concat(chunks).toString("utf8");
      assert.equal(
        csv.split(/\r?\n/)[0],
        "request_id,time,key_id,model,endpoint,status,prompt_tokens,completion_tokens,cached_tokens,cost,latency_ms,error",
      );
    });
  });
  it("tops up $20 through Checkout (the Stripe stand-in) and sees the credit", async () => {
    assert.ok(system.stripe, "aihub-stub-stripe not found: build it (cargo build -p aihub-testkit --bins) or set AIHUB_STUB_STRIPE_BIN");
    const email = await verifiedAccount("topup");
    await withContext(system, "topup-story", DESKTOP, async (context, shot) => {
      const page = await context.newPage();
      await page.goto(`${system.baseUrl}/login`);
      await signIn(page, email, PASSWORD);
      await page.getByRole("heading", { name: "Welcome, Grace" }).waitFor();
      await page.goto(`${system.baseUrl}/billing`);
      await page.getByRole("link", { name: "Top up" }).click();
      const card = page.getByRole("region", { name: "Top up" });
      const amount = card.getByLabel("Amount (USD)", { exact: true });
      await card.getByText("Between $5.00 and $10,000.00.").waitFor();
      await amount.fill("4");
      await card.getByRole("button", { name: "Continue to payment" }).click();
      await card.getByText("The smallest top-up is $5.00.").waitFor();
      await amount.fill("20");
      await shot("1-amount");
      await card.getByRole("button", { name: "Continue to payment" }).click();

      // The provider's page, then back to the portal with the credit there.
      await page.waitForURL((url) => url.href.startsWith(`${system.stripe.url}/checkout/`));
      assert.match(await page.getByTestId("amount").textContent(), /20/);
      await shot("2-checkout");
      await page.getByRole("button", { name: "Pay", exact: true }).click();
      await page.waitForURL(/\/billing\?checkout=success/);
      await page.getByText(/^Payment received\./).waitFor();
      await page.getByTestId("balance-total").getByText("$20.00").waitFor();
      await shot("3-back");
      await page.getByRole("navigation", { name: "Billing sections" }).getByRole("link", { name: "Credit" }).click();
      const history = page.getByRole("region", { name: "Transactions" });
      await history.getByRole("cell", { name: "Top-up", exact: true }).waitFor();
      await history.getByText("+$20.00").waitFor();
    });
  });
  it("shows Billing and Usage on a phone in Chinese without sideways scrolling", async () => {
    const email = await verifiedAccount("billphone", "zh-CN");
    await withContext(system, "billing-phone", PHONE, async (context, shot) => {
      const page = await context.newPage();
      await page.goto(`${system.baseUrl}/login`);
      await signIn(page, email, PASSWORD, { email: "邮箱", password: "密码", submit: "登录" });
      await page.getByRole("heading", { name: "欢迎，Grace" }).waitFor();
      await page.getByRole("button", { name: "打开菜单" }).click();
      await page.getByRole("navigation", { name: "主导航" }).getByRole("link", { name: "账单" }).click();
      await page.getByRole("heading", { name: "账单", level: 1 }).waitFor();
      await page.getByText("已用 0 / 1,000 个 Token").first().waitFor();
      await assertNoHorizontalScroll(page);
      await shot("1-overview");
      const tabs = page.getByRole("navigation", { name: "账单分区" });
      for (const [tab, name, check] of [
        ["套餐", "plans", () => page.getByRole("button", { name: "升级到 Developer" }).waitFor()],
        ["余额", "credit", () => page.getByRole("region", { name: "兑换码" }).waitFor()],
        ["发票", "invoices", () => page.getByRole("heading", { name: "暂无发票" }).waitFor()],
      ]) {
        await tabs.getByRole("link", { name: tab }).click();
        await check();
        await assertNoHorizontalScroll(page);
        await shot(`2-${name}`);
      }
      await page.goto(`${system.baseUrl}/usage`);
      await page.getByRole("heading", { name: "用量", level: 1 }).waitFor();
      await page.getByText("此时间段内没有请求。").waitFor();
      await assertNoHorizontalScroll(page);
      await shot("3-usage");
    });
  });
});

describe("batch jobs (issue 8)", () => {
  it("runs a batch_generate job of three prompts through the gateway, follows it to 100 %, sees its results and downloads them", async () => {
    // The control plane sends the job's items to this gateway (the harness
    // gives it the gateway's address when it starts).
    await system.startGateway();
    const email = await verifiedAccount("batch");
    await withContext(system, "batch-story", { ...DESKTOP, acceptDownloads: true }, async (context, shot) => {
      const page = await context.newPage();
      const nav = page.getByRole("navigation", { name: "Main navigation" });
      await page.goto(`${system.baseUrl}/login`);
      await signIn(page, email, PASSWORD);
      await page.getByRole("heading", { name: "Welcome, Grace" }).waitFor();

      // Jobs run as one of the developer's keys: create one.
      await nav.getByRole("link", { name: "API keys" }).click();
      await page.getByRole("heading", { name: "No API keys yet" }).waitFor();
      await page.getByRole("button", { name: "Create key" }).click();
      let dialog = page.getByRole("dialog", { name: "Create API key" });
      await dialog.waitFor();
      await dialog.getByLabel("Name", { exact: true }).fill("Batch runner");
      await dialog.getByRole("button", { name: "Create key" }).click();
      dialog = page.getByRole("dialog", { name: "Save your new key" });
      await dialog.waitFor();
      await dialog.getByRole("button", { name: "I've saved it" }).click();
      await dialog.waitFor({ state: "detached" });

      // Batch jobs: three prompts, the default model, the new key.
      await nav.getByRole("link", { name: "Batch jobs" }).click();
      await page.getByRole("heading", { name: "Batch jobs", level: 1 }).waitFor();
      await page.getByText("No batch jobs yet. Start one above.").waitFor();
      const form = page.getByRole("form", { name: "New batch job" });
      await form.getByRole("option", { name: /^Batch runner \(/ }).waitFor({ state: "attached" });
      const prompts = ["Name a colour", "Name a fruit", "Name a river"].map((p) => `${p} [[stub words=3]]`);
      await form.getByLabel("Prompts", { exact: true }).fill(prompts.join("\n"));
      await form.getByText("One prompt per line · 3 prompts").waitFor();
      assert.equal(await form.getByLabel("Model", { exact: true }).inputValue(), "gpt-4o-mini");
      await shot("1-form");
      await form.getByRole("button", { name: "Start job" }).click();
      await form.getByText(/^Job task_\S+ started\./).waitFor();

      // The list follows it (polling while it runs) until it completes.
      const row = page.getByTestId("task-row").first();
      const taskId = await row.getAttribute("data-task-id");
      assert.match(taskId ?? "", /^task_/);
      await row.getByText("Completed", { exact: true }).waitFor({ timeout: 60_000 });
      assert.equal(await row.getByRole("progressbar").getAttribute("aria-valuenow"), "100");
      await row.getByText(/100%\s*·\s*3 of 3 done/).waitFor();
      await shot("2-completed");

      // One job: its counts, its three results, its result file.
      await row.getByRole("link", { name: "Generate from prompts" }).click();
      await page.waitForURL(`${system.baseUrl}/tasks/${taskId}`);
      await page.getByRole("heading", { name: "Generate from prompts", level: 1 }).waitFor();
      assert.equal((await page.getByTestId("task-status").textContent()).trim(), "Completed");
      assert.equal(await page.getByTestId("count-total").textContent(), "3");
      assert.equal(await page.getByTestId("count-completed").textContent(), "3");
      assert.equal(await page.getByTestId("count-failed").textContent(), "0");
      assert.match(await page.getByTestId("usage-completion").textContent(), /^[1-9]/);
      const results = page.getByRole("region", { name: "Results" });
      await waitFor("the three results", async () => (await results.getByTestId("result-row").count()) === 3, 10_000);
      for (const [i, item] of (await results.getByTestId("result-row").all()).entries()) {
        const cells = await item.getByRole("cell").allTextContents();
        assert.equal(cells[0], String(i + 1));
        assert.equal(cells[1], `item-${i + 1}`);
        assert.equal(cells[2], "Succeeded");
        assert.equal(cells[3].trim().split(/\s+/).length, 3, `three words: ${cells[3]}`);
        assert.equal(cells[4], "—");
      }
      await shot("3-detail");

      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByRole("button", { name: "Download results" }).click(),
      ]);
      assert.match(download.suggestedFilename(), /\.jsonl$/);
      const chunks = [];
      for await (const chunk of await download.createReadStream()) chunks.push(chunk);
      const lines = Buffer.concat(chunks).toString("utf8").trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(
        lines.map((l) => l.custom_id),
        ["item-1", "item-2", "item-3"],
      );
      for (const line of lines) {
        assert.equal(line.response.status_code, 200, JSON.stringify(line));
        assert.equal(line.response.body.choices[0].message.content.trim().split(/\s+/).length, 3);
      }
    });
  });
});

/** The number in a figure such as "$0.000150" or "1,234" (for comparing with what the API says). */
const figure = (text) => Number(text.replace(/[^0-9.\-]/g, ""));

describe("analytics and insights (issue 9)", () => {
  it("a developer's calls show in Analytics (English, Chinese, a phone); an operator sees them in Insights", async () => {
    const { sdk } = await system.startGateway();
    const email = await verifiedAccount("analytics");
    const { key, accessToken } = await createKeyViaApi(email, "Analytics key");
    // The new key reaches the gateway within a second; then three more calls, one of them to gpt-4o.
    await sdkUntil(sdk, "the new key to work", key.secret, "gpt-4o-mini", works);
    await assertWorks(sdk, key.secret, "gpt-4o-mini", "second call");
    await assertWorks(sdk, key.secret, "gpt-4o-mini", "third call");
    await assertWorks(sdk, key.secret, "gpt-4o", "fourth call");
    const CALLS = 4;

    // What the developer did, as the usage route counts it once the rows are in (UTC days around now).
    const day = (ms) => new Date(ms).toISOString().slice(0, 10);
    const usage = await waitFor(
      "the four calls in the usage report",
      async () => {
        const res = await fetch(
          `${system.baseUrl}/api/v1/developer/usage?from=${day(Date.now() - 86_400_000)}&to=${day(Date.now() + 86_400_000)}`,
          { headers: { authorization: `Bearer ${accessToken}` } },
        );
        const report = await res.json();
        return report.totals?.requests === CALLS ? report.totals : null;
      },
      30_000,
    );
    assert.ok(figure(usage.cost) > 0, `the calls cost something: ${JSON.stringify(usage)}`);

    // The browser in a zone that is not UTC: the page sends it as `tz`.
    const zone = { timezoneId: "Asia/Shanghai" };
    await withContext(system, "analytics-story", { ...DESKTOP, ...zone }, async (context, shot) => {
      const page = await context.newPage();
      const overviewCalls = [];
      page.on("request", (r) => {
        if (r.url().includes("/api/v1/developer/analytics/overview")) overviewCalls.push(new URL(r.url()));
      });
      await page.goto(`${system.baseUrl}/login`);
      await signIn(page, email, PASSWORD);
      await page.getByRole("heading", { name: "Welcome, Grace" }).waitFor();

      // The dashboard's last 7 days.
      const summary = page.getByRole("region", { name: "Last 7 days" });
      await summary.getByTestId("summary-requests").getByText(String(CALLS), { exact: true }).waitFor();
      assert.equal(figure(await summary.getByTestId("summary-cost").textContent()), figure(usage.cost));
      await shot("0-dashboard");

      // Analytics: the same requests and cost (the rollups follow the rows; reload until they show).
      await page.getByRole("navigation", { name: "Main navigation" }).getByRole("link", { name: "Analytics" }).click();
      await page.getByRole("heading", { name: "Analytics", level: 1 }).waitFor();
      await page.getByRole("button", { name: "Last 7 days", pressed: true }).waitFor();
      await waitFor("the overview to count the calls", async () => {
        const text = await page.getByTestId("overview-requests").textContent({ timeout: 5_000 });
        if (text?.trim() === String(CALLS)) return true;
        await page.reload();
        return false;
      });
      assert.equal(figure(await page.getByTestId("overview-cost").textContent()), figure(usage.cost));
      assert.equal(overviewCalls.at(-1)?.searchParams.get("tz"), "Asia/Shanghai");
      assert.equal(figure(await page.getByTestId("costs-total").textContent()), figure(usage.cost));
      const byModel = page.getByTestId("costs-by-model");
      await byModel.getByRole("rowheader", { name: "gpt-4o-mini" }).waitFor();
      await byModel.getByRole("rowheader", { name: "gpt-4o", exact: true }).waitFor();
      const miniRow = page.getByTestId("perf-by-model").getByRole("row").filter({ hasText: "gpt-4o-mini" });
      assert.equal((await miniRow.getByRole("cell").first().textContent()).trim(), "3");
      await page.getByRole("img", { name: "Chart of Requests over time" }).locator("svg").first().waitFor();
      await shot("1-analytics");

      // Another period and grouping ask again, with the same figures for today.
      await page.getByRole("button", { name: "Today" }).click();
      await page.getByTestId("overview-requests").getByText(String(CALLS), { exact: true }).waitFor();
      await page.getByLabel("Group by", { exact: true }).selectOption("model");
      await page.getByRole("img", { name: "Chart of Requests over time" }).getByText("gpt-4o-mini").first().waitFor();

      // 中文.
      await page.getByLabel("Language", { exact: true }).selectOption("zh-CN");
      await page.getByRole("heading", { name: "数据分析", level: 1 }).waitFor();
      await page.getByRole("heading", { name: "趋势" }).waitFor();
      await page.getByRole("button", { name: "今天", pressed: true }).waitFor();
      await page.getByRole("table", { name: "按模型的性能" }).waitFor();
      assert.equal((await page.getByTestId("overview-requests").textContent()).trim(), String(CALLS));
      await shot("2-chinese");
    });

    // A phone, 375 px wide: nothing wider than the screen.
    await withContext(system, "analytics-phone", { ...PHONE, viewport: { width: 375, height: 800 }, ...zone }, async (context, shot) => {
      const page = await context.newPage();
      await page.goto(`${system.baseUrl}/login`);
      await signIn(page, email, PASSWORD, { email: "邮箱", password: "密码", submit: "登录" });
      await page.getByRole("heading", { name: "欢迎，Grace" }).waitFor();
      await page.getByRole("button", { name: "打开菜单" }).click();
      await page.getByRole("navigation", { name: "主导航" }).getByRole("link", { name: "数据分析" }).click();
      await page.getByRole("heading", { name: "数据分析", level: 1 }).waitFor();
      await page.getByTestId("overview-requests").getByText(String(CALLS), { exact: true }).waitFor();
      await page.getByTestId("perf-by-model").waitFor();
      await page.getByRole("img", { name: "请求数随时间变化的图表" }).locator("svg").first().waitFor();
      await assertNoHorizontalScroll(page);
      await shot("1-phone");
    });

    // An operator, made with `aihub admin create-operator`, sees the developer and the models in Insights.
    const operatorEmail = newEmail("operator");
    await aihubAdmin(system.databaseUrl, ["create-operator", "--email", operatorEmail, "--password", PASSWORD, "--name", "Olive Operator"]);
    await withContext(system, "insights-story", { ...DESKTOP, ...zone, acceptDownloads: true }, async (context, shot) => {
      const page = await context.newPage();
      await page.goto(`${system.baseUrl}/login`);
      await signIn(page, operatorEmail, PASSWORD);
      await page.getByRole("heading", { name: "Welcome, Olive" }).waitFor();
      await page.getByRole("navigation", { name: "Main navigation" }).getByRole("link", { name: "Insights" }).click();
      await page.getByRole("heading", { name: "Insights", level: 1 }).waitFor();
      const top = page.getByTestId("top-developers");
      await top.getByRole("row").filter({ hasText: email }).waitFor();
      await page.getByTestId("model-mix").getByRole("rowheader", { name: "gpt-4o-mini" }).waitFor();
      await page.getByTestId("providers-table").getByRole("rowheader", { name: "stub" }).waitFor();
      assert.ok(figure(await page.getByTestId("insights-requests").textContent()) >= CALLS);
      await shot("1-insights");

      // The month's report: CSV downloaded with the operator's token, and the printable page.
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByRole("button", { name: "Download CSV" }).click(),
      ]);
      assert.match(download.suggestedFilename(), /^aihub-report-\d{4}-\d{2}\.csv$/);
      await page.getByRole("button", { name: "Printable report" }).click();
      const dialog = page.getByRole("dialog", { name: /^Business report \d{4}-\d{2}$/ });
      await dialog.waitFor();
      await dialog.getByRole("button", { name: "Print" }).waitFor();
      await shot("2-report");
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "detached" });

      // Insights fits a phone too.
      await page.setViewportSize({ width: 375, height: 800 });
      await page.getByTestId("top-developers").waitFor();
      await assertNoHorizontalScroll(page);
      await shot("3-phone");
    });

    // A developer is not offered Insights.
    await withContext(system, "insights-forbidden", DESKTOP, async (context) => {
      const page = await context.newPage();
      await page.goto(`${system.baseUrl}/login`);
      await signIn(page, email, PASSWORD);
      await page.getByRole("heading", { name: "Welcome, Grace" }).waitFor();
      const nav = page.getByRole("navigation", { name: "Main navigation" });
      await nav.getByRole("link", { name: "Analytics" }).waitFor();
      assert.equal(await nav.getByRole("link", { name: "Insights" }).count(), 0);
      await page.goto(`${system.baseUrl}/admin/insights`);
      await page.getByText("For operators only").waitFor();
    });
  });
});

/** The developer's own view through the portal's API with `accessToken` (profile, billing, invoices). */
async function developerApi(accessToken, path) {
  const res = await fetch(`${system.baseUrl}/api/v1/developer${path}`, { headers: { authorization: `Bearer ${accessToken}` } });
  assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
  return res.json();
}

/** The ids of the models `/v1/models` lists to a key. */
async function listedModels(gatewayUrl, apiKey) {
  const res = await fetch(`${gatewayUrl}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).data.map((m) => m.id);
}

describe("operator console (issue 10)", () => {
  it("an operator adds a provider and a model for one plan, suspends a developer, grants credit and voids an invoice", async () => {
    const gateway = await system.startGateway();
    const { sdk } = gateway;
    const MODEL = "console-chat";

    // Three developers: one the operator moves to the Developer plan, one left
    // on Free, and one with an invoice to void.
    const [onPlan, onFree, invoiced] = await Promise.all([
      verifiedAccount("console-plan"),
      verifiedAccount("console-free"),
      verifiedAccount("console-invoiced"),
    ]);
    const planKey = await createKeyViaApi(onPlan, "Console app");
    const freeKey = await createKeyViaApi(onFree, "Console app");
    const invoicedKey = await createKeyViaApi(invoiced, "Console app");
    const invoicedId = (await developerApi(invoicedKey.accessToken, "/profile")).id;
    // Both keys work (and the SDK process is up) before the console changes anything.
    await sdkUntil(sdk, "the Developer-plan key to work", planKey.key.secret, "gpt-4o-mini", works);
    await sdkUntil(sdk, "the Free key to work", freeKey.key.secret, "gpt-4o-mini", works);

    // An invoice to void: usage two months ago (a month no one has closed
    // yet), sent to the control plane as a gateway sends it, beyond the Free
    // plan's 1,000 tokens with no credit to pay for it; then the month is
    // closed as an operator closes one from a shell.
    const now = new Date();
    const usedAt = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 2, 15, 12);
    const month = new Date(usedAt).toISOString().slice(0, 7);
    const ingested = await system.ingestUsage([
      {
        request_id: `console-${invoicedId}`,
        ts_ms: usedAt,
        developer_id: invoicedId,
        key_id: invoicedKey.key.id,
        prompt_tokens: 60_000,
        completion_tokens: 41_000,
        // $1.01 for 101,000 tokens: the 100,000 beyond the allowance cost $1.00.
        cost_nanos: 1_010_000_000,
      },
    ]);
    assert.equal(ingested.inserted, 1, JSON.stringify(ingested));
    const closed = await aihubAdmin(system.databaseUrl, ["billing", "close-month", month]);
    assert.equal(closed.closed, true, JSON.stringify(closed));
    const [invoice] = (await developerApi(invoicedKey.accessToken, "/invoices")).data;
    assert.equal(invoice?.month, month, JSON.stringify(invoice));
    assert.equal(invoice.status, "open");
    assert.equal(invoice.amount_due, "1.00");

    const operatorEmail = newEmail("console-operator");
    await aihubAdmin(system.databaseUrl, ["create-operator", "--email", operatorEmail, "--password", PASSWORD, "--name", "Otto Operator"]);
    await withContext(system, "console-story", DESKTOP, async (context, shot) => {
      const page = await context.newPage();
      const admin = page.getByRole("navigation", { name: "Main navigation" }).getByRole("list", { name: "Admin" });
      await page.goto(`${system.baseUrl}/login`);
      await signIn(page, operatorEmail, PASSWORD);
      await page.getByRole("heading", { name: "Welcome, Otto" }).waitFor();

      // A provider pointing at the stand-in upstream; testing it lists the upstream's models.
      await admin.getByRole("link", { name: "Providers" }).click();
      await page.getByRole("heading", { name: "Providers", level: 1 }).waitFor();
      await page.getByRole("button", { name: "Add provider" }).click();
      let dialog = page.getByRole("dialog", { name: "Add provider" });
      await dialog.getByLabel("Name", { exact: true }).fill("console-upstream");
      assert.equal(await dialog.getByLabel("Kind", { exact: true }).inputValue(), "openai");
      await dialog.getByLabel("Base URL", { exact: true }).fill(gateway.upstreamUrl);
      await dialog.getByLabel("API key", { exact: true }).fill("console-provider-key");
      await page.waitForTimeout(250); // the dialog fades in
      await shot("1-add-provider");
      await dialog.getByRole("button", { name: "Create provider" }).click();
      await dialog.waitFor({ state: "detached" });
      const provider = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name: /^console-upstream/ }) });
      await provider.getByText("Key set", { exact: true }).waitFor();
      await provider.getByRole("button", { name: "Test connection" }).click();
      const tested = page.getByTestId("provider-test");
      await tested.getByText("Connected", { exact: true }).waitFor();
      await tested.getByText(/HTTP 200/).waitFor();
      await tested.getByText(/gpt-4o-mini/).waitFor();
      await shot("2-provider-tested");

      // A model offered to the Developer plan only, served by the new provider.
      await admin.getByRole("link", { name: "Models" }).click();
      await page.getByRole("heading", { name: "Models", level: 1 }).waitFor();
      await page.getByRole("button", { name: "Add model" }).click();
      dialog = page.getByRole("dialog", { name: "Add model" });
      await dialog.getByLabel("Name", { exact: true }).fill(MODEL);
      await dialog.getByLabel("Input price", { exact: true }).fill("0.50");
      await dialog.getByLabel("Output price", { exact: true }).fill("1.50");
      const plans = dialog.getByRole("group", { name: "Visible to plans" });
      await plans.getByRole("checkbox", { name: "Developer", exact: true }).check();
      assert.equal(await plans.getByRole("checkbox", { checked: true }).count(), 1);
      assert.equal(await dialog.getByRole("checkbox", { name: /^Enabled/ }).isChecked(), true);
      await page.waitForTimeout(250); // the dialog fades in
      await shot("3-add-model");
      await dialog.getByRole("button", { name: "Create model" }).click();
      await dialog.waitFor({ state: "detached" });
      const card = page.getByRole("region", { name: MODEL, exact: true });
      assert.equal((await card.getByTestId("model-plans").textContent()).trim(), "Developer");
      await card.getByText("No deployments: nothing serves this model yet.").waitFor();
      await card.getByRole("button", { name: "Add deployment" }).click();
      dialog = page.getByRole("dialog", { name: `Add deployment to ${MODEL}` });
      await dialog.getByLabel("Provider", { exact: true }).selectOption({ label: "console-upstream" });
      await dialog.getByLabel(/^Upstream model/).fill("stub-console");
      await dialog.getByLabel("Timeout (ms)", { exact: true }).fill("30000");
      await page.waitForTimeout(250);
      await shot("4-add-deployment");
      await dialog.getByRole("button", { name: "Create deployment" }).click();
      await dialog.waitFor({ state: "detached" });
      const deployment = card
        .getByRole("table", { name: `Deployments of ${MODEL}` })
        .getByRole("row")
        .filter({ hasText: "stub-console" });
      await deployment.getByRole("cell", { name: "console-upstream", exact: true }).waitFor();
      await deployment.getByText("30,000 ms").waitFor();
      await shot("5-model");

      // Put the first developer on the Developer plan (Admin → Developers).
      const openDeveloper = async (email) => {
        await admin.getByRole("link", { name: "Developers" }).click();
        await page.getByRole("heading", { name: "Developers", level: 1 }).waitFor();
        await page.getByLabel("Search", { exact: true }).fill(email);
        await page.getByRole("button", { name: "Search", exact: true }).click();
        await page.getByRole("table", { name: "Developers" }).getByRole("link", { name: email }).click();
        await page.getByRole("heading", { name: email, level: 1 }).waitFor();
      };
      await openDeveloper(onPlan);
      await page.getByRole("button", { name: "Change plan" }).click();
      dialog = page.getByRole("dialog", { name: "Change plan" });
      await dialog.getByLabel("Plan", { exact: true }).selectOption("developer");
      await dialog.getByRole("button", { name: "Save plan" }).click();
      await dialog.waitFor({ state: "detached" });
      await page.getByTestId("developer-plan").getByText(/^Developer \(/).waitFor();

      // The gateway serves the model to the Developer plan and to no one else:
      // the Free developer is told it does not exist.
      const served = await sdkUntil(sdk, `${MODEL} served to the Developer plan`, planKey.key.secret, MODEL, works);
      assert.ok(served.result.reply.length > 0);
      const hidden = await sdk.chat(freeKey.key.secret, MODEL);
      assert.equal(hidden.ok, false, JSON.stringify(hidden));
      assert.equal(hidden.status, 404, JSON.stringify(hidden));
      assert.equal(hidden.code, "model_not_found", JSON.stringify(hidden));
      assert.equal(hidden.error_class, "NotFoundError");
      assert.ok((await listedModels(gateway.url, planKey.key.secret)).includes(MODEL));
      assert.ok(!(await listedModels(gateway.url, freeKey.key.secret)).includes(MODEL));

      // Suspend that developer: the next calls are refused (403 account_suspended) within a second.
      await page.getByRole("button", { name: "Suspend", exact: true }).click();
      dialog = page.getByRole("dialog", { name: "Suspend this account?" });
      await dialog.getByText(onPlan).waitFor();
      await page.waitForTimeout(250); // the dialog fades in
      await shot("6-suspend");
      await dialog.getByRole("button", { name: "Suspend account" }).click();
      await dialog.waitFor({ state: "detached" });
      await page.getByRole("button", { name: "Activate" }).waitFor();
      await page.getByRole("region", { name: "Account" }).getByText("Suspended", { exact: true }).waitFor();
      const suspended = await sdkUntil(sdk, "the suspended developer refused", planKey.key.secret, MODEL, (r) => r.ok === false);
      assert.equal(suspended.result.status, 403, JSON.stringify(suspended.result));
      assert.equal(suspended.result.code, "account_suspended");
      assert.equal(suspended.result.error_class, "PermissionDeniedError");
      await assertWorks(sdk, freeKey.key.secret, "gpt-4o-mini", "another developer after the suspension");
      await shot("7-suspended");

      // Grant the Free developer $12.50; their balance shows it.
      const before = await developerApi(freeKey.accessToken, "/billing");
      assert.equal(before.balance.total, "0.00");
      await openDeveloper(onFree);
      await page.getByRole("button", { name: "Grant credit" }).click();
      dialog = page.getByRole("dialog", { name: "Grant credit" });
      await dialog.getByLabel("Amount (USD)", { exact: true }).fill("12.50");
      await dialog.getByLabel(/^Memo/).fill("Console story credit");
      await dialog.getByRole("button", { name: "Grant", exact: true }).click();
      await dialog.getByText("Credit granted. The balance is now $12.50.").waitFor();
      await shot("8-credit");
      await dialog.getByRole("button", { name: "Done" }).click();
      await dialog.waitFor({ state: "detached" });
      const after = await developerApi(freeKey.accessToken, "/billing");
      assert.equal(after.balance.total, "12.50", JSON.stringify(after.balance));
      assert.equal(after.balance.promotional, "12.50");
      const [grant] = (await developerApi(freeKey.accessToken, "/billing/transactions")).data;
      assert.equal(grant.kind, "grant");
      assert.equal(grant.amount, "12.50");
      assert.equal(grant.memo, "Console story credit");

      // Void the invoice: found by developer, opened, voided after confirming.
      await admin.getByRole("link", { name: "Invoices" }).click();
      await page.getByRole("heading", { name: "Invoices", level: 1 }).waitFor();
      await page.getByLabel("Developer ID", { exact: true }).fill(invoicedId);
      await page.getByRole("button", { name: "Filter", exact: true }).click();
      const invoices = page.getByRole("table", { name: "Invoices" });
      const row = invoices.getByRole("row").filter({ has: page.getByRole("link", { name: invoice.number }) });
      await row.getByText("Open", { exact: true }).waitFor();
      // The row may first show in the unfiltered list: wait until the
      // filter's answer has replaced it (header + this invoice), then count.
      await page.waitForFunction(
        () => document.querySelectorAll('table[aria-label="Invoices"] tr').length === 2,
        null,
        { timeout: 15_000 },
      );
      assert.equal(await invoices.getByRole("row").count(), 2, "one invoice under the header");
      await shot("9-invoices");
      await row.getByRole("link", { name: invoice.number }).click();
      await page.getByRole("heading", { name: `Invoice ${invoice.number}`, level: 1 }).waitFor();
      assert.equal((await page.getByTestId("admin-invoice-due").textContent()).trim(), "$1.00");
      await page.getByRole("button", { name: "Void", exact: true }).click();
      dialog = page.getByRole("dialog", { name: "Void this invoice?" });
      await page.waitForTimeout(250); // the dialog fades in
      await shot("10-void");
      await dialog.getByRole("button", { name: "Void invoice" }).click();
      await dialog.waitFor({ state: "detached" });
      await page.getByTestId("admin-invoice-due").getByText("$0.00").waitFor();
      assert.equal(await page.getByRole("button", { name: "Void", exact: true }).count(), 0);
      await shot("11-voided");
      // The list, filtered to void invoices, has it; so does the developer's own view.
      await page.getByRole("link", { name: "All invoices" }).click();
      await page.getByLabel("Status", { exact: true }).selectOption("void");
      await invoices.getByRole("row").filter({ has: page.getByRole("link", { name: invoice.number }) }).getByText("Void", { exact: true }).waitFor();
      const mine = await developerApi(invoicedKey.accessToken, `/invoices/${invoice.id}`);
      assert.equal(mine.status, "void", JSON.stringify(mine));
      assert.equal(mine.amount_due, "0.00");
    });
  });
});

describe("documentation (issue 11)", () => {
  it("a visitor opens the docs, follows the quick start, copies a command and reads it in Chinese and on a phone", async () => {
    // The quick start's titles, straight from the pages the binary embeds.
    const guides = new URL("../../docs/guides/", import.meta.url);
    const titleOf = (lang) => readFileSync(new URL(`${lang}/quickstart.md`, guides), "utf8").split("\n", 1)[0].slice(2).trim();
    const [enTitle, zhTitle] = [titleOf("en"), titleOf("zh-CN")];

    await withContext(system, "docs-story", { ...DESKTOP, permissions: ["clipboard-read", "clipboard-write"] }, async (context, shot) => {
      const page = await context.newPage();
      await page.goto(`${system.baseUrl}/docs`);
      await page.getByRole("heading", { name: "Documentation", level: 1 }).waitFor();
      // Public: no sign-in needed, a way to sign in offered.
      assert.equal(new URL(page.url()).pathname, "/docs");
      await page.getByRole("link", { name: "Sign in" }).waitFor();
      await shot("1-index");

      await page.locator("article").getByRole("link", { name: enTitle, exact: true }).click();
      await page.getByRole("heading", { name: enTitle, level: 1 }).waitFor();
      assert.equal(new URL(page.url()).pathname, "/docs/quickstart");
      // The runner's directives are not shown; code blocks have a copy button that copies the block.
      assert.equal(await page.getByText(/example: (skip|env|background|expect)/).count(), 0);
      const block = page.locator(".docs-code").first();
      const code = (await block.locator("pre").innerText()).trim();
      await block.getByRole("button", { name: "Copy code" }).click();
      await block.getByRole("button", { name: "Copied" }).waitFor();
      assert.equal((await page.evaluate(() => navigator.clipboard.readText())).trim(), code);
      // "On this page" jumps to a heading by its anchor.
      const toc = page.getByRole("navigation", { name: "On this page" });
      const second = toc.getByRole("link").nth(1);
      const anchor = await second.getAttribute("href");
      await second.click();
      await page.waitForURL((url) => url.hash === anchor);
      await waitFor("the heading scrolled into view", async () =>
        page.evaluate((id) => {
          const top = document.getElementById(id)?.getBoundingClientRect().top ?? -1;
          return top >= 0 && top < window.innerHeight / 2;
        }, decodeURIComponent(anchor.slice(1))),
      );
      await shot("2-quickstart");

      // Chinese at once, on the same page; a deep link opens the page after a reload.
      await page.getByLabel("Language", { exact: true }).selectOption("zh-CN");
      await page.getByRole("heading", { name: zhTitle, level: 1 }).waitFor();
      await page.goto(`${system.baseUrl}/docs/quickstart`);
      await page.getByRole("heading", { name: zhTitle, level: 1 }).waitFor();
      await page.getByRole("navigation", { name: "本页内容" }).waitFor();
      await shot("3-quickstart-zh");

      // An unknown page says so.
      await page.goto(`${system.baseUrl}/docs/no-such-guide`);
      await page.getByRole("heading", { name: "找不到该页面", level: 1 }).waitFor();
    });

    await withContext(system, "docs-phone", PHONE, async (context, shot) => {
      const page = await context.newPage();
      await page.goto(`${system.baseUrl}/docs/quickstart`);
      await page.getByRole("heading", { name: zhTitle, level: 1 }).waitFor();
      await assertNoHorizontalScroll(page);
      await shot("1-quickstart-phone");
    });
  });
});
