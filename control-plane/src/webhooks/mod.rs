//! Events and webhooks. Events are rows in `events`, written by
//! [`crate::audit::emit`] inside the transaction of the change they
//! describe; emitting one also creates a delivery for each subscribed
//! endpoint of its developer ([`delivery::fan_out`]). The worker
//! ([`delivery::spawn_worker`]) sends deliveries signed per Standard
//! Webhooks ([`signing`]) to endpoints that pass [`safety`], with secrets
//! stored sealed ([`secrets`]). The management API reads and changes
//! endpoints through [`endpoints`], events and deliveries through
//! [`queries`]; [`catalog`] lists the event types.

pub mod catalog;
pub mod delivery;
pub mod endpoints;
pub mod queries;
pub mod safety;
pub mod secrets;
pub mod signing;
