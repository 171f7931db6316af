/**
 * The API's shapes, field for field as it sends them, from the types
 * generated out of the OpenAPI document (`schema.ts`).
 */
import type { components, operations } from "./schema.js";

export type { components, operations, paths } from "./schema.js";

type S = components["schemas"];
type Query<Op extends keyof operations> = NonNullable<operations[Op]["parameters"]["query"]>;

export type Session = S["Session"];
export type Profile = S["Profile"];
export type UpdateProfile = S["UpdateProfile"];
export type ChangePassword = S["ChangePassword"];
export type Register = S["Register"];

export type Key = S["Key"];
export type KeyWithSecret = S["KeyWithSecret"];
export type KeyList = S["KeyList"];
export type KeyLimits = S["KeyLimits"];
export type KeyUsage = S["KeyUsage"];
export type CreateKey = S["CreateKey"];
export type UpdateKey = S["UpdateKey"];

export type UsageSummary = S["UsageSummary"];
export type UsageQuery = Query<"usage">;

export type AnalyticsQuery = Query<"analytics_overview">;
export type TrendsQuery = Query<"trends">;
export type AnalyticsOverview = S["AnalyticsOverview"];
export type AnalyticsCosts = S["AnalyticsCosts"];
export type AnalyticsPerformance = S["AnalyticsPerformance"];
export type AnalyticsTrends = S["AnalyticsTrends"];

export type BillingOverview = S["BillingOverview"];
export type CreditTransaction = S["CreditTransaction"];
export type CreditTransactionList = S["CreditTransactionList"];
export type PlanOfferList = S["PlanOfferList"];
export type ChangePlan = S["ChangePlan"];
export type PlanChange = S["PlanChange"];
export type CodeRedeemed = S["CodeRedeemed"];
export type CreateTopUp = S["CreateTopUp"];
export type CheckoutSession = S["CheckoutSession"];
export type Invoice = S["Invoice"];
export type InvoiceList = S["InvoiceList"];
export type InvoiceWithLines = S["InvoiceWithLines"];

export type WebhookEndpoint = S["WebhookEndpoint"];
export type WebhookEndpointWithSecret = S["WebhookEndpointWithSecret"];
export type WebhookEndpointList = S["WebhookEndpointList"];
export type CreateWebhook = S["CreateWebhook"];
export type UpdateWebhook = S["UpdateWebhook"];
export type WebhookSecret = S["WebhookSecret"];
export type RotatedWebhookSecret = S["RotatedWebhookSecret"];
export type WebhookTestResult = S["WebhookTestResult"];
export type WebhookDelivery = S["WebhookDelivery"];
export type WebhookDeliveryList = S["WebhookDeliveryList"];
export type WebhookDeliveryWithAttempts = S["WebhookDeliveryWithAttempts"];
export type DeliveriesQuery = Query<"list_webhook_deliveries">;
export type RecoveredDeliveries = S["RecoveredDeliveries"];

export type Event = S["Event"];
export type EventList = S["EventList"];
export type EventType = S["EventType"];
export type ReplayedDeliveries = S["ReplayedDeliveries"];
/** `type`: one event type or several. */
export type EventsQuery = Omit<Query<"list_events">, "type"> & { type?: string | readonly string[] | null };

export type Task = S["Task"];
export type TaskList = S["TaskList"];
export type TaskStatus = S["TaskStatus"];
export type CreateTask = S["CreateTask"];
export type TaskResult = S["TaskResult"];
export type TaskResults = S["TaskResults"];
export type TasksQuery = Query<"list_tasks">;
export type TaskResultsQuery = Query<"results">;

export type UploadedFile = S["OpenAiFile"];
export type ErrorBody = S["ErrorBody"];
