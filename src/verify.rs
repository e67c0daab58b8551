//! `verify`: live proof through this host's running sshd. A throwaway key, a loopback-only
//! expiring probe line beside the vendor's, a real `ssh -N -L`, bytes moved, then the probe
//! removed and the file left byte-identical.

use serde::Serialize;

use crate::authorized_keys::PermitOpen;
use crate::inspect::Request;
use crate::state_dir::StateDir;

/// What the proof found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proof {
    pub ok: bool,
    /// What was proven or what failed, in plain words.
    pub summary: String,
    /// ssh's own message, when it failed.
    pub ssh_error: Option<String>,
    /// sshd's log line for the failure, when found.
    pub sshd_reason: Option<String>,
    /// What a loopback proof cannot show.
    pub not_proven: Vec<String>,
}

pub fn run(_request: &Request, _db: Option<&PermitOpen>, _state_dir: &StateDir) -> Proof {
    Proof {
        ok: false,
        summary: "the live proof is not available yet".into(),
        ssh_error: None,
        sshd_reason: None,
        not_proven: Vec::new(),
    }
}

/// Removes probe lines a killed run left behind (loopback-only, expiring). Every command
/// that runs as root calls this first.
pub fn remove_leftover_probes(_user: &str) {}
