import { Suspense, lazy } from "react";
import type { ReactNode } from "react";
import { Route, Routes } from "react-router";
import { GuestOnly, RequireAuth, RequireOperator } from "./auth/guards";
import { AppLayout } from "./components/AppLayout";
import { AuthLayout } from "./components/AuthLayout";
import { DocsLayout } from "./components/DocsLayout";
import { FullPageLoader } from "./components/Loader";
import { BillingPage } from "./pages/billing/BillingPage";
import { CreditPage } from "./pages/billing/CreditPage";
import { InvoicePage } from "./pages/billing/InvoicePage";
import { InvoicesPage } from "./pages/billing/InvoicesPage";
import { PlansPage } from "./pages/billing/PlansPage";
import { DashboardPage } from "./pages/DashboardPage";
import { ApiReferencePage } from "./pages/docs/ApiReferencePage";
import { KeysPage } from "./pages/KeysPage";
import { EventsPage } from "./pages/events/EventsPage";
import { WebhookDetailPage } from "./pages/webhooks/WebhookDetailPage";
import { WebhooksPage } from "./pages/webhooks/WebhooksPage";
import { ForgotPasswordPage } from "./pages/ForgotPasswordPage";
import { LoginPage } from "./pages/LoginPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { ProfilePage } from "./pages/ProfilePage";
import { RegisterPage } from "./pages/RegisterPage";
import { ResetPasswordPage } from "./pages/ResetPasswordPage";
import { TaskPage } from "./pages/tasks/TaskPage";
import { TasksPage } from "./pages/tasks/TasksPage";
import { UsagePage } from "./pages/usage/UsagePage";
import { VerifyEmailPage } from "./pages/VerifyEmailPage";

// The analytics pages (and their charts) are chunks of their own, loaded on first visit.
const AnalyticsPage = lazy(async () => ({ default: (await import("./pages/analytics/AnalyticsPage")).AnalyticsPage }));
const InsightsPage = lazy(async () => ({ default: (await import("./pages/insights/InsightsPage")).InsightsPage }));
// The guides (their Markdown renderer and the bundled pages) likewise.
const guidePages = () => import("./pages/docs/guides/GuidesPages");
const DocsHomePage = lazy(async () => ({ default: (await guidePages()).DocsHomePage }));
const DocsGuidePage = lazy(async () => ({ default: (await guidePages()).DocsGuidePage }));
const deferred = (page: ReactNode) => <Suspense fallback={<FullPageLoader />}>{page}</Suspense>;

// The operators' admin pages: one chunk, never loaded for developers.
const adminPages = () => import("./pages/admin");
const adminPage = (name: keyof Awaited<ReturnType<typeof adminPages>>) =>
  lazy(async () => ({ default: (await adminPages())[name] }));
const AdminHomePage = adminPage("AdminHomePage");
const SetupPage = adminPage("SetupPage");
const DevelopersPage = adminPage("DevelopersPage");
const DeveloperPage = adminPage("DeveloperPage");
const AdminPlansPage = adminPage("PlansPage");
const ProvidersPage = adminPage("ProvidersPage");
const ModelsPage = adminPage("ModelsPage");
const AdminInvoicesPage = adminPage("AdminInvoicesPage");
const AdminInvoicePage = adminPage("AdminInvoicePage");
const CodesPage = adminPage("CodesPage");
const AuditPage = adminPage("AuditPage");
const HealthPage = adminPage("HealthPage");
const SettingsPage = adminPage("SettingsPage");

/**
 * Every route of the portal. The server answers any non-API path with the
 * app, so these paths work as deep links (the emailed links included).
 */
export function AppRoutes() {
  return (
    <Routes>
      <Route element={<AuthLayout />}>
        <Route element={<GuestOnly />}>
          <Route path="/login" element={<LoginPage />} />
          <Route path="/register" element={<RegisterPage />} />
          <Route path="/forgot-password" element={<ForgotPasswordPage />} />
        </Route>
        {/* Emailed links work whether or not the reader is signed in. */}
        <Route path="/verify-email" element={<VerifyEmailPage />} />
        <Route path="/reset-password" element={<ResetPasswordPage />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
      {/* Public docs: in the app's shell when signed in, under a plain header otherwise. */}
      <Route element={<DocsLayout />}>
        <Route path="/docs" element={deferred(<DocsHomePage />)} />
        <Route path="/docs/api" element={<ApiReferencePage />} />
        <Route path="/docs/:slug" element={deferred(<DocsGuidePage />)} />
      </Route>
      <Route element={<RequireAuth />}>
        <Route element={<AppLayout />}>
          <Route index element={<DashboardPage />} />
          <Route path="/keys" element={<KeysPage />} />
          <Route path="/webhooks" element={<WebhooksPage />} />
          <Route path="/webhooks/:id" element={<WebhookDetailPage />} />
          <Route path="/events" element={<EventsPage />} />
          <Route path="/usage" element={<UsagePage />} />
          <Route path="/analytics" element={deferred(<AnalyticsPage />)} />
          <Route path="/admin" element={<RequireOperator />}>
            <Route index element={deferred(<AdminHomePage />)} />
            <Route path="setup" element={deferred(<SetupPage />)} />
            <Route path="developers" element={deferred(<DevelopersPage />)} />
            <Route path="developers/:id" element={deferred(<DeveloperPage />)} />
            <Route path="plans" element={deferred(<AdminPlansPage />)} />
            <Route path="providers" element={deferred(<ProvidersPage />)} />
            <Route path="models" element={deferred(<ModelsPage />)} />
            <Route path="invoices" element={deferred(<AdminInvoicesPage />)} />
            <Route path="invoices/:id" element={deferred(<AdminInvoicePage />)} />
            <Route path="redemption-codes" element={deferred(<CodesPage />)} />
            <Route path="audit-log" element={deferred(<AuditPage />)} />
            <Route path="health" element={deferred(<HealthPage />)} />
            <Route path="settings" element={deferred(<SettingsPage />)} />
            <Route path="insights" element={deferred(<InsightsPage />)} />
          </Route>
          <Route path="/tasks" element={<TasksPage />} />
          <Route path="/tasks/:id" element={<TaskPage />} />
          <Route path="/billing" element={<BillingPage />} />
          <Route path="/billing/plans" element={<PlansPage />} />
          <Route path="/billing/credit" element={<CreditPage />} />
          <Route path="/billing/invoices" element={<InvoicesPage />} />
          <Route path="/billing/invoices/:id" element={<InvoicePage />} />
          <Route path="/profile" element={<ProfilePage />} />
        </Route>
      </Route>
    </Routes>
  );
}
