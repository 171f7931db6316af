import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { I18nextProvider } from "react-i18next";
import type { ApiClient } from "./api/client";
import { ApiError } from "./api/errors";
import { AuthProvider } from "./auth/AuthProvider";
import i18n from "./i18n";

export function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // Refusals (4xx) are answers, not hiccups: do not retry them.
        retry: (failures, error) =>
          failures < 2 && !(error instanceof ApiError && error.status >= 400 && error.status < 500),
        refetchOnWindowFocus: true,
      },
      mutations: { retry: false },
    },
  });
}

/** Everything a page needs around it: queries, translations, the session. */
export function Providers({
  client,
  queryClient,
  children,
}: {
  client: ApiClient;
  queryClient: QueryClient;
  children: ReactNode;
}) {
  return (
    <QueryClientProvider client={queryClient}>
      <I18nextProvider i18n={i18n}>
        <AuthProvider client={client}>{children}</AuthProvider>
      </I18nextProvider>
    </QueryClientProvider>
  );
}
