//! Outgoing email: templates, the queue in the database, and delivery.
//!
//! Mail is never sent from a request. The account change that causes a
//! message writes it to `outbound_emails` in the same transaction
//! ([`outbox::enqueue`]), so a crash can lose neither. A background
//! [`outbox::Worker`] delivers queued messages through the [`Mailer`] —
//! SMTP (`lettre`, rustls) or, in development (`email.mode = "log"`), `.eml`
//! files in `email.outbox_dir` with the link logged — retrying with
//! backoff for up to a day.

pub mod outbox;
pub mod templates;

use crate::config::{EmailConfig, EmailMode, SmtpTls};
use anyhow::Context;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::time::Duration;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// A message ready to go out.
pub struct Outgoing<'a> {
    /// Recipient address.
    pub to: &'a str,
    /// Subject line.
    pub subject: &'a str,
    /// Plain-text body.
    pub text: &'a str,
    /// HTML body.
    pub html: &'a str,
    /// The link it carries (logged in development mode only).
    pub link: Option<&'a str>,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
    },
}

/// Sends messages the configured way.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl Mailer {
    /// Builds the transport. Nothing is touched yet: SMTP connects and the
    /// development outbox folder is created when the first message goes.
    pub fn from_config(config: &EmailConfig) -> anyhow::Result<Mailer> {
        let from: Mailbox = config
            .from
            .parse()
            .with_context(|| format!("email.from: cannot parse '{}'", config.from))?;
        let transport = match config.mode {
            EmailMode::Smtp => {
                let host = config.smtp_host.trim();
                let mut builder = match config.smtp_tls {
                    SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
                    SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                        .with_context(|| {
                            format!("email.smtp_host: cannot use '{host}' for STARTTLS")
                        })?,
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                        .with_context(|| format!("email.smtp_host: cannot use '{host}' for TLS"))?,
                }
                .port(config.smtp_port)
                .timeout(Some(SMTP_TIMEOUT));
                if !config.smtp_user.is_empty() {
                    builder = builder.credentials(Credentials::new(
                        config.smtp_user.clone(),
                        config.smtp_password.expose().to_string(),
                    ));
                }
                Transport::Smtp(builder.build())
            }
            EmailMode::Log => {
                let dir = PathBuf::from(&config.outbox_dir);
                Transport::Files {
                    transport: AsyncFileTransport::new(&dir),
                    dir,
                }
            }
        };
        Ok(Mailer { transport, from })
    }

    /// Delivers one message; the error says why not (for the queue's
    /// `last_error` and the log, never containing the body).
    pub async fn send(&self, mail: &Outgoing<'_>) -> Result<(), String> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| format!("bad recipient address: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(mail.text.to_string()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(mail.html.to_string()),
                    ),
            )
            .map_err(|e| format!("cannot build the message: {e}"))?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| format!("SMTP: {e}")),
            Transport::Files { transport, dir } => {
                // Owner-only: messages carry tokens.
                create_private_dir(dir)
                    .map_err(|e| format!("cannot create the outbox {}: {e}", dir.display()))?;
                let id = transport
                    .send(message)
                    .await
                    .map_err(|e| format!("outbox file: {e}"))?;
                // Development mode only: the operator reads mail here.
                tracing::info!(
                    to = mail.to,
                    subject = mail.subject,
                    link = mail.link.unwrap_or(""),
                    file = %dir.join(format!("{id}.eml")).display(),
                    "email written to the development outbox (email.mode = \"log\")"
                );
                Ok(())
            }
        }
    }
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}
