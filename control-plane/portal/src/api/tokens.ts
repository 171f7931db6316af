/**
 * Where the session's secrets live: the short-lived access token only in
 * memory (never persisted, so a stolen disk or an XSS-free reload cannot
 * replay it), the refresh token in localStorage so a reload or a new tab
 * stays signed in. The server rotates the refresh token on every use; the
 * newest one always replaces the stored one.
 */
export const REFRESH_TOKEN_KEY = "aihub.refresh_token";

export class TokenStore {
  private access: string | null = null;
  private readonly storage: Storage | null;

  constructor(storage: Storage | null = safeLocalStorage()) {
    this.storage = storage;
  }

  get accessToken(): string | null {
    return this.access;
  }

  get refreshToken(): string | null {
    try {
      return this.storage?.getItem(REFRESH_TOKEN_KEY) ?? null;
    } catch {
      return null;
    }
  }

  /** Stores a fresh pair (after login or refresh). */
  set(accessToken: string, refreshToken: string): void {
    this.access = accessToken;
    try {
      this.storage?.setItem(REFRESH_TOKEN_KEY, refreshToken);
    } catch {
      // Private mode without storage: the session lasts until reload.
    }
  }

  /** Drops the access token only (it expired or was refused). */
  dropAccess(): void {
    this.access = null;
  }

  /** Forgets everything (logout, or the session ended on the server). */
  clear(): void {
    this.access = null;
    try {
      this.storage?.removeItem(REFRESH_TOKEN_KEY);
    } catch {
      // Nothing stored.
    }
  }
}

function safeLocalStorage(): Storage | null {
  try {
    return typeof window !== "undefined" ? window.localStorage : null;
  } catch {
    return null;
  }
}
