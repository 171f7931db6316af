import { useEffect, useId, useRef, useState } from "react";
import { Link, useNavigate } from "react-router";
import { useTranslation } from "react-i18next";
import { useAuth, useProfile } from "../auth/AuthProvider";
import { ChevronDownIcon, LogOutIcon, UserIcon } from "./icons";

export function initials(name: string, email: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return (email[0] ?? "?").toUpperCase();
  // CJK names read as one word: take the first character.
  const first = [...(words[0] ?? "")];
  if (words.length === 1) return (first[0] ?? "?").toUpperCase();
  const last = [...(words[words.length - 1] ?? "")];
  return `${first[0] ?? ""}${last[0] ?? ""}`.toUpperCase();
}

/** The avatar button with the account's name, profile link and sign-out. */
export function AccountMenu() {
  const { t } = useTranslation();
  const { logout } = useAuth();
  const { data: profile } = useProfile();
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const [signingOut, setSigningOut] = useState(false);
  const root = useRef<HTMLDivElement>(null);
  const menuId = useId();

  useEffect(() => {
    if (!open) return;
    const onPointer = (e: PointerEvent) => {
      if (root.current && !root.current.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") setOpen(false);
    };
    document.addEventListener("pointerdown", onPointer);
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("pointerdown", onPointer);
      document.removeEventListener("keydown", onKey);
    };
  }, [open]);

  const signOut = async () => {
    setSigningOut(true);
    await logout();
    navigate("/login", { replace: true });
  };

  const name = profile?.full_name ?? "";
  const email = profile?.email ?? "";
  return (
    <div className="account-menu" ref={root}>
      <button
        type="button"
        className="account-button"
        aria-label={t("account.menu")}
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={menuId}
        onClick={() => setOpen((o) => !o)}
      >
        <span className="avatar" aria-hidden="true">
          {initials(name, email)}
        </span>
        <span className="account-button-name">{name}</span>
        <ChevronDownIcon size={16} />
      </button>
      {open && (
        <div className="menu" role="menu" id={menuId}>
          <div className="menu-header">
            <span className="menu-caption">{t("account.signedInAs")}</span>
            <span className="menu-name">{name}</span>
            <span className="menu-email">{email}</span>
          </div>
          <Link role="menuitem" className="menu-item" to="/profile" onClick={() => setOpen(false)}>
            <UserIcon /> {t("account.profile")}
          </Link>
          <button
            type="button"
            role="menuitem"
            className="menu-item"
            onClick={() => void signOut()}
            disabled={signingOut}
          >
            <LogOutIcon /> {signingOut ? t("account.signingOut") : t("account.signOut")}
          </button>
        </div>
      )}
    </div>
  );
}
