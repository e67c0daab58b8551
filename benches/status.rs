//! `status` beside its reference: running `sshd -T` once per vendor address in sequence.
//! Issue 6 asks that `status`, with all its readers (sshd -T per address, the log, the
//! firewall tools), be no slower than that reference. Prints medians and the ratio.
//!
//! Run as root on a host with openssh-server: `cargo bench --bench status`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 15;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(mut run: impl FnMut()) -> Duration {
    let start = Instant::now();
    run();
    start.elapsed()
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("status bench: skipped, it needs root (sshd -T reads the host keys)");
        return;
    }
    // As the host is, and with a Match Address block, which makes `status` ask sshd once
    // per vendor address (the worst case).
    let dir = tempfile::tempdir().expect("temp dir");
    let with_match = dir.path().join("sshd_config");
    let main_config = std::fs::read_to_string("/etc/ssh/sshd_config").unwrap_or_default();
    std::fs::write(
        &with_match,
        format!("{main_config}\nMatch Address 34.22.141.3\n    AllowTcpForwarding no\n"),
    )
    .expect("write the config");
    compare("as this host is", None);
    compare("with a Match Address block", Some(&with_match));
}

fn compare(case: &str, config: Option<&std::path::Path>) {
    let profile = bastion_wizard::profile::Profile::built_in();
    let status = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bastion-wizard"));
        if let Some(config) = config {
            command.env("BASTION_WIZARD_SSHD_CONFIG", config);
        }
        let out = command
            .args(["status", "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run bastion-wizard status");
        assert!(out.code().is_some_and(|c| c <= 1), "status crashed: {out}");
    };
    let reference = || {
        for ip in &profile.ips {
            let mut command = Command::new("/usr/sbin/sshd");
            if let Some(config) = config {
                command.arg("-f").arg(config);
            }
            let out = command
                .args(["-T", "-C"])
                .arg(format!("user={},host=vendor,addr={ip}", profile.user))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("run sshd -T");
            assert!(out.success(), "sshd -T failed: {out}");
        }
    };
    // Warm both up (page cache, NSS), then interleave so drift hits both alike.
    status();
    reference();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.push(time(status));
        theirs.push(time(reference));
    }
    let (ours, theirs) = (median(ours), median(theirs));
    println!("{case}:");
    println!(
        "  status (all checks)                      {:>8.1} ms",
        ours.as_secs_f64() * 1000.0
    );
    println!(
        "  sshd -T x {} vendor addresses, in turn    {:>8.1} ms",
        profile.ips.len(),
        theirs.as_secs_f64() * 1000.0
    );
    println!(
        "  ratio status / reference                 {:>8.2} (target: at most 1.00)",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
}
