import { render } from "@testing-library/react";
import { MemoryRouter, useLocation } from "react-router";
import { ApiClient } from "../api/client";
import { TokenStore } from "../api/tokens";
import { AppRoutes } from "../App";
import { Providers, makeQueryClient } from "../providers";
import type { FakeServer } from "./fakeServer";

/** Shows the current location so tests can assert redirects. */
function LocationProbe() {
  const location = useLocation();
  return <output data-testid="location">{location.pathname + location.search}</output>;
}

/** The whole app at `path`, talking to a fake server. */
export function renderApp(path: string, server: FakeServer) {
  const client = new ApiClient({
    fetch: server.fetch,
    tokens: new TokenStore(localStorage),
    lock: (fn) => fn(),
  });
  const queryClient = makeQueryClient();
  queryClient.setDefaultOptions({ queries: { retry: false } });
  const view = render(
    <Providers client={client} queryClient={queryClient}>
      <MemoryRouter initialEntries={[path]}>
        <AppRoutes />
        <LocationProbe />
      </MemoryRouter>
    </Providers>,
  );
  return { ...view, client, queryClient };
}
