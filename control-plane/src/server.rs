//! Building and running the control plane: database, migrations, version
//! watcher, mail and webhook workers, router and listener, with graceful
//! shutdown.

use crate::accounts::{housekeeping, Accounts};
use crate::api::ApiState;
use crate::config::Config;
use crate::db::Db;
use crate::email::{outbox, Mailer};
use crate::gateway_feed;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::webhooks::delivery::{self, Deliverer};
use crate::webhooks::secrets::Sealer;
use anyhow::Context;
use axum::Extension;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

/// A control plane bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    api: Arc<ApiState>,
    db: Db,
    shutdown: watch::Sender<bool>,
    watcher: tokio::task::JoinHandle<()>,
    mail_worker: tokio::task::JoinHandle<()>,
    housekeeping: tokio::task::JoinHandle<()>,
    webhook_worker: tokio::task::JoinHandle<()>,
    billing_jobs: tokio::task::JoinHandle<()>,
    retention: tokio::task::JoinHandle<()>,
    settings_watcher: tokio::task::JoinHandle<()>,
    batch_jobs: tokio::task::JoinHandle<()>,
    check_responses: bool,
}

impl Application {
    /// Connects, migrates, starts the version watcher, the mail worker and
    /// the clean-up task, and binds the listener (`server.listen`; port 0 picks a free one).
    pub async fn build(config: &Config) -> anyhow::Result<Application> {
        config.require_shared_secret()?;
        config.require_token_secret()?;
        let mailer = Mailer::from_config(&config.email)?;
        let db = Db::connect(&config.database).await?;
        db.migrate()
            .await
            .context("cannot apply database migrations")?;
        if let Some(n) = crate::analytics::rollup::ensure_built(&db)
            .await
            .map_err(|e| anyhow::anyhow!("cannot build the analytics rollups: {e}"))?
        {
            tracing::info!(rows = n, "analytics rollups built from stored usage rows");
        }
        let vault = crate::catalog::KeyVault::new(config.auth.token_secret.expose().as_bytes());
        let sealed = crate::catalog::providers::seal_plaintext_keys(&db, &vault)
            .await
            .map_err(|e| anyhow::anyhow!("cannot seal stored upstream keys: {e}"))?;
        if sealed > 0 {
            tracing::info!(
                providers = sealed,
                "upstream keys stored in plain text are now sealed"
            );
        }
        let settings = crate::settings::Runtime::load(config, &db).await?;
        let initial = gateway_feed::version(&db)
            .await
            .context("cannot read the configuration version")?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (versions, watcher) =
            gateway_feed::spawn_version_watcher(db.clone(), initial, shutdown_rx.clone());
        let metrics = Metrics::new().context("cannot register metrics")?;
        let mail_wake = Arc::new(Notify::new());
        let settings_watcher = settings.spawn_watcher(db.clone(), shutdown_rx.clone());
        let accounts =
            Accounts::new(config, settings.clone(), db.clone(), mail_wake.clone()).await?;
        let deliverer = Arc::new(
            Deliverer::new(
                db.clone(),
                Sealer::new(config.auth.token_secret.expose().as_bytes()),
                config.webhooks.clone(),
            )
            .context("cannot build the webhook HTTP client")?
            .following(settings.clone()),
        );
        let webhook_worker = delivery::spawn_worker(deliverer.clone(), shutdown_rx.clone());
        let billing = Arc::new(
            crate::billing::Billing::from_config(config)
                .map_err(|e| anyhow::anyhow!("billing configuration: {e}"))?
                .following(settings.clone()),
        );
        billing
            .apply(&db)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let billing_jobs = billing.spawn(db.clone(), shutdown_rx.clone());
        let batches = Arc::new(crate::batches::Settings::from_config(config));
        let batch_wake = Arc::new(Notify::new());
        let batch_jobs = crate::batches::spawn(
            db.clone(),
            (*batches).clone(),
            billing.source.clone(),
            batch_wake.clone(),
            shutdown_rx.clone(),
        );
        let retention = crate::analytics::retention::spawn(
            db.clone(),
            billing.source.clone(),
            settings.clone(),
            shutdown_rx.clone(),
        );
        let analytics = crate::analytics::store::Store::new(db.clone(), billing.source.clone());
        let api = Arc::new(ApiState {
            analytics,
            billing,
            batches,
            batch_wake,
            accounts,
            trusted_proxies: config.auth.trusted_networks(),
            sealing_secret: config.auth.token_secret.expose().as_bytes().to_vec(),
            vault,
            webhooks: deliverer,
            settings: settings.clone(),
        });
        let mail_worker = outbox::Worker::new(db.clone(), mailer, mail_wake, shutdown_rx.clone())
            .following(settings.clone())
            .spawn();
        let housekeeping = housekeeping::spawn(db.clone(), shutdown_rx.clone());
        let state = AppState::from_config(config, db.clone(), metrics, versions, shutdown_rx);
        let addr = config.listen_addr()?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (server.listen)"))?;
        Ok(Application {
            listener,
            state,
            api,
            db,
            shutdown,
            watcher,
            mail_worker,
            housekeeping,
            webhook_worker,
            billing_jobs,
            retention,
            settings_watcher,
            batch_jobs,
            check_responses: config.server.check_responses,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// The database handle (tests and `aihub up` use it directly).
    pub fn db(&self) -> Db {
        self.db.clone()
    }

    /// Serves until `signal` completes, then stops accepting, ends long
    /// polls, lets in-flight requests finish and closes the pool.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            state,
            api,
            db,
            shutdown,
            watcher,
            mail_worker,
            housekeeping,
            webhook_worker,
            billing_jobs,
            retention,
            settings_watcher,
            batch_jobs,
            check_responses,
        } = self;
        let mut app = http::router(state);
        if check_responses {
            app = app.layer(axum::middleware::from_fn(
                crate::api::openapi::check_responses,
            ));
        }
        let app = app.layer(Extension(api));
        let stop = async move {
            signal.await;
            tracing::info!("shutting down: finishing in-flight requests");
            // Wakes waiting long polls so they answer now instead of in 25 s.
            let _ = shutdown.send(true);
        };
        // The peer address feeds login throttling by IP.
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await
        .context("HTTP server failed")?;
        let _ = watcher.await;
        let _ = mail_worker.await;
        let _ = housekeeping.await;
        let _ = webhook_worker.await;
        let _ = billing_jobs.await;
        let _ = retention.await;
        let _ = settings_watcher.await;
        let _ = batch_jobs.await;
        db.close().await;
        tracing::info!("control plane stopped");
        Ok(())
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
