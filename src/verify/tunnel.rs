//! The tunnel as the vendor opens it: the system's `ssh -N -L` with the throwaway key, and
//! what its stderr says about the login and the forward's channel.

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::endpoint::Endpoint;

/// Login and forward setup (ssh's own ConnectTimeout is inside this).
const LOGIN_LIMIT: Duration = Duration::from_secs(20);
/// Waiting for sshd to open or refuse the forward once the local end accepted.
const CHANNEL_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub(super) struct TunnelOutcome {
    pub(super) ok: bool,
    pub(super) detail: String,
    pub(super) ssh_error: Option<String>,
    pub(super) bytes: usize,
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

pub(super) fn tunnel(
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
