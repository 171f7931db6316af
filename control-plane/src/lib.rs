//! AI Hub's control plane: accounts, API keys, the model catalog, usage,
//! and the contract that feeds gateways their configuration.
//!
//! | module | owns |
//! | --- | --- |
//! | [`config`] | configuration loading and validation |
//! | [`db`] | the pool, migrations, change recording |
//! | [`developers`], [`keys`], [`catalog`], [`usage`] | the domains and their SQL |
//! | [`accounts`], [`auth`] | sign-up, login, sessions, password reset; tokens and throttling |
//! | [`audit`], [`idempotency`] | the audit log and domain-event outbox; stored answers for `Idempotency-Key` |
//! | [`email`] | mail templates, the outbox queue and its delivery worker |
//! | [`api`] | the management API (`/api/v1/*`) |
//! | [`gateway_feed`] | snapshot and change stream built for gateways |
//! | [`internal_api`] | the signed HTTP routes gateways call |
//! | [`http`] | state, error type, router, operational endpoints |
//! | [`portal`] | the embedded developer portal (the React app in `portal/`) |
//! | [`server`] | start-up, serving, graceful shutdown |
//! | [`cli`] | the `aihub` command line (`serve`, `up`, `migrate`, `admin …`) |

pub mod accounts;
pub mod analytics;
pub mod api;
pub mod audit;
pub mod auth;
pub mod batches;
pub mod billing;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod db;
pub mod developers;
pub mod email;
pub mod error;
pub mod gateway_feed;
pub mod http;
pub mod idempotency;
pub mod internal_api;
pub mod keys;
pub mod metrics;
pub mod portal;
pub mod seal;
pub mod server;
pub mod settings;
pub mod telemetry;
pub mod usage;
pub mod webhooks;
