//! `verify`: live proof through this host's running sshd. A throwaway key, a loopback-only
//! expiring probe line beside the vendor's, a real `ssh -N -L`, bytes moved, then the probe
//! removed and the file left byte-identical.
//!
//! The probe line goes at the very start of authorized_keys, so removing it (with its line
//! end) gives back the original bytes even when the original lacks a final newline: a run
//! killed midway can be undone exactly by whoever runs next.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;

use crate::authorized_keys::{self, Entry, PermitOpen};
use crate::inspect::{self, Request};
use crate::safe_fs::{self, Meta};
use crate::sshd::{self, SshdConfig};
use crate::state_dir::{self, StateDir};

/// Comment of every probe line; together with its `from=` and `expiry-time=` options it is
/// what `remove_leftover_probes` recognises.
pub const MARKER: &str = "bastion-wizard-probe";
/// How long a probe line stays valid if a run dies before removing it.
const PROBE_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Login and forward setup (ssh's own ConnectTimeout is inside this).
const LOGIN_LIMIT: Duration = Duration::from_secs(20);
/// Waiting for sshd to open or refuse the forward once the local end accepted.
const CHANNEL_LIMIT: Duration = Duration::from_secs(10);
/// Test hook: hold this many milliseconds with the probe line in place (the kill -9 test).
const HOLD_ENV: &str = "BASTION_WIZARD_VERIFY_HOLD_MS";
const AUTHORIZED_KEYS: &str = "authorized_keys";

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
    let expiry = expiry_stamp(SystemTime::now() + PROBE_LIFETIME);
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
                "the probe line could not be removed ({e:#}); it admits only connections from this host and expires at {expiry} UTC, and the next run of bastion-wizard removes it"
            ));
            proof
                .summary
                .push_str(" The probe line is still in authorized_keys.");
        }
    }
    proof
}

// ---------------------------------------------------------------------------------------
// The probe line
// ---------------------------------------------------------------------------------------

/// `from=` and `expiry-time=` first, then the vendor's own tunnel options (their order
/// matters only among themselves: `restrict` before `port-forwarding`).
/// `key` is `type base64`, without a comment: the marker is the whole comment.
pub fn probe_line(access: Option<&str>, from: &str, expiry: &str, key: &str) -> String {
    let mut options = format!("from=\"{from}\",expiry-time=\"{expiry}\"");
    if let Some(access) = access {
        options.push(',');
        options.push_str(access);
    }
    format!("{options} {key} {MARKER}")
}

/// `YYYYMMDDHHMMZ` (UTC), the form authorized_keys(5) documents for expiry-time.
pub fn expiry_stamp(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let iso = state_dir::utc_timestamp(secs);
    let digits: String = iso.chars().filter(char::is_ascii_digit).collect();
    format!("{}Z", &digits[..12])
}

/// A probe line and nothing else: our marker as the whole comment, an ed25519 key, and
/// options that start with a `from=` of literal addresses and a UTC `expiry-time`. A
/// vendor's line never has all of these, so it is never taken for one.
pub fn is_probe(entry: &Entry) -> bool {
    if entry.comment != MARKER || entry.key_type != "ssh-ed25519" {
        return false;
    }
    let Some(options) = entry.options.as_deref() else {
        return false;
    };
    let Some(rest) = options.strip_prefix("from=\"") else {
        return false;
    };
    let Some((from, rest)) = rest.split_once('"') else {
        return false;
    };
    if from.is_empty() || !from.split(',').all(|a| a.parse::<IpAddr>().is_ok()) {
        return false;
    }
    let Some(rest) = rest.strip_prefix(",expiry-time=\"") else {
        return false;
    };
    let Some((stamp, rest)) = rest.split_once('"') else {
        return false;
    };
    let digits = stamp.strip_suffix('Z').unwrap_or("");
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    rest.is_empty() || rest.starts_with(',')
}

/// `content` without the lines `remove` picks (each with its line end), every other byte
/// kept; `None` when there is none.
pub fn without_lines(content: &[u8], remove: impl Fn(&Entry) -> bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(content.len());
    let mut removed = false;
    for raw in content.split_inclusive(|b| *b == b'\n') {
        let text = raw.strip_suffix(b"\n").unwrap_or(raw);
        let entry = authorized_keys::parse_line(&String::from_utf8_lossy(text));
        if entry.as_ref().is_some_and(&remove) {
            removed = true;
        } else {
            out.extend_from_slice(raw);
        }
    }
    removed.then_some(out)
}

/// The probe goes first (see the module comment).
pub fn with_probe(original: &[u8], line: &str) -> Vec<u8> {
    let mut content = Vec::with_capacity(original.len() + line.len() + 1);
    content.extend_from_slice(line.as_bytes());
    content.push(b'\n');
    content.extend_from_slice(original);
    content
}

// ---------------------------------------------------------------------------------------
// authorized_keys, through safe_fs only
// ---------------------------------------------------------------------------------------

struct KeysFile {
    ssh_dir: OwnedFd,
    meta: Meta,
    content: Vec<u8>,
}

fn read_keys_file(home: &Path, uid: u32) -> anyhow::Result<KeysFile> {
    let (parent, name) = safe_fs::open_home_parent(home)?;
    let home_fd = safe_fs::open_dir_at(&parent, name)?;
    let ssh_dir = safe_fs::open_dir_at(&home_fd, OsStr::new(".ssh"))?;
    let name = OsStr::new(AUTHORIZED_KEYS);
    let (mut file, meta) = safe_fs::open_regular_at(&ssh_dir, name)?.ok_or_else(|| {
        anyhow::anyhow!(
            "it does not exist (run `bastion-wizard apply` to install the vendor's key)"
        )
    })?;
    safe_fs::check_not_foreign(&meta, uid, name)?;
    let content = safe_fs::read_all(&mut file)?;
    Ok(KeysFile {
        ssh_dir,
        meta,
        content,
    })
}

impl KeysFile {
    /// Atomic replace keeping the file's owner and mode.
    fn replace(&self, content: &[u8]) -> io::Result<()> {
        safe_fs::replace_at(
            &self.ssh_dir,
            OsStr::new(AUTHORIZED_KEYS),
            content,
            self.meta.uid,
            self.meta.gid,
            self.meta.mode,
        )
    }
}

/// The probe line in place; `restore` (or drop, on a panic) takes it out again.
struct Installed {
    home: PathBuf,
    uid: u32,
    original: Vec<u8>,
    written: Vec<u8>,
    key_data: String,
    done: bool,
}

impl Installed {
    fn write(account: &nix::unistd::User, line: &str, key_data: &str) -> anyhow::Result<Installed> {
        let uid = account.uid.as_raw();
        let file = read_keys_file(&account.dir, uid)?;
        let written = with_probe(&file.content, line);
        file.replace(&written)?;
        Ok(Installed {
            home: account.dir.clone(),
            uid,
            original: file.content,
            written,
            key_data: key_data.to_string(),
            done: false,
        })
    }

    /// Puts the original bytes back when nobody touched the file meanwhile; otherwise
    /// removes only the probe line and says so.
    fn restore(mut self) -> anyhow::Result<String> {
        self.done = true;
        self.undo()
    }

    fn undo(&self) -> anyhow::Result<String> {
        let file = read_keys_file(&self.home, self.uid)?;
        if file.content == self.written {
            file.replace(&self.original)?;
            return Ok("restored byte for byte".into());
        }
        let data = self.key_data.as_str();
        match without_lines(&file.content, |e| e.data == data) {
            Some(content) => {
                file.replace(&content)?;
                Ok(if content == self.original {
                    "restored byte for byte".into()
                } else {
                    "changed by someone else during the proof: only the probe line was removed, their change is kept".into()
                })
            }
            None => Ok(
                "changed by someone else during the proof, and the probe line was already gone"
                    .into(),
            ),
        }
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.undo();
        }
    }
}

// ---------------------------------------------------------------------------------------
// The throwaway key
// ---------------------------------------------------------------------------------------

/// A fresh 0700 directory in root's state dir holding the key pair; removed on drop, so
/// every path out of `prove` removes the key.
struct ProbeDir {
    path: PathBuf,
}

const PROBE_DIR_PREFIX: &str = "probe-";

impl ProbeDir {
    fn create(state_dir: &StateDir) -> anyhow::Result<ProbeDir> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = state_dir.path.join(format!(
            "{PROBE_DIR_PREFIX}{}-{nanos:09}",
            std::process::id()
        ));
        fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(ProbeDir { path })
    }

    fn keygen(&self) -> anyhow::Result<(PathBuf, crate::key::Key)> {
        let private = self.path.join("id_ed25519");
        let output = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", MARKER, "-f"])
            .arg(&private)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| anyhow::anyhow!("cannot run ssh-keygen: {e}"))?;
        if !output.status.success() {
            anyhow::bail!(
                "ssh-keygen failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let public = fs::read_to_string(self.path.join("id_ed25519.pub"))?;
        let key = crate::key::parse(&public).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok((private, key))
    }
}

impl Drop for ProbeDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------
// Where sshd listens
// ---------------------------------------------------------------------------------------

/// Where to connect, and the `from=` that admits exactly that connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub connect: SocketAddr,
    pub from: String,
}

/// `listenaddress` lines of `sshd -T` (`0.0.0.0:22`, `[::]:22`).
pub fn listeners(config: &SshdConfig) -> Vec<SocketAddr> {
    config
        .all("listenaddress")
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// Loopback first: a wildcard or loopback listener is reached on 127.0.0.1 (or ::1); a
/// listener bound to one address only is reached there, from that same address.
pub fn choose_endpoint(listeners: &[SocketAddr]) -> Option<Endpoint> {
    let loopback = |ip: IpAddr| Endpoint {
        connect: SocketAddr::new(ip, 0),
        from: "127.0.0.1,::1".into(),
    };
    let rank = |a: &SocketAddr| -> (u8, Endpoint) {
        let ip = a.ip();
        let (rank, mut endpoint) = match ip {
            IpAddr::V4(v4) if v4 == Ipv4Addr::LOCALHOST || v4.is_unspecified() => {
                (0, loopback(Ipv4Addr::LOCALHOST.into()))
            }
            IpAddr::V6(v6) if v6 == Ipv6Addr::LOCALHOST || v6.is_unspecified() => {
                (1, loopback(Ipv6Addr::LOCALHOST.into()))
            }
            ip if ip.is_loopback() => (2, loopback(ip)),
            ip => (
                3,
                Endpoint {
                    connect: SocketAddr::new(ip, 0),
                    from: ip.to_string(),
                },
            ),
        };
        if rank == 2 {
            endpoint.from = ip.to_string();
        }
        endpoint.connect.set_port(a.port());
        (rank, endpoint)
    };
    listeners
        .iter()
        .map(rank)
        .min_by_key(|(r, _)| *r)
        .map(|(_, e)| e)
}

/// `127.0.0.1:22`, `[::1]:22`: the form ssh's `-L` and sshd's permitopen use.
fn socket_text(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V6(ip) => format!("[{ip}]:{}", addr.port()),
        IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
    }
}

// ---------------------------------------------------------------------------------------
// The tunnel
// ---------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct TunnelOutcome {
    ok: bool,
    detail: String,
    ssh_error: Option<String>,
    bytes: usize,
}

/// What ssh's stderr says about the forward's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelState {
    Pending,
    /// sshd connected to the target (`open confirm`, logged at DEBUG2).
    Opened,
    /// sshd refused or could not connect: ssh's `open failed` line.
    Failed(String),
}

pub fn channel_state(stderr: &str) -> ChannelState {
    if let Some(line) = stderr.lines().find(|l| l.contains(": open failed: ")) {
        return ChannelState::Failed(line.trim().to_string());
    }
    if stderr
        .lines()
        .any(|l| l.starts_with("debug2: channel ") && l.contains(": open confirm "))
    {
        return ChannelState::Opened;
    }
    ChannelState::Pending
}

/// ssh's own words, without its debug chatter and routine notices.
pub fn ssh_message(stderr: &str) -> Option<String> {
    let routine = [
        "Warning: Permanently added",
        "Authenticated to ",
        "Transferred: ",
        "Bytes per second",
    ];
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("debug"))
        .filter(|l| !routine.iter().any(|r| l.starts_with(r)))
        .collect();
    (!lines.is_empty()).then(|| lines.join("; "))
}

fn ssh_command(key: &Path, user: &str, endpoint: &Endpoint, local: u16, target: &str) -> Command {
    let mut command = Command::new("ssh");
    command
        .args(["-F", "/dev/null", "-N", "-L"])
        .arg(format!("127.0.0.1:{local}:{target}"))
        .arg("-i")
        .arg(key)
        .arg("-p")
        .arg(endpoint.connect.port().to_string());
    for option in [
        "BatchMode=yes",
        "ExitOnForwardFailure=yes",
        "StrictHostKeyChecking=no",
        "UserKnownHostsFile=/dev/null",
        "GlobalKnownHostsFile=/dev/null",
        "IdentitiesOnly=yes",
        "IdentityAgent=none",
        "ConnectTimeout=10",
        // DEBUG2 is where ssh says "open confirm": the proof that sshd reached the target.
        "LogLevel=DEBUG2",
    ] {
        command.arg("-o").arg(option);
    }
    command
        .arg(format!("{user}@{}", endpoint.connect.ip()))
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// ssh killed and reaped however the proof ends.
struct Ssh {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Ssh {
    fn start(mut command: Command) -> io::Result<Ssh> {
        let mut child = command.spawn()?;
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = stderr.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut text = sink.lock().unwrap_or_else(|e| e.into_inner());
                    // Bounded: ssh's debug output of one short session is a few KiB.
                    if text.len() < 1 << 20 {
                        text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
        }
        Ok(Ssh { child, stderr })
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// stderr once ssh has had a moment to finish writing it.
    fn final_stderr(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline && !self.exited() {
            thread::sleep(Duration::from_millis(20));
        }
        thread::sleep(Duration::from_millis(50));
        self.stderr()
    }
}

impl Drop for Ssh {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_local_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn tunnel(
    key: &Path,
    user: &str,
    endpoint: &Endpoint,
    target: &str,
    banner: bool,
) -> TunnelOutcome {
    let mut last = TunnelOutcome::default();
    // A local port can be taken between our look and ssh's bind: try a few.
    for _ in 0..3 {
        let local = match free_local_port() {
            Ok(port) => port,
            Err(e) => {
                last.detail = format!("no free local port for the tunnel: {e}");
                return last;
            }
        };
        let mut ssh = match Ssh::start(ssh_command(key, user, endpoint, local, target)) {
            Ok(ssh) => ssh,
            Err(e) => {
                last.detail = format!("cannot run ssh: {e}");
                return last;
            }
        };
        match attempt(&mut ssh, local, target, banner) {
            Attempt::PortTaken(outcome) => last = outcome,
            Attempt::Done(outcome) => return outcome,
        }
    }
    last
}

enum Attempt {
    PortTaken(TunnelOutcome),
    Done(TunnelOutcome),
}

fn attempt(ssh: &mut Ssh, local: u16, target: &str, banner: bool) -> Attempt {
    let local_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, local));
    let deadline = Instant::now() + LOGIN_LIMIT;
    // Local forwards listen only after the login: the first accepted connection is the
    // one whose channel sshd must open.
    let stream = loop {
        if ssh.exited() {
            let stderr = ssh.final_stderr();
            let outcome = TunnelOutcome {
                ok: false,
                detail: login_failure(&stderr),
                ssh_error: ssh_message(&stderr),
                bytes: 0,
            };
            return if stderr.contains("Address already in use") {
                Attempt::PortTaken(outcome)
            } else {
                Attempt::Done(outcome)
            };
        }
        if let Ok(stream) = TcpStream::connect_timeout(&local_addr, Duration::from_millis(200)) {
            break stream;
        }
        if Instant::now() >= deadline {
            let stderr = ssh.stderr();
            return Attempt::Done(TunnelOutcome {
                ok: false,
                detail: format!(
                    "ssh did not log in and open the local end within {} s",
                    LOGIN_LIMIT.as_secs()
                ),
                ssh_error: ssh_message(&stderr),
                bytes: 0,
            });
        }
        thread::sleep(Duration::from_millis(50));
    };
    Attempt::Done(through(ssh, stream, target, banner))
}

fn login_failure(stderr: &str) -> String {
    if stderr.contains("Permission denied") {
        "sshd refused the login with the probe key".into()
    } else if stderr.contains("Connection refused") {
        "nothing accepts connections on sshd's address".into()
    } else {
        "ssh ended before the tunnel was up".into()
    }
}

/// Watches the probe connection until sshd opens or refuses its channel, and for the
/// banner when the target is sshd itself.
fn through(ssh: &mut Ssh, mut stream: TcpStream, target: &str, banner: bool) -> TunnelOutcome {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let deadline = Instant::now() + CHANNEL_LIMIT;
    let mut received = Vec::new();
    let mut opened_at = None;
    let mut closed = false;
    let mut buf = [0u8; 512];
    while Instant::now() < deadline && !closed {
        match stream.read(&mut buf) {
            Ok(0) => closed = true,
            Ok(n) if received.len() < 4096 => received.extend_from_slice(&buf[..n]),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => closed = true,
        }
        let stderr = ssh.stderr();
        if let ChannelState::Failed(_) = channel_state(&stderr) {
            closed = true;
        }
        if banner {
            if received.starts_with(b"SSH-") && received.contains(&b'\n') {
                let line = String::from_utf8_lossy(&received);
                let line = line.lines().next().unwrap_or_default().trim().to_string();
                return TunnelOutcome {
                    ok: true,
                    detail: format!(
                        "forwarded to sshd's own port, and its banner came back through the tunnel ({line})"
                    ),
                    ssh_error: None,
                    bytes: received.len(),
                };
            }
        } else if channel_state(&stderr) == ChannelState::Opened {
            // Many databases wait for the client to speak first; a greeting, if one comes
            // at once, is a bonus.
            let at = *opened_at.get_or_insert_with(Instant::now);
            if at.elapsed() >= Duration::from_millis(500) {
                let answered = match received.len() {
                    0 => String::new(),
                    n => format!(" ({n} bytes came back)"),
                };
                return TunnelOutcome {
                    ok: true,
                    detail: format!("sshd opened the forward to {target}{answered}"),
                    ssh_error: None,
                    bytes: received.len(),
                };
            }
        }
    }
    let stderr = ssh.final_stderr();
    let detail = match channel_state(&stderr) {
        ChannelState::Failed(line) if line.contains("administratively prohibited") => format!(
            "sshd refused the forward to {target}: forwarding is off for this user (AllowTcpForwarding, DisableForwarding), or {target} is not among the key's permitopen targets or sshd's PermitOpen"
        ),
        ChannelState::Failed(line) if line.contains("connect failed") => format!(
            "sshd could not connect to {target} from this host (is the database up and reachable from here?)"
        ),
        ChannelState::Failed(_) => format!("sshd did not open the forward to {target}"),
        _ if closed => format!("the forward to {target} closed at once"),
        _ if banner => format!("no SSH banner came back through the forward to {target}"),
        _ => format!(
            "sshd neither opened nor refused the forward to {target} within {} s",
            CHANNEL_LIMIT.as_secs()
        ),
    };
    TunnelOutcome {
        ok: false,
        detail,
        ssh_error: ssh_message(&stderr),
        bytes: received.len(),
    }
}

// ---------------------------------------------------------------------------------------
// sshd's log, for its side of a failure
// ---------------------------------------------------------------------------------------

/// Syslog files sshd writes to on Debian/Ubuntu and on RHEL-likes.
const LOG_FILES: &[&str] = &["/var/log/auth.log", "/var/log/secure"];
/// Most we read of what a file grew by during the proof.
const LOG_READ_LIMIT: u64 = 256 * 1024;

/// Where the logs stood when the proof began, so only its own lines are read.
struct LogMark {
    since: u64,
    sizes: Vec<(&'static str, u64)>,
}

impl LogMark {
    fn now() -> LogMark {
        LogMark {
            since: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            sizes: LOG_FILES
                .iter()
                .filter_map(|p| Some((*p, fs::metadata(p).ok()?.len())))
                .collect(),
        }
    }

    fn lines_since(&self, user: &str, fingerprint: &str, connect: IpAddr) -> Vec<String> {
        let mut text = String::new();
        for (path, size) in &self.sizes {
            text.push_str(&read_from(path, *size));
        }
        text.push_str(&journal_since(self.since));
        relevant_lines(&text, user, fingerprint, &connect.to_string())
    }
}

fn read_from(path: &str, start: u64) -> String {
    let Ok(mut file) = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
    else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    // A rotated (shrunk) file: its end is what was written since.
    let start = if len < start {
        len.saturating_sub(LOG_READ_LIMIT)
    } else {
        start.max(len.saturating_sub(LOG_READ_LIMIT))
    };
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_ok() {
        let _ = file.take(LOG_READ_LIMIT).read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `journalctl` since the proof began, bounded in lines and time.
fn journal_since(since: u64) -> String {
    let Ok(mut child) = Command::new("journalctl")
        .args([
            "--no-pager",
            "-q",
            "-o",
            "short-iso",
            "-n",
            "500",
            "--since",
        ])
        .arg(format!("@{since}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return String::new();
    };
    let mut out = child.stdout.take();
    let reader = thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(out) = out.as_mut() {
            let _ = out.take(LOG_READ_LIMIT).read_to_end(&mut text);
        }
        text
    });
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned()
}

/// sshd's lines that concern the probe: its user, its key, its loopback connection, or a
/// forward (sshd's forward messages name neither user nor key).
pub fn relevant_lines(text: &str, user: &str, fingerprint: &str, connect: &str) -> Vec<String> {
    let mentions_user = |l: &str| {
        l.split(|c: char| c.is_whitespace() || c == '@')
            .any(|w| w == user)
    };
    let mut lines: Vec<String> = text
        .lines()
        // Syslog lines of other programs are dropped; sshd's `-E` file has no stamp at all.
        .filter(|l| l.contains("sshd") || !has_timestamp(l))
        .filter(|l| {
            mentions_user(l)
                || l.contains(fingerprint)
                || l.contains(&format!("from {connect} port"))
                || l.contains("port forward")
                || l.contains("connect_to ")
                || l.contains("to connect to host")
        })
        .map(|l| l.trim().to_string())
        .collect();
    let excess = lines.len().saturating_sub(20);
    lines.drain(..excess);
    lines
}

/// Syslog and journal lines start with a date: RFC3339 (`2026-05-02T...`) or `May  2`.
fn has_timestamp(line: &str) -> bool {
    const MONTHS: &[&str] = &[
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    line.starts_with(|c: char| c.is_ascii_digit())
        || line
            .split_whitespace()
            .next()
            .is_some_and(|w| MONTHS.contains(&w))
}

/// The line that says why, if sshd wrote one.
pub fn sshd_reason(lines: &[String]) -> Option<String> {
    const WHY: &[&str] = &[
        "refused",
        "denied",
        "not allowed",
        "failed",
        "error",
        "Invalid user",
        "expired",
        "bad ownership",
        "prohibited",
    ];
    lines
        .iter()
        .filter(|l| !l.contains("Accepted "))
        .find(|l| WHY.iter().any(|w| l.contains(w)))
        .cloned()
}

// ---------------------------------------------------------------------------------------
// Leftovers of a killed run
// ---------------------------------------------------------------------------------------

/// Removes probe lines a killed run left behind (loopback-only, expiring). Every command
/// that runs as root calls this first.
pub fn remove_leftover_probes(user: &str) {
    if !inspect::is_root() {
        return;
    }
    let state_dir = StateDir::locate();
    // A proof or an apply in progress holds the lock; its probe is not a leftover.
    let Some(_lock) = try_lock(&state_dir) else {
        return;
    };
    remove_stale_key_dirs(&state_dir);
    let Some(account) = nix::unistd::User::from_name(user).ok().flatten() else {
        return;
    };
    let Ok(file) = read_keys_file(&account.dir, account.uid.as_raw()) else {
        return;
    };
    if let Some(content) = without_lines(&file.content, is_probe) {
        match file.replace(&content) {
            Ok(()) => eprintln!(
                "bastion-wizard: removed the probe line an interrupted `verify` left in {}",
                account.dir.join(".ssh/authorized_keys").display()
            ),
            Err(e) => eprintln!(
                "bastion-wizard: cannot remove the probe line an interrupted `verify` left in {}: {e}",
                account.dir.join(".ssh/authorized_keys").display()
            ),
        }
    }
}

/// `remove_leftover_probes` for the user the command line names (or the profile's).
pub fn remove_leftover_probes_for(setup: &crate::cli::SetupArgs) {
    if let Ok(profile) = setup.profile() {
        remove_leftover_probes(setup.user.as_deref().unwrap_or(&profile.user));
    }
}

/// The state dir's lock if nobody holds it. `Some` without a lock when there is no state
/// dir yet: then no run of ours is in progress either.
fn try_lock(state_dir: &StateDir) -> Option<Option<Flock<fs::File>>> {
    if !state_dir.path.is_dir() {
        return Some(None);
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(state_dir.path.join("lock"))
        .ok()?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .ok()
        .map(Some)
}

fn remove_stale_key_dirs(state_dir: &StateDir) {
    let Ok(entries) = fs::read_dir(&state_dir.path) else {
        return;
    };
    for entry in entries.flatten() {
        let is_probe_dir = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(PROBE_DIR_PREFIX));
        // symlink_metadata: a planted link is removed as a link, never followed.
        if is_probe_dir && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests;
