//! The full-screen wizard.

use std::process::ExitCode;

use crate::cli::{BadInput, SetupArgs};

/// Until the wizard lands, running without a command prints the status.
pub fn run(setup: &SetupArgs) -> Result<ExitCode, BadInput> {
    let _ = setup;
    let args = ["bastion-wizard", "status"];
    let cli = <crate::cli::Cli as clap::Parser>::parse_from(args);
    Ok(crate::cli::run(crate::cli::Cli {
        setup: setup.clone(),
        ..cli
    }))
}
