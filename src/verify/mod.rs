//! `verify`: live proof through this host's running sshd. A throwaway key, a loopback-only
//! expiring probe line beside the vendor's, a real `ssh -N -L`, bytes moved, then the probe
//! removed and the file left byte-identical.
//!
//! `probe` is the probe line and its place in authorized_keys, `throwaway_key` the key
//! pair, `endpoint` where sshd is reached, `tunnel` the `ssh -N -L` run, `sshd_log` sshd's
//! side of it, and `leftovers` what a killed run leaves. This file runs the proof.

use std::thread;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::authorized_keys::PermitOpen;
use crate::dates::Clock;
use crate::inspect;
use crate::setup::Request;
use crate::sshd;
use crate::state_dir::StateDir;

mod endpoint;
mod leftovers;
mod probe;
mod sshd_log;
mod throwaway_key;
mod tunnel;

pub use endpoint::{choose_endpoint, listeners, Endpoint};
pub use leftovers::remove_leftover_probes;
pub use probe::{expiry_stamp, is_probe, probe_line, with_probe, without_lines, MARKER};
pub use sshd_log::{relevant_lines, sshd_reason};
pub use tunnel::{channel_state, ssh_message, ChannelState};

use endpoint::socket_text;
use probe::Installed;
use sshd_log::LogMark;
use throwaway_key::ProbeDir;
use tunnel::tunnel;

/// How long a probe line stays valid if a run dies before removing it.
const PROBE_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Test hook: hold this many milliseconds with the probe line in place (the kill -9 test).
const HOLD_ENV: &str = "BASTION_WIZARD_VERIFY_HOLD_MS";

/// What the proof found.
#[derive(Default, Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// Where ssh connected (`127.0.0.1:22`), when sshd could be located.
    pub sshd_address: Option<String>,
    /// The forward's target, as written in `-L` and compared by sshd.
    pub target: Option<String>,
    /// Bytes that came back through the tunnel.
    pub bytes_received: usize,
    /// What became of authorized_keys: restored byte for byte, or what differs.
    pub authorized_keys: Option<String>,
    /// sshd's log lines written during the proof that concern it.
    pub sshd_log: Vec<String>,
}

impl Proof {
    fn failed(summary: String) -> Proof {
        Proof {
            ok: false,
            summary,
            ssh_error: None,
            sshd_reason: None,
            not_proven: Vec::new(),
            sshd_address: None,
            target: None,
            bytes_received: 0,
            authorized_keys: None,
            sshd_log: Vec::new(),
        }
    }
}

pub fn run(request: &Request, db: Option<&PermitOpen>, state_dir: &StateDir) -> Proof {
    let mut proof = match state_dir.lock() {
        Ok(_lock) => prove(request, db, state_dir),
        Err(e) => Proof::failed(format!("The proof did not run: {e:#}")),
    };
    proof.not_proven = not_proven(request);
    proof
}

/// What connecting from loopback leaves open, said plainly.
fn not_proven(request: &Request) -> Vec<String> {
    let mut gaps = vec![
        "sshd's `Match Address` rules for the vendor's own addresses: this proof connects from this host; `status` evaluates them with `sshd -T` for every vendor IP".to_string(),
        "anything outside this host: security groups, cloud and network firewalls in front of it, and the vendor's own network".to_string(),
        "local firewall rules for the vendor's addresses (loopback traffic does not meet them; see the local_firewall check)".to_string(),
        "the vendor's own key: the probe used a throwaway key with the same tunnel options; `status --key-file` checks the vendor's key and its line".to_string(),
    ];
    if request.access.allow_shell {
        gaps.push("the vendor's key line has no tunnel restrictions, so only the login and forwarding were tried".into());
    }
    gaps
}

fn prove(request: &Request, db: Option<&PermitOpen>, state_dir: &StateDir) -> Proof {
    let user = request.user.as_str();
    let Some(account) = nix::unistd::User::from_name(user).ok().flatten() else {
        return Proof::failed(format!(
            "The tunnel cannot work: the user {user} does not exist. Run `bastion-wizard apply` first."
        ));
    };
    let config = match sshd::query(
        user,
        std::net::Ipv4Addr::LOCALHOST.into(),
        sshd::Local::ANY,
        inspect::is_root(),
    ) {
        Ok(config) => config,
        Err(e) => return Proof::failed(format!("The proof did not run: {e}")),
    };
    let Some(endpoint) = choose_endpoint(&listeners(&config)) else {
        return Proof::failed(
            "The proof did not run: sshd -T names no address sshd listens on".into(),
        );
    };
    let target = match db {
        Some(t) => t.to_string(),
        None => socket_text(endpoint.connect),
    };
    if let Some(version) = sshd::read_build()
        .version
        .filter(|v| *v < sshd::Version::EXPIRY_TIME)
    {
        return Proof::failed(format!(
            "The proof did not run: this host's sshd ({version}) does not know expiry-time ({} and later), which keeps a probe line from outliving an interrupted run. Check by hand: `ssh -N -L 15432:{target} {user}@HOST` from an allowed address",
            sshd::Version::EXPIRY_TIME
        ));
    }
    let mut proof = Proof::failed(String::new());
    proof.sshd_address = Some(socket_text(endpoint.connect));
    proof.target = Some(target.clone());

    let probe_dir = match ProbeDir::create(state_dir) {
        Ok(dir) => dir,
        Err(e) => {
            proof.summary = format!("The proof did not run: cannot make the throwaway key: {e:#}");
            return proof;
        }
    };
    let (private_key, public) = match probe_dir.keygen() {
        Ok(pair) => pair,
        Err(e) => {
            proof.summary = format!("The proof did not run: cannot make the throwaway key: {e:#}");
            return proof;
        }
    };
    let expiry = expiry_stamp(SystemTime::now() + PROBE_LIFETIME, &Clock::read());
    let line = probe_line(
        request.access.options().as_deref(),
        &endpoint.from,
        &expiry,
        &format!("{} {}", public.algorithm, public.data),
    );
    let log_start = LogMark::now();
    let installed = match Installed::write(&account, &line, &public.data) {
        Ok(installed) => installed,
        Err(e) => {
            proof.summary = format!(
                "The proof did not run: cannot add the probe line to {}: {e:#}",
                account.dir.join(".ssh/authorized_keys").display()
            );
            return proof;
        }
    };
    if let Some(ms) = std::env::var(HOLD_ENV).ok().and_then(|v| v.parse().ok()) {
        thread::sleep(Duration::from_millis(ms));
    }
    let outcome = tunnel(&private_key, user, &endpoint, &target, db.is_none());
    let restored = installed.restore();
    drop(probe_dir);

    if !outcome.ok {
        // sshd writes its log line as it refuses; give the logger a moment.
        thread::sleep(Duration::from_millis(300));
    }
    proof.sshd_log = log_start.lines_since(user, &public.fingerprint, endpoint.connect.ip());
    proof.sshd_reason = sshd_reason(&proof.sshd_log);
    proof.bytes_received = outcome.bytes;
    proof.ssh_error = outcome.ssh_error.clone();
    let via = format!(
        "sshd on {} as {user}",
        proof.sshd_address.as_deref().unwrap_or("?")
    );
    proof.summary = if outcome.ok {
        format!("The tunnel works: {via}, {}.", outcome.detail)
    } else {
        format!("The tunnel does not work: {via}: {}.", outcome.detail)
    };
    proof.ok = outcome.ok;
    match restored {
        Ok(note) => proof.authorized_keys = Some(note),
        Err(e) => {
            proof.ok = false;
            proof.authorized_keys = Some(format!(
                "the probe line could not be removed ({e:#}); it admits only connections from this host and expires at {expiry} (host time, YYYYMMDDHHMM), and the next run of bastion-wizard removes it"
            ));
            proof
                .summary
                .push_str(" The probe line is still in authorized_keys.");
        }
    }
    proof
}

#[cfg(test)]
mod tests;
