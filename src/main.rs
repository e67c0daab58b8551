#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    bastion_wizard::cli::run(bastion_wizard::cli::Cli::parse())
}
