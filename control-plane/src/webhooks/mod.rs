//! Events and webhooks. Events are rows in `events`, written by
//! [`crate::audit::emit`] inside the transaction of the change they
//! describe; emitting one also creates a delivery for each subscribed
//! endpoint of its developer ([`delivery::fan_out`]). The worker
//! ([`delivery::spawn_worker`]) sends deliveries signed per Standard
//! Webhooks ([`signing`]) to endpoints that pass [`safety`], with secrets
//! stored sealed ([`secrets`]).

pub mod delivery;
pub mod safety;
pub mod secrets;
pub mod signing;
