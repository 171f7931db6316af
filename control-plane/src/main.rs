//! `aihub`: the control plane's binary. Everything lives in the library.

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = aihub_control_plane::cli::Cli::parse();
    match aihub_control_plane::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // The developer commands exit with a code per kind of refusal.
            match e.downcast_ref::<aihub_control_plane::cli::client::ClientError>() {
                Some(c) => ExitCode::from(c.exit_code()),
                None => ExitCode::FAILURE,
            }
        }
    }
}
