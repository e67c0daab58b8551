//! End-to-end tests of `apply --fix-sshd` (issue 6) through the sandbox's own sshd (see
//! tests/common): each cause that blocks the tunnel user is staged in the main file, in a
//! drop-in and in a `Match` block; `status` must name it, plain `apply` must exit 5 and say
//! so, and `apply --fix-sshd` must make it `ok`, reload that sshd (SIGHUP, listening again),
//! open a real tunnel from every vendor address and change no other account's effective
//! configuration. A repair that cannot win is rolled back byte for byte, and a configuration
//! `sshd -t` rejects is never touched.
//!
//! One #[test] per cause so they run in parallel; each staging gets a fresh sandbox.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{describe, keygen, ChildGuard, EchoServer, Sandbox, Sshd, SSHD_DEFAULTS};

const USER: &str = "whaly";
/// Another account that exists on the host, whose effective configuration must not change.
const OTHER: &str = "carol";
/// The vendor address a `Match Address` staging singles out.
const ONE_VENDOR_IP: &str = "34.22.141.3";
const MAIN: &str = "/etc/ssh/sshd_config";
const SITE_DROPIN: &str = "/etc/ssh/sshd_config.d/50-site.conf";
const SIGHUP: &str = "Received SIGHUP; restarting.";
const LISTENING: &str = "Server listening on 0.0.0.0 port 22.";

/// Where a cause is staged.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// In the main file, after Debian's `Include` line (as a site would add it).
    Main,
    /// In /etc/ssh/sshd_config.d/50-site.conf.
    DropIn,
    /// In a `Match Address` block for one vendor address, at the end of the main file.
    MatchAddress,
    /// In a `Match User whaly` block at the end of the main file.
    MatchUser,
}

/// One cause: the line staged, and the check that must fail for it.
struct Cause {
    line: &'static str,
    check: &'static str,
    /// The vendor's key is RSA (else ed25519).
    rsa: bool,
    /// The profile asks for `[keepalive] interval = 30, count_max = 10`.
    keepalive: bool,
    /// The staged line alone stops the tunnel (keepalive does not).
    blocks_tunnel: bool,
    places: &'static [Place],
}

const EVERYWHERE: &[Place] = &[
    Place::Main,
    Place::DropIn,
    Place::MatchAddress,
    Place::MatchUser,
];

const fn cause(line: &'static str, check: &'static str, places: &'static [Place]) -> Cause {
    Cause {
        line,
        check,
        rsa: false,
        keepalive: false,
        blocks_tunnel: true,
        places,
    }
}

/// What sshd's log and the tree looked like before a command, to see what it did.
struct Before {
    tree: BTreeMap<String, Vec<u8>>,
    others: Vec<(String, String)>,
}

/// Every path under /etc/ssh with its type, mode and owner, and every file's bytes (one
/// command in the sandbox: each entry's line, then for a file its size and its bytes).
fn ssh_tree(sb: &Sandbox) -> BTreeMap<String, Vec<u8>> {
    let out = sb.sh(
        "find /etc/ssh -printf '%p %y %m %U:%G\\n' | sort | while read -r p y rest; do \
           printf '%s %s %s\\n' \"$p\" \"$y\" \"$rest\"; \
           if [ \"$y\" = f ]; then wc -c < \"$p\"; cat \"$p\"; fi; \
         done",
    );
    let bytes = out.stdout;
    let mut tree = BTreeMap::new();
    let mut at = 0;
    let line = |at: &mut usize| {
        let end = *at + bytes[*at..].iter().position(|b| *b == b'\n').unwrap();
        let text = String::from_utf8_lossy(&bytes[*at..end]).into_owned();
        *at = end + 1;
        text
    };
    while at < bytes.len() {
        let entry = line(&mut at);
        let path = entry.split(' ').next().unwrap().to_string();
        let mut value = entry.clone().into_bytes();
        if entry.split(' ').nth(1) == Some("f") {
            let size: usize = line(&mut at).trim().parse().unwrap();
            value.push(b'\n');
            value.extend_from_slice(&bytes[at..at + size]);
            at += size;
        }
        tree.insert(path, value);
    }
    tree
}

/// Paths whose entry differs between two trees (added, removed or changed).
fn changed(before: &BTreeMap<String, Vec<u8>>, after: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// `sshd -T -C` for root and for another existing account, from one vendor address.
fn others(sb: &Sandbox) -> Vec<(String, String)> {
    ["root", OTHER]
        .iter()
        .map(|user| {
            let spec = format!("user={user},host=vendor,addr={ONE_VENDOR_IP}");
            let out = sb.run(&["/usr/sbin/sshd", "-T", "-C", &spec]);
            assert!(out.status.success(), "{spec}: {}", describe(&out));
            (spec, String::from_utf8_lossy(&out.stdout).into_owned())
        })
        .collect()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
}

fn check<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no check {id} in {report}"))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A host with the vendor's key pair, another account and its sshd, `cause` staged at `place`.
struct Host {
    sb: Sandbox,
    sshd: Sshd,
    echo: EchoServer,
    key: PathBuf,
    key_file: String,
    /// `--permit-open` and, for keepalive, `--profile`.
    args: Vec<String>,
}

impl Host {
    fn new(sb: Sandbox, cause: &Cause, place: Place) -> Host {
        let echo = EchoServer::start();
        let (key, public) = if cause.rsa {
            rsa_key(&sb.keys_dir())
        } else {
            keygen(&sb.keys_dir(), "vendor", &["ed25519"])
        };
        let key_file = sb.keys_dir().join("vendor.pub");
        fs::write(&key_file, format!("{public}\n")).unwrap();
        let mut args = vec![
            "--permit-open".to_string(),
            format!("127.0.0.1:{}", echo.port()),
        ];
        if cause.keepalive {
            let profile = sb.keys_dir().join("keepalive.toml");
            let built_in = fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/profiles/whaly.toml"),
            )
            .unwrap();
            fs::write(
                &profile,
                format!("{built_in}\n[keepalive]\ninterval = 30\ncount_max = 10\n"),
            )
            .unwrap();
            args.extend(["--profile".into(), profile.to_string_lossy().into_owned()]);
        }
        sb.sh(&format!("useradd -m -s /bin/sh {OTHER}"));
        let lines: String = cause.line.lines().map(|l| format!("{l}\n")).collect();
        let indented: String = cause.line.lines().map(|l| format!("    {l}\n")).collect();
        let extra = match place {
            Place::Main => lines,
            Place::DropIn => {
                sb.write_file(SITE_DROPIN, lines.as_bytes());
                String::new()
            }
            Place::MatchAddress => format!("Match Address {ONE_VENDOR_IP}\n{indented}"),
            Place::MatchUser => format!("Match User {USER}\n{indented}"),
        };
        let sshd = sb.start_sshd(&extra);
        Host {
            sb,
            sshd,
            echo,
            key,
            key_file: key_file.to_string_lossy().into_owned(),
            args,
        }
    }

    fn with_args<'a>(&'a self, head: &[&'a str]) -> Vec<&'a str> {
        let mut all = head.to_vec();
        all.extend(self.args.iter().map(String::as_str));
        all
    }

    fn status(&self) -> serde_json::Value {
        let args = self.with_args(&["status", "--json", "--key-file", &self.key_file]);
        json(&self.sb.wizard(&args))
    }

    fn apply(&self, fix_sshd: bool) -> Output {
        let mut head = vec!["apply", "--key-file", &self.key_file, "--yes"];
        if fix_sshd {
            head.push("--fix-sshd");
        }
        self.sb.wizard(&self.with_args(&head))
    }

    fn before(&self) -> Before {
        Before {
            tree: ssh_tree(&self.sb),
            others: others(&self.sb),
        }
    }

    /// A tunnel from every vendor address, one after the other (the harness picks each
    /// tunnel's local port when it starts, so tunnels started together could meet on one):
    /// the addresses whose tunnel failed, and why.
    fn tunnels(&self) -> Vec<String> {
        common::vendor_ips()
            .iter()
            .filter_map(|ip| {
                let r = self.sshd.tunnel_from(ip, &self.key, USER, self.echo.port());
                (!r.ok).then(|| format!("{ip}: {} / {}", r.detail, r.ssh_stderr.trim()))
            })
            .collect()
    }
}

/// A vendor's `ssh -N -L` and one connection through it, kept open.
struct OpenTunnel {
    _ssh: ChildGuard,
    stream: TcpStream,
}

impl OpenTunnel {
    fn start(host: &Host) -> OpenTunnel {
        let local = common::free_port();
        let forward = format!("{local}:127.0.0.1:{}", host.echo.port());
        let ssh = common::ssh_from(
            &common::vendor_ips()[1],
            &host.key,
            USER,
            host.sshd.port,
            &["-N", "-o", "ExitOnForwardFailure=yes", "-L", &forward],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let ssh = ChildGuard(ssh);
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", local)) {
                Ok(stream) => break stream,
                Err(e) if Instant::now() > deadline => panic!("no tunnel on {local}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut open = OpenTunnel { _ssh: ssh, stream };
        open.carries("the session before the repair");
        open
    }

    /// A line sent through the connection comes back.
    fn carries(&mut self, what: &str) {
        let line = format!("{}\n", common::unique("open-session"));
        self.stream.write_all(line.as_bytes()).unwrap();
        let mut got = vec![0; line.len()];
        let read = self.stream.read_exact(&mut got);
        assert!(
            read.is_ok() && got == line.as_bytes(),
            "{what} no longer carries bytes: {read:?}"
        );
    }
}

/// The vendor's RSA key pair, made once per test process (an RSA key costs about a
/// second of CPU) and copied into `dir`.
fn rsa_key(dir: &Path) -> (PathBuf, String) {
    static PAIR: OnceLock<(Vec<u8>, String)> = OnceLock::new();
    let (private, public) = PAIR.get_or_init(|| {
        let made = tempfile::tempdir().unwrap();
        let (private, public) = keygen(made.path(), "vendor", &["rsa", "-b", "3072"]);
        (fs::read(private).unwrap(), public)
    });
    let path = dir.join("vendor");
    fs::write(&path, private).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    (path, public.clone())
}

/// The whole story for one cause at one place.
fn repairs(cause: &Cause, place: Place) {
    let sb = sandbox_or_skip!();
    let host = Host::new(sb, cause, place);
    let sb = &host.sb;
    let what = format!("`{}` staged in {place:?}", cause.line);
    let start = host.before();

    // status names it.
    let report = host.status();
    assert_eq!(report["ready"], false, "{what}: {report}");
    let staged = check(&report, cause.check);
    assert_eq!(staged["status"], "fail", "{what}: {staged}");
    let title = staged["title"].as_str().unwrap().to_string();

    // Plain apply sets up the account, never touches sshd, and says the host is not ready.
    let out = host.apply(false);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(5), "{what}: {}", describe(&out));
    assert!(
        text.contains("the account is set up, but") && text.contains("still fail"),
        "{what}: {text}"
    );
    assert!(
        text.contains(&format!("✗ {title}:")),
        "{what}: the failing check is not listed: {text}"
    );
    assert!(!text.contains("Ready:"), "{what}: {text}");
    assert!(
        changed(&start.tree, &ssh_tree(sb)).is_empty(),
        "{what}: plain apply touched /etc/ssh"
    );
    if cause.blocks_tunnel {
        let r = host
            .sshd
            .tunnel_from(ONE_VENDOR_IP, &host.key, USER, host.echo.port());
        assert!(!r.ok, "{what}: the tunnel worked before the repair: {r:?}");
    }
    assert!(!host.sshd.log().contains(SIGHUP), "{what}: reloaded early");
    // Where the tunnel already works, a session open across the repair must survive it.
    let open = (!cause.blocks_tunnel).then(|| OpenTunnel::start(&host));

    // apply --fix-sshd repairs it, reloads this sshd, and the host is ready.
    let out = host.apply(true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}\n--- sshd log ---\n{}",
        describe(&out),
        host.sshd.log()
    );
    assert!(
        host.sshd.wait_log(SIGHUP, Duration::from_secs(5)),
        "{what}: the reload did not reach the sandbox's sshd: {}",
        host.sshd.log()
    );
    // Reloaded, not restarted: SIGHUP re-executes sshd in the same process.
    assert_eq!(
        sb.read_string("/run/sshd.pid")
            .map(|p| p.trim().to_string()),
        Some(host.sshd.pid().to_string()),
        "{what}: sshd's pid changed"
    );
    assert!(
        host.sshd.log().matches(LISTENING).count() >= 2,
        "{what}: sshd does not listen again after the reload: {}",
        host.sshd.log()
    );
    if let Some(mut open) = open {
        open.carries(&format!("{what}: the session opened before the reload"));
    }
    let report = host.status();
    assert_eq!(check(&report, cause.check)["status"], "ok", "{what}");
    assert_eq!(report["ready"], true, "{what}: {report}");

    let failed = host.tunnels();
    assert!(
        failed.is_empty(),
        "{what}: tunnels failed after the repair:\n{}\n--- sshd log ---\n{}",
        failed.join("\n"),
        host.sshd.log()
    );

    // No other account's effective configuration changed, beyond the one name added to
    // an AllowUsers line when that is the repair.
    let widened = cause.line.starts_with("AllowUsers");
    for ((spec, old), (_, new)) in start.others.iter().zip(&others(sb)) {
        let added = format!("allowusers {USER}");
        let kept: Vec<&str> = new.lines().filter(|l| *l != added).collect();
        assert_eq!(
            old.lines().collect::<Vec<_>>(),
            kept,
            "{what}: `sshd -T -C {spec}` changed"
        );
        let expected_added = usize::from(widened && old.contains("allowusers someoneelse"));
        assert_eq!(
            new.lines().count() - kept.len(),
            expected_added,
            "{what}: `sshd -T -C {spec}`: {USER} added where it should not be"
        );
    }

    // Each file that existed and changed has its old bytes in the state dir's backups;
    // anything else touched is only our own new drop-in.
    let after = ssh_tree(sb);
    let ours = format!("/etc/ssh/sshd_config.d/00-bastion-wizard-{USER}.conf");
    let backups: Vec<Vec<u8>> = fs::read_dir(sb.state_dir().join("backups"))
        .map(|d| d.flatten().map(|e| fs::read(e.path()).unwrap()).collect())
        .unwrap_or_default();
    for path in changed(&start.tree, &after) {
        match start.tree.get(&path) {
            Some(_) if path == "/etc/ssh/sshd_config.d" => {}
            Some(_) => {
                let old = sb_read_from(&start.tree, &path);
                assert!(
                    backups.contains(&old),
                    "{what}: no backup of {path} in {}",
                    sb.state_dir().display()
                );
                assert!(widened, "{what}: {path} was edited");
            }
            None => assert_eq!(path, ours, "{what}: unexpected new file"),
        }
    }
    // A rerun has nothing left to do: no file written, no second reload.
    if matches!(place, Place::Main) {
        let out = host.apply(true);
        assert_eq!(out.status.code(), Some(0), "{what}: {}", describe(&out));
        assert!(
            changed(&after, &ssh_tree(sb)).is_empty(),
            "{what}: the rerun changed /etc/ssh"
        );
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            host.sshd.log().matches(SIGHUP).count(),
            1,
            "{what}: the rerun reloaded sshd"
        );
    }
    if widened {
        let edited = match place {
            Place::DropIn => SITE_DROPIN,
            _ => MAIN,
        };
        assert_ne!(
            start.tree.get(edited),
            after.get(edited),
            "{what}: {edited} was not widened"
        );
    }
}

/// A file's bytes as recorded by [`ssh_tree`] (after its metadata line).
fn sb_read_from(tree: &BTreeMap<String, Vec<u8>>, path: &str) -> Vec<u8> {
    let entry = &tree[path];
    let cut = entry.iter().position(|b| *b == b'\n').unwrap() + 1;
    entry[cut..].to_vec()
}

/// Each staging in its own thread and sandbox (a sandbox's network is its thread's).
fn each_place(cause: Cause) {
    std::thread::scope(|scope| {
        for place in cause.places {
            let cause = &cause;
            scope.spawn(move || repairs(cause, *place));
        }
    });
}

#[test]
fn e2e_fix_sshd_allow_tcp_forwarding_no() {
    each_place(cause(
        "AllowTcpForwarding no",
        "sshd_forwarding",
        EVERYWHERE,
    ));
}

#[test]
fn e2e_fix_sshd_disable_forwarding_yes() {
    each_place(cause(
        "DisableForwarding yes",
        "sshd_forwarding",
        EVERYWHERE,
    ));
}

#[test]
fn e2e_fix_sshd_permit_open_of_another_target() {
    each_place(cause(
        "PermitOpen 127.0.0.1:1",
        "sshd_forwarding",
        EVERYWHERE,
    ));
}

#[test]
fn e2e_fix_sshd_pubkey_authentication_no() {
    each_place(cause(
        "PubkeyAuthentication no",
        "sshd_pubkey",
        &[Place::DropIn, Place::MatchAddress, Place::MatchUser],
    ));
}

#[test]
fn e2e_fix_sshd_authentication_methods_publickey_password() {
    each_place(cause(
        // Globally sshd refuses to start with this unless password authentication is on.
        "PasswordAuthentication yes\nAuthenticationMethods publickey,password",
        "sshd_auth_methods",
        EVERYWHERE,
    ));
}

#[test]
fn e2e_fix_sshd_allow_users_someone_else() {
    each_place(cause(
        "AllowUsers someoneelse",
        "sshd_user_allowed",
        EVERYWHERE,
    ));
}

#[test]
fn e2e_fix_sshd_pubkey_accepted_algorithms_without_rsa() {
    each_place(Cause {
        rsa: true,
        ..cause(
            "PubkeyAcceptedAlgorithms ssh-ed25519",
            "sshd_key_algorithm",
            EVERYWHERE,
        )
    });
}

#[test]
fn e2e_fix_sshd_keepalive_the_profile_asks_for() {
    each_place(Cause {
        keepalive: true,
        blocks_tunnel: false,
        ..cause("ClientAliveInterval 0", "sshd_keepalive", EVERYWHERE)
    });
}

/// The main file as a site might have it: a Match block above the drop-in Include beats
/// any drop-in, so the repair's block cannot win.
fn unbeatable_main(criteria: &str) -> String {
    format!(
        "{SSHD_DEFAULTS}\
         Match {criteria}\n\
         \x20   AllowTcpForwarding no\n\
         Match All\n\
         Include /etc/ssh/sshd_config.d/*.conf\n"
    )
}

/// Exit 1, every byte of /etc/ssh as it was (no drop-in left), the winning line named,
/// sshd never signalled.
#[test]
fn e2e_fix_sshd_that_cannot_win_rolls_back_byte_for_byte() {
    for criteria in ["All", "User whaly"] {
        let sb = sandbox_or_skip!();
        sb.write_file(SITE_DROPIN, b"PasswordAuthentication no\n");
        sb.write_file(MAIN, unbeatable_main(criteria).as_bytes());
        let sshd = sb.start_sshd_as_configured();
        let before = ssh_tree(&sb);
        let out = apply_fix_sshd_with_a_fresh_key(&sb);
        let what = format!("Match {criteria} above the Include");
        assert_eq!(out.status.code(), Some(1), "{what}: {}", describe(&out));
        let after = ssh_tree(&sb);
        assert!(
            changed(&before, &after).is_empty(),
            "{what}: /etc/ssh differs after the rollback: {:?}",
            changed(&before, &after)
        );
        let message = stderr(&out);
        assert!(
            message.contains(&format!("{MAIN}:10")) && message.contains("AllowTcpForwarding no"),
            "{what}: the winning line is not named: {message}"
        );
        assert!(
            message.contains("restored byte for byte"),
            "{what}: {message}"
        );
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !sshd.log().contains(SIGHUP),
            "{what}: sshd was reloaded: {}",
            sshd.log()
        );
    }
}

/// A configuration `sshd -t` already rejects is not touched: exit 1 with sshd's error.
#[test]
fn e2e_fix_sshd_leaves_a_rejected_config_alone() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("AllowTcpForwarding no\n");
    // Broken after sshd started, as an edit not yet reloaded would be.
    sb.write_file(SITE_DROPIN, b"Bogus yes\n");
    let before = ssh_tree(&sb);
    let out = apply_fix_sshd_with_a_fresh_key(&sb);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("Bogus") && all.contains(SITE_DROPIN),
        "sshd's error is not shown: {all}"
    );
    // Said once, not once for `sshd -T` and again for `sshd -t`.
    let error = "50-site.conf: line 1: Bad configuration option: Bogus";
    assert_eq!(stderr(&out).matches(error).count(), 1, "{}", stderr(&out));
    assert!(changed(&before, &ssh_tree(&sb)).is_empty());
    assert!(!sshd.log().contains(SIGHUP), "{}", sshd.log());
}

/// `apply --fix-sshd --yes` with a new vendor key and a database target of its own.
fn apply_fix_sshd_with_a_fresh_key(sb: &Sandbox) -> std::process::Output {
    let echo = EchoServer::start();
    let (_, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let key_file = sb.keys_dir().join("vendor.pub");
    fs::write(&key_file, format!("{public}\n")).unwrap();
    let target = format!("127.0.0.1:{}", echo.port());
    sb.wizard(&[
        "apply",
        "--key-file",
        &key_file.to_string_lossy(),
        "--yes",
        "--fix-sshd",
        "--permit-open",
        &target,
    ])
}
