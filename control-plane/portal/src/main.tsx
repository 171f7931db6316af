import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router";
import { api } from "./api/client";
import { AppRoutes } from "./App";
import { Providers, makeQueryClient } from "./providers";
import "./styles/base.css";
import "./styles/components.css";
import "./styles/layout.css";
import "./styles/keys.css";
import "./styles/webhooks.css";
import "./styles/billing.css";
import "./styles/tasks.css";

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <Providers client={api} queryClient={makeQueryClient()}>
        <BrowserRouter>
          <AppRoutes />
        </BrowserRouter>
      </Providers>
    </StrictMode>,
  );
}
