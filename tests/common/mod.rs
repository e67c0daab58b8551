//! Helpers for the end-to-end tests, by concept: [`process`] runs commands with time
//! limits, [`sandbox`] is the disposable namespace a test works in, [`sshd`] the sandbox's
//! sshd, [`tunnel`] the vendor's ssh client and the servers it reaches, [`keys`] the one
//! home for generating, wrapping and reading test keys. Every public name is re-exported
//! here, so tests say `common::Sandbox`, `common::keygen` and so on.
//!
//! Needs root, `unshare`, `nsenter`, `/usr/sbin/sshd`, `ssh` and `ssh-keygen`. Without them
//! `Sandbox::new()` prints `skipped: <why>` and returns `None`, unless `BASTION_WIZARD_E2E=1`
//! is set (CI), in which case it panics. Every wait in here is bounded in time.

#![allow(dead_code)]

pub mod keys;
pub mod process;
pub mod sandbox;
pub mod sshd;
pub mod tunnel;

// Each test binary uses some of these, none uses all.
#[allow(unused_imports)]
pub use self::{keys::*, process::*, sandbox::*, sshd::*, tunnel::*};

/// Name of the env var that turns "skip" into "fail" (set by CI).
pub const E2E_ENV: &str = "BASTION_WIZARD_E2E";

/// `let sb = sandbox_or_skip!();` — a fresh sandbox, or return from the test (skip).
/// Use with `#[macro_use] mod common;`.
#[macro_export]
macro_rules! sandbox_or_skip {
    () => {
        match $crate::common::Sandbox::new() {
            Some(sb) => sb,
            None => return,
        }
    };
}

/// True when `BASTION_WIZARD_E2E=1`: missing prerequisites are a failure, not a skip.
pub fn e2e_required() -> bool {
    std::env::var(E2E_ENV).map(|v| v == "1").unwrap_or(false)
}

/// Skip (print and return `None`) or, under `BASTION_WIZARD_E2E=1`, panic.
fn skip<T>(why: &str) -> Option<T> {
    if e2e_required() {
        panic!("{E2E_ENV}=1 but the e2e sandbox is unavailable: {why}");
    }
    eprintln!("skipped: {why}");
    None
}
