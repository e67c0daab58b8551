//! The vendor's side: the ssh client, tunnels tried through the sandbox's sshd, the echo
//! servers they reach, and local ports for them.

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::process::{unique, ChildGuard};
use super::sandbox::{vendor_ips, Sandbox, BASTION_ADDR};

/// A 127.0.0.1 port that was free a moment ago. Ports come from one counter, below the
/// kernel's ephemeral range, so two callers never get the same one: asking the kernel for
/// port 0 and letting go could give two tunnels started at once the same port, and one
/// would then test the other's forward.
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    for _ in 0..1000 {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = 10_000 + (n % 22_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free 127.0.0.1 port in 10000..32000");
}

impl Sandbox {
    /// An ssh client command from the vendor's first address to `user@BASTION_ADDR:port`
    /// with `private_key`. `extra` goes after the destination (e.g. a remote command) — put
    /// options such as `-N -L ...` there too; ssh accepts them before the command.
    pub fn ssh(&self, private_key: &Path, user: &str, port: u16, extra: &[&str]) -> Command {
        ssh(private_key, user, port, extra)
    }
}

pub(super) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// `ssh -b VENDOR_IP -F /dev/null -i KEY -p PORT ... USER@BASTION_ADDR EXTRA...`.
pub fn ssh(private_key: &Path, user: &str, port: u16, extra: &[&str]) -> Command {
    ssh_from(&vendor_ips()[0], private_key, user, port, extra)
}

/// [`ssh`] from the source address `from` (one of the addresses on the sandbox's `lo`).
pub fn ssh_from(from: &str, private_key: &Path, user: &str, port: u16, extra: &[&str]) -> Command {
    let mut c = Command::new("ssh");
    c.arg("-b")
        .arg(from)
        .arg("-F")
        .arg("/dev/null")
        .arg("-i")
        .arg(private_key)
        .arg("-p")
        .arg(port.to_string())
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
        ])
        .arg(format!("{user}@{BASTION_ADDR}"))
        .args(extra)
        .env_remove("SSH_AUTH_SOCK");
    c
}

/// A local TCP server (in a thread of the test process) that records everything it
/// receives and echoes it back. Stopped on drop.
pub struct EchoServer {
    port: u16,
    received: Arc<Mutex<Vec<u8>>>,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl EchoServer {
    pub fn start() -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind echo server");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, c, s) = (received.clone(), connections.clone(), stop.clone());
        thread::spawn(move || {
            // Bounded: stops on drop of the EchoServer, or after 5 minutes at most.
            let deadline = Instant::now() + Duration::from_secs(300);
            while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        c.fetch_add(1, Ordering::SeqCst);
                        let r = r.clone();
                        thread::spawn(move || {
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                            let mut buf = [0u8; 4096];
                            while let Ok(n) = stream.read(&mut buf) {
                                if n == 0 {
                                    break;
                                }
                                r.lock().unwrap().extend_from_slice(&buf[..n]);
                                if stream.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        EchoServer {
            port,
            received,
            connections,
            stop,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Everything received so far (all connections).
    pub fn received(&self) -> Vec<u8> {
        self.received.lock().unwrap().clone()
    }

    /// Number of connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What happened when a tunnel was tried.
#[derive(Debug)]
pub struct TunnelResult {
    /// The marker came back through the tunnel.
    pub ok: bool,
    /// The marker that was sent.
    pub marker: String,
    /// What came back.
    pub echoed: Vec<u8>,
    /// ssh's stderr.
    pub ssh_stderr: String,
    /// Human-readable account of what happened.
    pub detail: String,
}

/// Runs `ssh -N -L LOCAL:127.0.0.1:TARGET` (plus `extra` options) against the sshd on
/// `sshd_port`, waits (≤ 10 s) until the local end accepts, sends a unique marker line and
/// reads it back (≤ 3 s per attempt, 2 attempts). The ssh child is killed afterwards.
pub fn try_tunnel(
    key: &Path,
    user: &str,
    sshd_port: u16,
    target_port: u16,
    extra: &[&str],
) -> TunnelResult {
    try_tunnel_from(&vendor_ips()[0], key, user, sshd_port, target_port, extra)
}

/// [`try_tunnel`] with the client bound to the source address `from`.
pub fn try_tunnel_from(
    from: &str,
    key: &Path,
    user: &str,
    sshd_port: u16,
    target_port: u16,
    extra: &[&str],
) -> TunnelResult {
    let marker = unique("bastion-wizard-e2e-marker");
    let line = format!("{marker}\n");
    let mut detail = String::new();
    for _bind_attempt in 0..3 {
        let local = free_port();
        let err_path = std::env::temp_dir().join(unique("bwz-ssh-stderr"));
        let err_file = fs::File::create(&err_path).unwrap();
        let forward = format!("{local}:127.0.0.1:{target_port}");
        let mut args: Vec<&str> = vec!["-N", "-o", "ExitOnForwardFailure=yes", "-L", &forward];
        args.extend_from_slice(extra);
        let child = ssh_from(from, key, user, sshd_port, &args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(err_file))
            .spawn()
            .expect("start ssh");
        let mut guard = ChildGuard(child);
        let read_err = |p: &Path| {
            let s = fs::read_to_string(p).unwrap_or_default();
            let _ = fs::remove_file(p);
            s
        };
        // Local forwards are set up only after authentication: once the local port
        // accepts, the login has succeeded.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut exited = None;
        let mut listening = false;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = guard.0.try_wait() {
                exited = Some(st);
                break;
            }
            if let Ok(s) = TcpStream::connect_timeout(
                &([127, 0, 0, 1], local).into(),
                Duration::from_millis(200),
            ) {
                // A connect to a free port can land on itself (TCP simultaneous open when
                // the kernel picks that very port as the source): that is not ssh listening.
                if !self_connected(&s) {
                    listening = true;
                    break;
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
        if let Some(st) = exited {
            let stderr = read_err(&err_path);
            if stderr.contains("Address already in use") || stderr.contains("cannot listen") {
                detail = format!("local port {local} was taken; retrying");
                continue;
            }
            return TunnelResult {
                ok: false,
                marker,
                echoed: Vec::new(),
                ssh_stderr: stderr,
                detail: format!("ssh exited ({st}) before the local forward came up"),
            };
        }
        if !listening {
            drop(guard);
            return TunnelResult {
                ok: false,
                marker,
                echoed: Vec::new(),
                ssh_stderr: read_err(&err_path),
                detail: "the local forward did not come up within 10 s".into(),
            };
        }
        let mut echoed = Vec::new();
        for attempt in 0..2 {
            echoed = send_and_read(local, line.as_bytes(), Duration::from_secs(3));
            if contains(&echoed, marker.as_bytes()) {
                drop(guard);
                return TunnelResult {
                    ok: true,
                    marker,
                    echoed,
                    ssh_stderr: read_err(&err_path),
                    detail: "marker echoed through the tunnel".into(),
                };
            }
            detail = format!(
                "attempt {attempt}: sent the marker, got back {:?}",
                String::from_utf8_lossy(&echoed)
            );
            thread::sleep(Duration::from_millis(200));
        }
        drop(guard);
        return TunnelResult {
            ok: false,
            marker,
            echoed,
            ssh_stderr: read_err(&err_path),
            detail,
        };
    }
    TunnelResult {
        ok: false,
        marker,
        echoed: Vec::new(),
        ssh_stderr: String::new(),
        detail,
    }
}

/// A TCP connection whose two ends are the same address and port.
fn self_connected(s: &TcpStream) -> bool {
    matches!((s.local_addr(), s.peer_addr()), (Ok(a), Ok(b)) if a == b)
}

/// Connects to 127.0.0.1:port, sends `data`, reads until `data.len()` bytes, EOF or timeout.
fn send_and_read(port: u16, data: &[u8], timeout: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2))
    else {
        return got;
    };
    if self_connected(&s) {
        // Talking to itself, it would "echo" the marker with no tunnel at all.
        return got;
    }
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    if s.write_all(data).is_err() {
        return got;
    }
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    while got.len() < data.len() && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    got
}
