import { describe, expect, it } from "vitest";
import {
  PASSWORD_MAX,
  PASSWORD_MIN,
  checkEmail,
  checkNewPassword,
  hasProblems,
  validateChangePassword,
  validateLogin,
  validateNewPassword,
  validateProfile,
  validateRegister,
} from "./validation";
import type { RegisterValues } from "./validation";

const good: RegisterValues = {
  email: "ada@example.com",
  password: "a".repeat(PASSWORD_MIN),
  fullName: "Ada Lovelace",
  companyName: "",
  developerType: "individual",
  inviteCode: "",
};

describe("fields", () => {
  it("checks email addresses", () => {
    expect(checkEmail("")).toEqual({ key: "validation.required" });
    expect(checkEmail("ada")).toEqual({ key: "validation.email" });
    expect(checkEmail("ada@localhost")).toEqual({ key: "validation.email" });
    expect(checkEmail(" ada@example.com ")).toBeNull();
  });

  it("applies the server's password length policy in code points", () => {
    expect(checkNewPassword("")?.key).toBe("validation.required");
    expect(checkNewPassword("a".repeat(PASSWORD_MIN - 1))).toEqual({
      key: "validation.passwordShort",
      values: { min: PASSWORD_MIN },
    });
    expect(checkNewPassword("a".repeat(PASSWORD_MIN))).toBeNull();
    // Twelve characters, more than twelve UTF-16 units.
    expect(checkNewPassword("密码".repeat(PASSWORD_MIN / 2))).toBeNull();
    expect(checkNewPassword("😀".repeat(PASSWORD_MIN - 1))?.key).toBe("validation.passwordShort");
    expect(checkNewPassword("a".repeat(PASSWORD_MAX + 1))?.key).toBe("validation.passwordLong");
  });
});

describe("forms", () => {
  it("sign-in only needs an address and a password", () => {
    expect(validateLogin({ email: "ada@example.com", password: "x" })).toEqual({});
    expect(Object.keys(validateLogin({ email: "", password: "" })).sort()).toEqual(["email", "password"]);
  });

  it("sign-up checks every field", () => {
    expect(hasProblems(validateRegister(good, false))).toBe(false);
    const bad = validateRegister({ ...good, fullName: " ", email: "nope", password: "short" }, false);
    expect(Object.keys(bad).sort()).toEqual(["email", "fullName", "password"]);
  });

  it("a business account needs its company", () => {
    expect(validateRegister({ ...good, developerType: "enterprise" }, false).companyName?.key).toBe(
      "validation.companyRequired",
    );
    expect(validateRegister({ ...good, developerType: "enterprise", companyName: "Acme" }, false)).toEqual({});
  });

  it("invite-only sign-up needs the code", () => {
    expect(validateRegister(good, true).inviteCode?.key).toBe("validation.required");
    expect(validateRegister({ ...good, inviteCode: "WELCOME-2026" }, true)).toEqual({});
  });

  it("new passwords must match their confirmation", () => {
    const pw = "a".repeat(PASSWORD_MIN);
    expect(validateNewPassword({ password: pw, confirm: pw })).toEqual({});
    expect(validateNewPassword({ password: pw, confirm: `${pw}!` }).confirm?.key).toBe(
      "validation.passwordMismatch",
    );
    expect(validateChangePassword({ current: "", password: pw, confirm: pw }).current?.key).toBe(
      "validation.required",
    );
  });

  it("profile names are required and bounded", () => {
    expect(validateProfile({ fullName: "", companyName: "", developerType: "individual" }).fullName?.key).toBe(
      "validation.required",
    );
    expect(
      validateProfile({ fullName: "x".repeat(201), companyName: "", developerType: "individual" }).fullName?.key,
    ).toBe("validation.tooLong");
  });
});
