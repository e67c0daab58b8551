//! `vendor_attempts`: what sshd's log says about the tunnel user's recent logins, read
//! from journald, /var/log/auth.log or /var/log/secure (bounded), in plain words.

use crate::checks::{Check, CheckId, Status};

/// What the log says about the user's logins; `Default` is "no log read".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempts {
    /// Where the lines came from ("journald", "/var/log/auth.log"), when a log was read.
    pub source: Option<String>,
    /// Why no log could be read, when none could.
    pub unreadable: Option<String>,
    pub last_accepted: Option<Accepted>,
    pub last_refused: Option<Refused>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// As the log gives it, normalised to RFC 3339 where the year is known.
    pub time: String,
    pub addr: String,
    /// `SHA256:…` of the key that logged in.
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub time: String,
    pub addr: Option<String>,
    pub reason: Reason,
    /// sshd's own words, for the detail view.
    pub line: String,
}

/// Why sshd refused, as far as the log tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    BadModes { path: String },
    NotAllowed { rule: String },
    Locked,
    ShellMissing { shell: String },
    Algorithm { algorithm: String },
    ForwardingProhibited,
    ConnectFailed { target: String, why: String },
    KeyNotAccepted,
    Other,
}

/// Reads the last two weeks of sshd's log (bounded), as root.
pub fn read(_user: &str, is_root: bool) -> Attempts {
    Attempts {
        unreadable: Some(if is_root {
            "the sshd log is not read yet".into()
        } else {
            "run as root to read the sshd log".into()
        }),
        ..Attempts::default()
    }
}

/// Fails when the last attempt failed for a reason that `still_fails` says still holds.
pub fn check(attempts: &Attempts, _still_fails: &dyn Fn(CheckId) -> bool) -> Check {
    Check::new(
        CheckId::VendorAttempts,
        Status::Warn,
        "The vendor's recent logins",
        attempts.unreadable.clone().unwrap_or_default(),
        None,
    )
}
