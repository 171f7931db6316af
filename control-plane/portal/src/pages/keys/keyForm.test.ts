import { describe, expect, it } from "vitest";
import type { ApiKey } from "../../api/types";
import {
  fieldOfServerMessage,
  formFromKey,
  looksLikeCidr,
  parseCount,
  parseIpAllowlist,
  parseMetadata,
  parseMoney,
  toCreateRequest,
  toUpdateRequest,
  validateForm,
} from "./keyForm";
import type { KeyFormState } from "./keyForm";

const noLimits = {
  requests_per_minute: null,
  tokens_per_minute: null,
  token_quota_total: null,
  token_quota_monthly: null,
  budget_total: null,
  budget_monthly: null,
};

const key: ApiKey = {
  id: "key_1",
  name: "Search backend",
  display_prefix: "ahub_AbCd…wxYz",
  enabled: true,
  created_at_ms: 0,
  expires_at_ms: null,
  last_used_at_ms: null,
  allowed_models: null,
  allowed_endpoints: ["chat", "embeddings"],
  limits: { ...noLimits, requests_per_minute: 60, token_quota_monthly: 10_000, budget_monthly: "5" },
  ip_allowlist: ["203.0.113.0/24", "2001:db8::/32"],
  metadata: { team: "search", env: "prod" },
};

const filled = (patch: Partial<KeyFormState>): KeyFormState => ({ ...formFromKey(), name: "New", ...patch });

describe("form state from a key", () => {
  it("starts a new key with everything allowed and nothing limited", () => {
    const form = formFromKey();
    expect(form.endpoints).toEqual(["chat", "completions", "embeddings", "batches", "files"]);
    expect(Object.values(form.limits)).toEqual(["", "", "", "", "", ""]);
    expect(form.ipAllowlist).toBe("");
    expect(form.metadata).toBe("");
    expect(form.enabled).toBe(true);
  });

  it("fills every field from an existing key", () => {
    const form = formFromKey(key);
    expect(form.endpoints).toEqual(["chat", "embeddings"]);
    expect(form.limits.requests_per_minute).toBe("60");
    expect(form.limits.token_quota_monthly).toBe("10000");
    expect(form.limits.budget_monthly).toBe("5");
    expect(form.limits.tokens_per_minute).toBe("");
    expect(form.ipAllowlist).toBe("203.0.113.0/24\n2001:db8::/32");
    expect(form.metadata).toBe("team=search\nenv=prod");
  });

  it("copes with a key that has no limits object or metadata", () => {
    const bare = { ...key, limits: undefined, metadata: null, allowed_endpoints: null } as unknown as ApiKey;
    const form = formFromKey(bare);
    expect(form.limits.requests_per_minute).toBe("");
    expect(form.metadata).toBe("");
    expect(form.endpoints).toHaveLength(5);
  });
});

describe("parsing", () => {
  it("reads whole numbers with thousands separators, refuses the rest", () => {
    expect(parseCount("")).toBeNull();
    expect(parseCount("  ")).toBeNull();
    expect(parseCount("60")).toBe(60);
    expect(parseCount("10,000")).toBe(10_000);
    expect(parseCount("1 000 000")).toBe(1_000_000);
    expect(parseCount("0")).toBe("invalid");
    expect(parseCount("-5")).toBe("invalid");
    expect(parseCount("1.5")).toBe("invalid");
    expect(parseCount("ten")).toBe("invalid");
    expect(parseCount("99999999999999999999")).toBe("invalid");
  });

  it("reads dollar amounts as decimal strings", () => {
    expect(parseMoney("")).toBeNull();
    expect(parseMoney("5")).toBe("5");
    expect(parseMoney(" 12.50 ")).toBe("12.50");
    expect(parseMoney("$0.25")).toBe("0.25");
    expect(parseMoney("1,250.5")).toBe("1250.5");
    expect(parseMoney("0")).toBe("invalid");
    expect(parseMoney("0.00")).toBe("invalid");
    expect(parseMoney("-1")).toBe("invalid");
    expect(parseMoney("1.")).toBe("invalid");
    expect(parseMoney("1.0000000001")).toBe("invalid");
    expect(parseMoney("five")).toBe("invalid");
  });

  it("reads the IP allow-list one entry per line, ignoring blanks and repeats", () => {
    expect(parseIpAllowlist("")).toEqual({ list: null });
    expect(parseIpAllowlist("\n  \n")).toEqual({ list: null });
    expect(parseIpAllowlist(" 203.0.113.0/24 \n\n2001:db8::/32\n198.51.100.7\n203.0.113.0/24")).toEqual({
      list: ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"],
    });
    expect(parseIpAllowlist("10.0.0.0/8, 192.168.1.1")).toEqual({ list: ["10.0.0.0/8", "192.168.1.1"] });
    expect(parseIpAllowlist("10.0.0.0/8\nexample.com")).toEqual({ list: null, bad: "example.com" });
  });

  it("recognises what looks like an address or a CIDR", () => {
    for (const ok of ["1.2.3.4", "0.0.0.0/0", "255.255.255.255/32", "::1", "2001:db8::/32", "::ffff:1.2.3.4"]) {
      expect(looksLikeCidr(ok), ok).toBe(true);
    }
    for (const bad of ["1.2.3", "256.1.1.1", "1.2.3.4/33", "2001:db8::/129", "1.2.3.4/8/8", "fe80::g", "host"]) {
      expect(looksLikeCidr(bad), bad).toBe(false);
    }
  });

  it("reads metadata as key=value lines, split at the first =", () => {
    expect(parseMetadata("")).toEqual({ metadata: null });
    expect(parseMetadata("team=search\n\n env = prod \nurl=https://x.test/?a=b")).toEqual({
      metadata: { team: "search", env: "prod", url: "https://x.test/?a=b" },
    });
    expect(parseMetadata("note=")).toEqual({ metadata: { note: "" } });
    expect(parseMetadata("team=search\njust text")).toEqual({ metadata: null, bad: "just text" });
    expect(parseMetadata("=value")).toEqual({ metadata: null, bad: "=value" });
    expect(parseMetadata("a=1\na=2")).toEqual({ metadata: null, duplicate: "a" });
  });
});

describe("validation", () => {
  it("accepts an empty new form with a name", () => {
    expect(validateForm(filled({}))).toEqual({});
  });

  it("names each field that is obviously wrong", () => {
    const form = filled({
      name: " ",
      endpoints: [],
      limits: { ...formFromKey().limits, requests_per_minute: "fast", budget_total: "1.2.3" },
      ipAllowlist: "localhost",
      metadata: "team",
    });
    expect(validateForm(form)).toEqual({
      name: { key: "validation.required" },
      endpoints: { key: "keys.form.endpointsRequired" },
      requests_per_minute: { key: "keys.form.wholeNumber" },
      budget_total: { key: "keys.form.amount" },
      ipAllowlist: { key: "keys.form.ipInvalid", values: { entry: "localhost" } },
      metadata: { key: "keys.form.metadataInvalid", values: { line: "team" } },
    });
  });

  it("leaves account ceilings to the server", () => {
    const form = filled({ limits: { ...formFromKey().limits, requests_per_minute: "1000000" } });
    expect(validateForm(form)).toEqual({});
  });
});

describe("form state to the API", () => {
  it("creates a plain key with only the fields it always sent", () => {
    expect(toCreateRequest(filled({ expiry: "90" }))).toEqual({
      name: "New",
      allowed_models: null,
      expires_in_days: 90,
    });
  });

  it("creates a restricted key with scopes, limits, IP ranges and metadata", () => {
    const form = filled({
      expiry: "never",
      endpoints: ["embeddings", "chat"],
      limits: { ...formFromKey().limits, requests_per_minute: "60", budget_monthly: "$5.00" },
      ipAllowlist: "203.0.113.0/24\n",
      metadata: "team=search",
    });
    expect(toCreateRequest(form)).toEqual({
      name: "New",
      allowed_models: null,
      expires_in_days: null,
      // In documentation order, whatever order they were ticked in.
      allowed_endpoints: ["chat", "embeddings"],
      limits: { ...noLimits, requests_per_minute: 60, budget_monthly: "5.00" },
      ip_allowlist: ["203.0.113.0/24"],
      metadata: { team: "search" },
    });
  });

  it("round-trips: an untouched edit sends only name, enabled and models", () => {
    expect(toUpdateRequest(formFromKey(key), key)).toEqual({
      name: "Search backend",
      enabled: true,
      allowed_models: null,
    });
  });

  it("treats 5 and 5.00 as the same budget", () => {
    const form = formFromKey(key);
    form.limits.budget_monthly = "5.00";
    expect(toUpdateRequest(form, key).limits).toBeUndefined();
  });

  it("sends a changed limit with the whole limits object", () => {
    const form = formFromKey(key);
    form.limits.requests_per_minute = "120";
    expect(toUpdateRequest(form, key)).toEqual({
      name: "Search backend",
      enabled: true,
      allowed_models: null,
      limits: { ...noLimits, requests_per_minute: 120, token_quota_monthly: 10_000, budget_monthly: "5" },
    });
  });

  it("clears emptied restrictions with null", () => {
    const form = formFromKey(key);
    form.endpoints = ["chat", "completions", "embeddings", "batches", "files"];
    form.limits = { ...form.limits, requests_per_minute: "", token_quota_monthly: "", budget_monthly: "" };
    form.ipAllowlist = "  \n";
    form.metadata = "";
    expect(toUpdateRequest(form, key)).toEqual({
      name: "Search backend",
      enabled: true,
      allowed_models: null,
      allowed_endpoints: null,
      limits: noLimits,
      ip_allowlist: null,
      metadata: null,
    });
  });

  it("sends only what changed among the restrictions", () => {
    const form = formFromKey(key);
    form.enabled = false;
    form.ipAllowlist = "203.0.113.0/24";
    form.metadata = "team=search\nenv=staging";
    expect(toUpdateRequest(form, key)).toEqual({
      name: "Search backend",
      enabled: false,
      allowed_models: null,
      ip_allowlist: ["203.0.113.0/24"],
      metadata: { team: "search", env: "staging" },
    });
  });

  it("adds restrictions to a key that had none", () => {
    const plain: ApiKey = { ...key, allowed_endpoints: null, limits: noLimits, ip_allowlist: null, metadata: {} };
    const form = formFromKey(plain);
    expect(toUpdateRequest(form, plain)).toEqual({ name: "Search backend", enabled: true, allowed_models: null });
    form.endpoints = ["files"];
    form.limits.tokens_per_minute = "5000";
    expect(toUpdateRequest(form, plain)).toEqual({
      name: "Search backend",
      enabled: true,
      allowed_models: null,
      allowed_endpoints: ["files"],
      limits: { ...noLimits, tokens_per_minute: 5000 },
    });
  });
});

describe("server messages", () => {
  it("finds the field a 400 names and drops the path from the message", () => {
    expect(fieldOfServerMessage("limits.requests_per_minute: at most 100 (your account's limit), got 500")).toEqual({
      field: "requests_per_minute",
      detail: "at most 100 (your account's limit), got 500",
    });
    expect(fieldOfServerMessage("ip_allowlist[1]: not a CIDR")).toEqual({
      field: "ipAllowlist",
      detail: "not a CIDR",
    });
    expect(fieldOfServerMessage("metadata: at most 16 entries")?.field).toBe("metadata");
    expect(fieldOfServerMessage("limits.budget_monthly: must be positive")?.field).toBe("budget_monthly");
    expect(fieldOfServerMessage("something else went wrong")).toBeNull();
  });
});
