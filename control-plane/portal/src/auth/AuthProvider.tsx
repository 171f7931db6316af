import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import type { ReactNode } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import type { ApiClient } from "../api/client";
import { REFRESH_TOKEN_KEY } from "../api/tokens";
import type { Profile } from "../api/types";

export type AuthStatus = "loading" | "authenticated" | "anonymous";

interface AuthContextValue {
  status: AuthStatus;
  client: ApiClient;
  /** True when the last session ended without the person signing out. */
  sessionExpired: boolean;
  logout: () => Promise<void>;
}

const AuthContext = createContext<AuthContextValue | null>(null);

export const PROFILE_KEY = ["profile"] as const;

/**
 * Owns the session's state for the app: restores a stored session at start,
 * follows the client's sign-in/sign-out events (including refreshes that the
 * server refused) and sign-outs in other tabs.
 */
export function AuthProvider({ client, children }: { client: ApiClient; children: ReactNode }) {
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<AuthStatus>(() =>
    client.hasStoredSession() ? "loading" : "anonymous",
  );
  const [sessionExpired, setSessionExpired] = useState(false);
  const signingOut = useRef(false);

  useEffect(() => {
    const unsubscribe = client.subscribe((event) => {
      if (event.type === "signed_in") {
        queryClient.setQueryData(PROFILE_KEY, event.session.developer);
        setSessionExpired(false);
        setStatus("authenticated");
      } else {
        queryClient.removeQueries({ queryKey: PROFILE_KEY });
        setSessionExpired(!signingOut.current);
        setStatus("anonymous");
      }
    });
    // A reload or a new tab: trade the stored refresh token for a session.
    client.restore().then(
      (session) => {
        if (!session) setStatus("anonymous");
      },
      () => setStatus((s) => (s === "loading" ? "anonymous" : s)),
    );
    // Signing out in another tab removes the shared refresh token.
    const onStorage = (e: StorageEvent) => {
      if (e.key === REFRESH_TOKEN_KEY && e.newValue === null && client.tokens.accessToken) {
        client.tokens.clear();
        queryClient.removeQueries({ queryKey: PROFILE_KEY });
        setSessionExpired(false);
        setStatus("anonymous");
      }
    };
    window.addEventListener("storage", onStorage);
    return () => {
      unsubscribe();
      window.removeEventListener("storage", onStorage);
    };
  }, [client, queryClient]);

  const logout = useCallback(async () => {
    signingOut.current = true;
    try {
      await client.logout();
    } finally {
      signingOut.current = false;
    }
  }, [client]);

  const value = useMemo(
    () => ({ status, client, sessionExpired, logout }),
    [status, client, sessionExpired, logout],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthContextValue {
  const value = useContext(AuthContext);
  if (!value) throw new Error("useAuth outside AuthProvider");
  return value;
}

export function useApi(): ApiClient {
  return useAuth().client;
}

/** The signed-in developer's profile (seeded by sign-in, refetched when stale). */
export function useProfile() {
  const { client, status } = useAuth();
  return useQuery<Profile>({
    queryKey: PROFILE_KEY,
    queryFn: () => client.getProfile(),
    enabled: status === "authenticated",
    staleTime: 30_000,
  });
}
