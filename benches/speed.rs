//! Every speed and memory figure of issue 8 beside its reference and target: the first
//! frame, `apply` against the guide's shell commands, `status` against `sshd -T` once per
//! vendor address, key intake, peak memory and binary size. Medians of several runs.
//!
//! Run it through `scripts/bench`, which builds the reference binary (main's) and passes it
//! in `BENCH_REFERENCE_BIN`. Needs root (sshd -T reads the host keys; the sandbox needs
//! namespaces) and python3 (scripts/bench-probe: the pseudo-terminal and wait4).

#[path = "../tests/common/mod.rs"]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_bastion-wizard");
const ROUNDS: usize = 15;
/// Each apply round builds two fresh sandboxes, so fewer rounds.
const APPLY_ROUNDS: usize = 9;
const MEMORY_ROUNDS: usize = 5;
const KEY_ROUNDS: usize = 201;
const MIB: f64 = 1024.0 * 1024.0;

/// One line of the table.
struct Figure {
    what: String,
    measured: f64,
    reference: Option<f64>,
    unit: &'static str,
    /// What the target bounds: the measured value itself, or the ratio to the reference.
    bound: Bound,
}

enum Bound {
    AtMost(f64),
    RatioAtMost(f64),
    /// No target: shown for comparison only.
    Shown,
}

impl Figure {
    fn ratio(&self) -> Option<f64> {
        self.reference.map(|r| self.measured / r)
    }

    fn pass(&self) -> bool {
        match self.bound {
            Bound::AtMost(limit) => self.measured <= limit,
            Bound::RatioAtMost(limit) => self.ratio().is_some_and(|r| r <= limit),
            Bound::Shown => true,
        }
    }

    fn target(&self) -> String {
        match self.bound {
            Bound::AtMost(limit) => format!("≤ {limit} {}", self.unit),
            Bound::RatioAtMost(limit) => format!("ratio ≤ {limit:.2}"),
            Bound::Shown => "—".into(),
        }
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn time(run: impl FnOnce()) -> f64 {
    let start = Instant::now();
    run();
    millis(start.elapsed())
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("speed bench: skipped, it needs root (sshd -T reads the host keys; the sandbox needs namespaces)");
        return;
    }
    let reference = std::env::var_os("BENCH_REFERENCE_BIN").map(PathBuf::from);
    if reference.is_none() {
        eprintln!("speed bench: no BENCH_REFERENCE_BIN (scripts/bench sets it): references from main's binary are left out");
    }
    let state = tempfile::tempdir().expect("temp dir");
    // BENCH_ONLY=apply,status (say) takes only those groups of figures.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |group: &str| only.is_empty() || only.split(',').any(|g| g == group);
    let mut figures = Vec::new();
    if wanted("first-frame") {
        figures.extend(first_frame(reference.as_deref(), state.path()));
    }
    if wanted("apply") {
        figures.extend(apply_against_guide());
    }
    if wanted("status") {
        figures.extend(status_against_sshd());
    }
    if wanted("key") {
        figures.extend(key_intake());
    }
    if wanted("memory") {
        figures.extend(memory(reference.as_deref()));
    }
    if wanted("size") {
        figures.push(binary_size(reference.as_deref()));
    }
    print_table(&figures);
}

fn print_table(figures: &[Figure]) {
    println!();
    println!(
        "{:<52} {:>10} {:>10} {:>7} {:>12}  result",
        "figure", "measured", "reference", "ratio", "target"
    );
    for f in figures {
        let reference = f.reference.map_or("—".to_string(), |r| format!("{r:.2}"));
        let ratio = f.ratio().map_or("—".to_string(), |r| format!("{r:.2}"));
        println!(
            "{:<52} {:>7.2} {:<2} {:>10} {:>7} {:>12}  {}",
            f.what,
            f.measured,
            f.unit,
            reference,
            ratio,
            f.target(),
            match (&f.bound, f.pass()) {
                (Bound::Shown, _) => "shown",
                (_, true) => "pass",
                (_, false) => "FAIL",
            }
        );
    }
    let failed = figures.iter().filter(|f| !f.pass()).count();
    println!(
        "\n{} figure(s), {failed} outside the target.",
        figures.len()
    );
}

/// The probe's numbers for `args`, one per run.
fn probe(what: &str, runs: usize, args: &[&str], state: Option<&Path>) -> Vec<f64> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench-probe");
    let mut command = Command::new("python3");
    command
        .arg(script)
        .arg(what)
        .arg(runs.to_string())
        .args(args)
        .env("TERM", "xterm-256color")
        .stderr(Stdio::inherit());
    if let Some(state) = state {
        // The wizard takes its lock at start: never in this machine's /var/lib.
        command.env("BASTION_WIZARD_STATE_DIR", state);
    }
    let out = command.output().expect("run python3 scripts/bench-probe");
    assert!(out.status.success(), "bench-probe {what} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse().expect("a number from bench-probe"))
        .collect()
}

/// The wizard as root on this host (the built-in profile's eight vendor addresses), from
/// the fork to its first frame's title on a pseudo-terminal.
fn first_frame(reference: Option<&Path>, state: &Path) -> Vec<Figure> {
    let ours = |runs| probe("first-frame", runs, &[BIN], Some(state));
    let theirs =
        |bin: &Path, runs| probe("first-frame", runs, &[&bin.to_string_lossy()], Some(state));
    // Warm both up, then alternate so drift on the machine hits both alike.
    ours(1);
    if let Some(bin) = reference {
        theirs(bin, 1);
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        a.extend(ours(1));
        if let Some(bin) = reference {
            b.extend(theirs(bin, 1));
        }
    }
    vec![Figure {
        what: "first frame as root, 8 vendor IPs (main: reference)".into(),
        measured: median(a),
        reference: (!b.is_empty()).then(|| median(b)),
        unit: "ms",
        bound: Bound::AtMost(20.0),
    }]
}

/// The guide as written (ssh-tunneling.md, steps 1-9), as root for the same user and key:
/// `groupadd`, `useradd`, `su - whaly`, then as whaly `mkdir`, `chmod`, `cd`, `touch`,
/// `chmod` and the key pasted in (here appended with `cat`).
const GUIDE: &str = r#"set -e
groupadd whaly
useradd -m -g whaly whaly
su - whaly -c 'mkdir ~/.ssh && chmod 700 ~/.ssh && cd ~/.ssh && touch authorized_keys && chmod 600 authorized_keys && cat "$0" >> authorized_keys' "$1"
"#;

/// The same end state by a root shell that skips the guide's `su - whaly` (files made as
/// root, then given away with `chown`): shown beside it, as the cheapest by-hand route.
const BY_ROOT: &str = r#"set -e
groupadd whaly
useradd -m -g whaly whaly
mkdir /home/whaly/.ssh
chmod 700 /home/whaly/.ssh
touch /home/whaly/.ssh/authorized_keys
chmod 600 /home/whaly/.ssh/authorized_keys
cat "$1" >> /home/whaly/.ssh/authorized_keys
chown -R whaly:whaly /home/whaly/.ssh
"#;

/// Runs a script on a fresh sandbox host: how long it took.
fn time_script(script: &str, public: &str) -> f64 {
    let sb = common::Sandbox::new().expect("sandbox");
    let mut command = sb.command("sh");
    command
        .args(["-c", script, "guide", public])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut ok = false;
    let took = time(|| ok = command.status().expect("run the guide").success());
    assert!(ok, "the guide's commands failed");
    assert!(
        sb.read_string("/home/whaly/.ssh/authorized_keys")
            .is_some_and(|k| k.starts_with("ssh-ed25519")),
        "the guide's commands installed no key"
    );
    took
}

/// A fresh `apply` against the guide's commands, each on its own fresh sandbox host.
fn apply_against_guide() -> Vec<Figure> {
    let Some(probe_box) = common::Sandbox::new() else {
        eprintln!("speed bench: apply skipped, no sandbox here");
        return Vec::new();
    };
    drop(probe_box);
    let keys = tempfile::tempdir().expect("temp dir");
    let (private, _) = common::keygen(keys.path(), "vendor", &["ed25519"]);
    let public = common::public_path(&private);
    // `su - whaly` reads the key as whaly.
    std::fs::set_permissions(keys.path(), std::fs::Permissions::from_mode(0o755))
        .expect("open the key's directory");
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644))
        .expect("open the key");
    let public = public.to_string_lossy().to_string();
    let (mut ours, mut guide, mut by_root) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=APPLY_ROUNDS {
        let sb = common::Sandbox::new().expect("sandbox");
        let mut command = sb.bin();
        command
            .args(["apply", "--key-file", &public, "--yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut code = None;
        let took = time(|| code = command.status().expect("run apply").code());
        // 0 ready, 5 applied but the host blocks the tunnel elsewhere (no sshd running).
        assert!(matches!(code, Some(0 | 5)), "apply ended with {code:?}");
        assert!(sb.read_string("/home/whaly/.ssh/authorized_keys").is_some());
        drop(sb);
        let took_guide = time_script(GUIDE, &public);
        let took_by_root = time_script(BY_ROOT, &public);
        // The first round warms the page cache for all.
        if round > 0 {
            ours.push(took);
            guide.push(took_guide);
            by_root.push(took_by_root);
        }
    }
    let measured = median(ours);
    vec![
        Figure {
            what: "fresh apply (the guide as written: reference)".into(),
            measured,
            reference: Some(median(guide)),
            unit: "ms",
            bound: Bound::RatioAtMost(1.0),
        },
        Figure {
            what: "fresh apply (by root without su: for comparison)".into(),
            measured,
            reference: Some(median(by_root)),
            unit: "ms",
            bound: Bound::Shown,
        },
    ]
}

/// `status` against `sshd -T` once per vendor address in turn: as the host is, and with a
/// Match Address block, where `status` must ask sshd once per address (issue 6's bound).
fn status_against_sshd() -> Vec<Figure> {
    let dir = tempfile::tempdir().expect("temp dir");
    let with_match = dir.path().join("sshd_config");
    let main_config = std::fs::read_to_string("/etc/ssh/sshd_config").unwrap_or_default();
    std::fs::write(
        &with_match,
        format!("{main_config}\nMatch Address 34.22.141.3\n    AllowTcpForwarding no\n"),
    )
    .expect("write the config");
    vec![
        status_case("status as this host is", None, 0.5),
        status_case("status with a Match Address block", Some(&with_match), 1.0),
    ]
}

fn status_case(what: &str, config: Option<&Path>, bound: f64) -> Figure {
    let profile = bastion_wizard::profile::Profile::built_in();
    let status = || {
        let mut command = Command::new(BIN);
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
    status();
    reference();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.push(time(status));
        theirs.push(time(reference));
    }
    Figure {
        what: format!("{what} (sshd -T x{} in turn: ref.)", profile.ips.len()),
        measured: median(ours),
        reference: Some(median(theirs)),
        unit: "ms",
        bound: Bound::RatioAtMost(bound),
    }
}

/// An SSH wire string: length, then bytes.
fn wire_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Key intake as the wizard and `--key-file` do it (read, then parse): the largest RSA key
/// OpenSSH reads, pasted wrapped with CRLF as mail leaves it, and 64 KiB of several keys,
/// which is refused.
fn key_intake() -> Vec<Figure> {
    let mut blob = Vec::new();
    wire_string(&mut blob, b"ssh-rsa");
    wire_string(&mut blob, &[0x01, 0x00, 0x01]);
    let mut modulus = vec![0x00, 0xc5];
    modulus.extend(std::iter::repeat_n(0xa7, 16384 / 8 - 1));
    wire_string(&mut blob, &modulus);
    let line = format!(
        "ssh-rsa {} vendor@example",
        bastion_wizard::key::encode_base64(&blob)
    );
    let wrapped = common::wrap_with(&line, 76, "\r\n");
    let keys = tempfile::tempdir().expect("temp dir");
    let (_, one) = common::keygen(keys.path(), "one", &["ed25519"]);
    let one = format!("{one}\n");
    let several = one.repeat(bastion_wizard::key::MAX_INPUT / one.len());
    let intake = |text: &str| {
        let read = bastion_wizard::key::read_input(text.as_bytes()).expect("read");
        read.and_then(|t| bastion_wizard::key::parse(&t))
    };
    let accepted = intake(&wrapped).expect("the 16384-bit key is accepted");
    assert_eq!(accepted.bits, Some(16384));
    assert_eq!(
        intake(&several).err(),
        Some(bastion_wizard::key::KeyError::MultipleKeys)
    );
    let timed = |text: &str| {
        let samples = (0..KEY_ROUNDS)
            .map(|_| {
                let start = Instant::now();
                let _ = std::hint::black_box(intake(std::hint::black_box(text)));
                millis(start.elapsed())
            })
            .collect();
        median(samples)
    };
    vec![
        Figure {
            what: format!("key intake: RSA 16384 bits, wrapped ({} B)", wrapped.len()),
            measured: timed(&wrapped),
            reference: None,
            unit: "ms",
            bound: Bound::AtMost(1.0),
        },
        Figure {
            what: format!("key intake: refusal of {} B (several keys)", several.len()),
            measured: timed(&several),
            reference: None,
            unit: "ms",
            bound: Bound::AtMost(1.0),
        },
    ]
}

/// Peak memory of `status` as root (wait4: the largest of it and the tools it runs).
fn memory(reference: Option<&Path>) -> Vec<Figure> {
    let rss = |bin: &str| {
        median(probe(
            "max-rss",
            MEMORY_ROUNDS,
            &[bin, "status", "--json"],
            None,
        )) * 1024.0
            / MIB
    };
    vec![Figure {
        what: "peak memory of status, with the tools it runs".into(),
        measured: rss(BIN),
        reference: reference.map(|r| rss(&r.to_string_lossy())),
        unit: "MiB",
        bound: Bound::AtMost(12.0),
    }]
}

fn binary_size(reference: Option<&Path>) -> Figure {
    let size = |p: &Path| std::fs::metadata(p).expect("the binary").len() as f64 / MIB;
    Figure {
        what: "binary size (release profile)".into(),
        measured: size(Path::new(BIN)),
        reference: reference.map(size),
        unit: "MiB",
        bound: Bound::AtMost(4.0),
    }
}
