/** The operators' admin pages, loaded as one chunk on an operator's first visit. */
export { AuditPage } from "./AuditPage";
export { CodesPage } from "./CodesPage";
export { DeveloperPage } from "./DeveloperPage";
export { DevelopersPage } from "./DevelopersPage";
export { HealthPage } from "./HealthPage";
export { AdminInvoicePage } from "./InvoicePage";
export { AdminInvoicesPage } from "./InvoicesPage";
export { ModelsPage } from "./ModelsPage";
export { PlansPage } from "./PlansPage";
export { ProvidersPage } from "./ProvidersPage";
export { SettingsPage } from "./SettingsPage";
export { AdminHomePage, SetupPage } from "./SetupPage";
