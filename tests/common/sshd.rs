//! The sandbox's sshd: its host keys, its sshd_config, starting it, and the [`Sshd`] handle
//! with its log.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use super::process::{shell_quote, ChildGuard};
use super::sandbox::{Sandbox, BASTION_ADDR};
use super::tunnel::{contains, try_tunnel, try_tunnel_from, EchoServer, TunnelResult};

pub(super) const SSHD: &str = "/usr/sbin/sshd";

/// The settings every sandbox sshd_config carries after the test's own lines (sshd keeps
/// a keyword's first value, so the test's line wins): keys as the only way in, and a log
/// verbose enough to name each key.
pub const SSHD_DEFAULTS: &str = "UsePAM yes\n\
     StrictModes yes\n\
     LogLevel VERBOSE\n\
     PubkeyAuthentication yes\n\
     PasswordAuthentication no\n\
     KbdInteractiveAuthentication no\n\
     PermitRootLogin no\n\
     PrintMotd no\n";

impl Sandbox {
    /// The sandbox's own host keys, inside the overlaid /etc/ssh: the host's keys are never
    /// used, and `connection.host_keys` reports the sandbox's. `ssh-keygen -A` runs once per
    /// test process; later sandboxes get copies of those keys (an RSA key costs about a
    /// second of CPU, which dozens of parallel sandboxes cannot afford).
    pub fn make_host_keys(&self) {
        if self.host_keys_made.swap(true, Ordering::SeqCst) {
            return;
        }
        static MADE: Mutex<Vec<(String, Vec<u8>)>> = Mutex::new(Vec::new());
        let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
        self.sh("rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub");
        if made.is_empty() {
            self.sh("ssh-keygen -q -A");
            let out = self.sh("ls /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub");
            *made = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|path| {
                    let bytes = self.read(path).unwrap_or_else(|| panic!("read {path}"));
                    (path.to_string(), bytes)
                })
                .collect();
            return;
        }
        for (path, bytes) in made.iter() {
            self.write_file(path, bytes);
        }
        self.sh("chmod 0600 /etc/ssh/ssh_host_*_key && chmod 0644 /etc/ssh/ssh_host_*_key.pub");
    }

    /// Installs host keys made once elsewhere (`ssh_host_*_key` and `.pub` in `dir`, a path
    /// the namespace sees) instead of making new ones: saves the key generation where a test
    /// makes many sandboxes. Still never the host's own keys.
    pub fn install_host_keys(&self, dir: &Path) {
        if !self.host_keys_made.swap(true, Ordering::SeqCst) {
            self.sh(&format!(
                "rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub && cp -p {}/ssh_host_* /etc/ssh/",
                shell_quote(&dir.to_string_lossy())
            ));
        }
    }

    /// Writes the sandbox's /etc/ssh/sshd_config in Debian's layout (the drop-in Include at
    /// the top), with `extra_config` lines before the defaults (sshd keeps the first value
    /// of a keyword) except a trailing part from a `Match` line on, which goes last; then
    /// starts the sandbox's sshd from it. See [`Sandbox::start_sshd_as_configured`].
    pub fn start_sshd(&self, extra_config: &str) -> Sshd {
        let config = self.write_sshd_config(extra_config);
        let mut sshd = self.start_sshd_as_configured();
        sshd.config = config;
        sshd
    }

    /// Writes the sandbox's /etc/ssh/sshd_config as [`Sandbox::start_sshd`] does, without
    /// starting sshd; returns the text written.
    pub fn write_sshd_config(&self, extra_config: &str) -> String {
        let (pre, matches) = split_at_match(extra_config);
        let config = format!(
            "Include /etc/ssh/sshd_config.d/*.conf\n\
             {pre}\n\
             {SSHD_DEFAULTS}\
             {matches}"
        );
        self.write_file("/etc/ssh/sshd_config", config.as_bytes());
        config
    }

    /// Starts `sshd -D -e` inside the sandbox from its /etc/ssh/sshd_config as it stands
    /// (port 22 of the sandbox's network, PidFile /run/sshd.pid in the private /run) and
    /// waits until it listens. Its messages go to `/var/log/auth.log` inside the sandbox in
    /// syslog's form (`Nov 27 09:51:01 sandbox sshd[PID]: ...`), and raw to [`Sshd::log`].
    pub fn start_sshd_as_configured(&self) -> Sshd {
        self.make_host_keys();
        self.sh("mkdir -p /run/sshd && chmod 0755 /run/sshd");
        let log_path = self.root().join("sshd.log");
        // sshd logs through syslog (the sandbox's /dev/log); what it says before it can
        // (a configuration it rejects) goes to stderr, into the same raw log.
        let early = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let child = self
            .command(SSHD)
            .arg("-D")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(early))
            .spawn()
            .expect("start sshd");
        let mut guard = ChildGuard(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            // Both: sshd says it listens (so the port is not someone else's) and it accepts
            // there (a configured ListenAddress may be loopback only, or carry its own port).
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            let accepting = listening_on(&log)
                .into_iter()
                .find(|addr| TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok());
            if let Some(addr) = accepting {
                return Sshd {
                    port: addr.port(),
                    log_path,
                    config: String::new(),
                    child: guard,
                };
            }
            if let Ok(Some(_)) = guard.0.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "sshd did not start listening within 10 s; its log:\n{}",
            fs::read_to_string(&log_path).unwrap_or_default()
        );
    }
}

/// The addresses sshd's log says it listens on (`Server listening on A port P.`), with the
/// wildcards as [`BASTION_ADDR`] and `::1`.
fn listening_on(log: &str) -> Vec<std::net::SocketAddr> {
    log.lines()
        .filter_map(|l| {
            let rest = l.split("Server listening on ").nth(1)?;
            let (addr, port) = rest.trim_end().trim_end_matches('.').split_once(" port ")?;
            let addr: std::net::IpAddr = match addr {
                "0.0.0.0" => BASTION_ADDR.parse().ok()?,
                "::" => std::net::Ipv6Addr::LOCALHOST.into(),
                a => a.parse().ok()?,
            };
            Some((addr, port.parse().ok()?).into())
        })
        .collect()
}

/// Splits sshd config text into (lines before the first `Match`, the `Match` part).
fn split_at_match(config: &str) -> (String, String) {
    let mut pre = String::new();
    let mut post = String::new();
    let mut in_match = false;
    for line in config.lines() {
        if !in_match
            && line
                .split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case("match"))
        {
            in_match = true;
        }
        let target = if in_match { &mut post } else { &mut pre };
        target.push_str(line);
        target.push('\n');
    }
    (pre, post)
}

/// A running sshd in a sandbox; killed on drop.
pub struct Sshd {
    pub port: u16,
    pub log_path: PathBuf,
    pub config: String,
    child: ChildGuard,
}

impl Sshd {
    /// What sshd logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits (bounded) until the log contains `needle`; returns whether it did.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Tries a tunnel `-L local:127.0.0.1:target_port` as `user` with `key` from the
    /// vendor's first address; see [`try_tunnel`].
    pub fn tunnel(&self, key: &Path, user: &str, target_port: u16) -> TunnelResult {
        try_tunnel(key, user, self.port, target_port, &[])
    }

    /// [`Sshd::tunnel`] from the source address `from`.
    pub fn tunnel_from(
        &self,
        from: &str,
        key: &Path,
        user: &str,
        target_port: u16,
    ) -> TunnelResult {
        try_tunnel_from(from, key, user, self.port, target_port, &[])
    }

    /// The sshd's process id (it keeps it across a SIGHUP reload).
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Asserts that `user` with `key` can carry bytes through a tunnel to a fresh local
    /// echo server (which must receive them and echo them back).
    pub fn assert_tunnel_works(&self, key: &Path, user: &str) {
        let server = EchoServer::start();
        let r = self.tunnel(key, user, server.port());
        assert!(
            r.ok,
            "tunnel as {user} with {} did not carry bytes: {}\n--- ssh stderr ---\n{}\n--- sshd log ---\n{}",
            key.display(),
            r.detail,
            r.ssh_stderr,
            self.log()
        );
        assert!(
            contains(&server.received(), r.marker.as_bytes()),
            "the echo server did not receive the marker {:?}; got {:?}",
            r.marker,
            String::from_utf8_lossy(&server.received())
        );
    }
}
