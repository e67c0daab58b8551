//! A disposable sandbox for end-to-end tests that create real users and run a real sshd.
//!
//! How it works (see docs/field-notes.md, "A sandbox in which real user creation and a real
//! sshd can be tested"): a long-lived holder process is started in a private mount and network
//! namespace (`unshare -m -n --propagation private`). There an overlay is mounted on `/etc`
//! (upper and work dirs in a temp dir), and temp dirs are bound on `/home`, `/run` and
//! `/var/log`; the loopback interface carries the vendor's addresses and the bastion's own
//! ([`BASTION_ADDR`]). Every command runs inside through `nsenter -t <holder> -m -n`, so
//! `groupadd`/`useradd`, the program under test and the sandbox's sshd (started from the
//! overlaid `/etc/ssh/sshd_config`, with its own host keys and its PidFile in the private
//! `/run`) only ever touch the sandbox: a reload or a port can never reach the host's own sshd.
//! The test's thread joins the network namespace too, so its echo servers and its ssh clients
//! (`ssh -b VENDOR_IP`) talk to the sandbox's sshd as the vendor would.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use super::process::{describe, euid, output_timeout, shell_quote, wait_timeout, which};
use super::skip;
use super::sshd::SSHD;

/// Path of the program under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_bastion-wizard");

/// The bastion's address inside the sandbox's network namespace (a documentation range,
/// on `lo` there only).
pub const BASTION_ADDR: &str = "198.51.100.7";

/// An address the vendor does not use, for "from elsewhere" cases.
pub const STRANGER_ADDR: &str = "203.0.113.9";

/// The vendor's addresses (the built-in profile's), on `lo` inside the sandbox.
pub fn vendor_ips() -> Vec<String> {
    bastion_wizard::profile::Profile::built_in()
        .ips
        .iter()
        .map(|ip| ip.to_string())
        .collect()
}

/// Default time limit for a command run through the sandbox.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(60);

/// The sandbox: private mount namespace with overlay /etc and temp /home.
pub struct Sandbox {
    dir: tempfile::TempDir,
    holder: Option<Child>,
    holder_pid: u32,
    mnt_ns: String,
    /// The test thread's own network namespace, restored on drop.
    own_net: Option<fs::File>,
    pub(super) host_keys_made: AtomicBool,
    /// Stops the syslog receiver.
    syslog_stop: Arc<AtomicBool>,
}

impl Sandbox {
    /// A fresh sandbox, or `None` (after printing "skipped: <why>") when this host can't
    /// provide one. Panics instead of skipping under `BASTION_WIZARD_E2E=1`.
    pub fn new() -> Option<Sandbox> {
        match euid() {
            Some(0) => {}
            Some(uid) => return skip(&format!("not running as root (euid {uid})")),
            None => return skip("cannot read the effective uid from /proc/self/status"),
        }
        for tool in [
            "unshare",
            "nsenter",
            "mount",
            "ip",
            SSHD,
            "ssh",
            "ssh-keygen",
            "useradd",
        ] {
            if which(tool).is_none() {
                return skip(&format!("`{tool}` not found (openssh-server / util-linux)"));
            }
        }
        let dir = match tempfile::Builder::new().prefix("bwz-e2e").tempdir() {
            Ok(d) => d,
            Err(e) => return skip(&format!("cannot create a temp dir: {e}")),
        };
        let t = dir.path().to_path_buf();
        for sub in [
            "upper", "work", "home", "state", "keys", "run/sshd", "log", "olddev",
        ] {
            fs::create_dir_all(t.join(sub)).unwrap();
        }
        for sub in ["", "home", "keys", "run", "run/sshd", "log"] {
            fs::set_permissions(t.join(sub), fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::set_permissions(t.join("state"), fs::Permissions::from_mode(0o700)).unwrap();
        let err_path = t.join("holder.err");
        let err_file = fs::File::create(&err_path).unwrap();
        let script = r#"set -e
            ip link set lo up
            for addr in $6; do ip addr add "$addr/32" dev lo; done
            mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc
            mount --bind "$3" /home
            mount --bind "$4" /run
            mount --bind "$5" /var/log
            # A /dev of the sandbox's own, so that /dev/log can lead to the sandbox's
            # syslog socket in its private /run; the devices are the host's.
            mount --rbind /dev "$7"
            mount -t tmpfs -o mode=0755 sandbox-dev /dev
            for node in null zero full random urandom tty; do
                touch "/dev/$node" && mount --bind "$7/$node" "/dev/$node"
            done
            mkdir /dev/pts /dev/shm
            mount --bind "$7/pts" /dev/pts
            # New terminals come from the host's pts instance, where tmux's ones live.
            ln -s pts/ptmx /dev/ptmx
            mount -t tmpfs -o mode=1777 sandbox-shm /dev/shm
            ln -s /proc/self/fd /dev/fd
            ln -s /proc/self/fd/0 /dev/stdin
            ln -s /proc/self/fd/1 /dev/stdout
            ln -s /proc/self/fd/2 /dev/stderr
            ln -s /run/sandbox-syslog.sock /dev/log
            echo ready
            exec sleep 100000"#;
        let mut addrs = vendor_ips();
        addrs.extend([BASTION_ADDR.to_string(), STRANGER_ADDR.to_string()]);
        let spawned = Command::new("unshare")
            .args([
                "-m",
                "-n",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .arg(t.join("upper"))
            .arg(t.join("work"))
            .arg(t.join("home"))
            .arg(t.join("run"))
            .arg(t.join("log"))
            .arg(addrs.join(" "))
            .arg(t.join("olddev"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err_file))
            .spawn();
        let mut holder = match spawned {
            Ok(c) => c,
            Err(e) => return skip(&format!("cannot start unshare: {e}")),
        };
        let stdout = holder.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(10))
            .map(|l| l.trim() == "ready")
            .unwrap_or(false);
        if !ready {
            let _ = holder.kill();
            let _ = wait_timeout(&mut holder, Duration::from_secs(5));
            let err = fs::read_to_string(&err_path).unwrap_or_default();
            return skip(&format!(
                "cannot set up the namespaces (loopback addresses, overlay on /etc, binds on /home, /run, /var/log): {}",
                err.trim()
            ));
        }
        let holder_pid = holder.id();
        let mnt_ns = fs::read_link(format!("/proc/{holder_pid}/ns/mnt"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let own_ns = fs::read_link("/proc/self/ns/mnt")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut sb = Sandbox {
            dir,
            holder: Some(holder),
            holder_pid,
            mnt_ns: mnt_ns.clone(),
            own_net: None,
            host_keys_made: AtomicBool::new(false),
            syslog_stop: Arc::new(AtomicBool::new(false)),
        };
        if mnt_ns.is_empty() || mnt_ns == own_ns {
            drop(sb);
            return skip("the holder process is not in a separate mount namespace");
        }
        // This thread (and the threads and processes it starts) now lives in the sandbox's
        // network: echo servers, tunnels and `ssh -b VENDOR_IP` all happen there.
        let own = fs::File::open("/proc/thread-self/ns/net").ok();
        let joined = fs::File::open(format!("/proc/{holder_pid}/ns/net"))
            .map_err(|e| e.to_string())
            .and_then(|ns| {
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = joined {
            drop(sb);
            return skip(&format!("cannot join the sandbox's network namespace: {e}"));
        }
        sb.own_net = own;
        if let Err(e) = sb.start_syslog() {
            drop(sb);
            return skip(&format!("cannot start the sandbox's syslog receiver: {e}"));
        }
        Some(sb)
    }

    /// The sandbox's syslog: a datagram socket at its /run/sandbox-syslog.sock (where its
    /// /dev/log leads), whose messages are written to its /var/log/auth.log as rsyslog
    /// writes them (`Nov 27 09:51:01 sandbox sshd[PID]: ...`), with each process's own
    /// pid, and, message only, to the raw log [`Sshd::log`] reads.
    fn start_syslog(&self) -> std::io::Result<()> {
        let socket =
            std::os::unix::net::UnixDatagram::bind(self.root().join("run/sandbox-syslog.sock"))?;
        fs::set_permissions(
            self.root().join("run/sandbox-syslog.sock"),
            fs::Permissions::from_mode(0o666),
        )?;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        let open = |p: PathBuf| fs::OpenOptions::new().create(true).append(true).open(p);
        let mut auth_log = open(self.root().join("log/auth.log"))?;
        let mut raw = open(self.root().join("sshd.log"))?;
        let stop = self.syslog_stop.clone();
        thread::spawn(move || {
            // Bounded: stops with the sandbox, or after 20 minutes at most.
            let deadline = Instant::now() + Duration::from_secs(1200);
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                let Ok(n) = socket.recv(&mut buf) else {
                    continue;
                };
                let datagram = String::from_utf8_lossy(&buf[..n]);
                if let Some((stamped, message)) = syslog_line(&datagram) {
                    let _ = writeln!(auth_log, "{stamped}");
                    let _ = writeln!(raw, "{message}");
                }
            }
        });
        Ok(())
    }

    /// The sandbox's temp dir T (host view).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Host-side path of the sandbox's `/home` (bound there inside the namespace).
    pub fn home_path(&self) -> PathBuf {
        self.root().join("home")
    }

    /// Host-side path of a file inside the sandbox's `/home`, e.g.
    /// `sb.host_path("/home/whaly/.ssh/authorized_keys")`. Panics for paths outside /home.
    pub fn host_path(&self, inside: &str) -> PathBuf {
        let rest = inside
            .strip_prefix("/home")
            .unwrap_or_else(|| panic!("host_path only maps /home/..., not {inside}"));
        let mut p = self.home_path().into_os_string();
        p.push(rest);
        PathBuf::from(p)
    }

    /// `BASTION_WIZARD_STATE_DIR` given to every command.
    pub fn state_dir(&self) -> PathBuf {
        self.root().join("state")
    }

    /// A directory for key pairs (outside /home and /etc, readable in and out of the namespace).
    pub fn keys_dir(&self) -> PathBuf {
        self.root().join("keys")
    }

    /// Pid of the namespace holder.
    pub fn holder_pid(&self) -> u32 {
        self.holder_pid
    }

    /// A command that runs `program` inside the namespaces (`nsenter -t PID -m -n -- program`),
    /// with `BASTION_WIZARD_STATE_DIR` set and cwd `/`. Add args, stdin etc. as usual.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.holder_pid.to_string())
            .args(["-m", "-n", "--"])
            .arg(program)
            .current_dir("/")
            .env("BASTION_WIZARD_STATE_DIR", self.state_dir())
            .env("NO_COLOR", "1");
        c
    }

    /// `bastion-wizard` inside the namespace.
    pub fn bin(&self) -> Command {
        self.command(BIN)
    }

    /// Runs `args[0]` with `args[1..]` inside the namespace (time limit [`CMD_TIMEOUT`]).
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None)
    }

    /// Like [`Sandbox::run`], with standard input.
    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let (program, rest) = args.split_first().expect("run: empty args");
        output_timeout(self.command(program).args(rest), stdin, CMD_TIMEOUT)
    }

    /// `sh -c script` inside the namespace; panics unless it exits 0.
    pub fn sh(&self, script: &str) -> Output {
        let out = self.run(&["sh", "-c", script]);
        assert!(
            out.status.success(),
            "sandbox sh failed: {script}\n{}",
            describe(&out)
        );
        out
    }

    /// Runs `bastion-wizard ARGS` inside the namespace.
    pub fn wizard(&self, args: &[&str]) -> Output {
        output_timeout(self.bin().args(args), None, CMD_TIMEOUT)
    }

    /// Runs `bastion-wizard ARGS` inside the namespace with `stdin`.
    pub fn wizard_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        output_timeout(self.bin().args(args), Some(stdin), CMD_TIMEOUT)
    }

    /// Contents of a file as seen inside the namespace (`cat` there); `None` if unreadable.
    pub fn read(&self, inside: &str) -> Option<Vec<u8>> {
        let out = self.run(&["cat", "--", inside]);
        out.status.success().then_some(out.stdout)
    }

    /// Like [`Sandbox::read`], as a (lossy) string.
    pub fn read_string(&self, inside: &str) -> Option<String> {
        self.read(inside)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// The sandbox's /etc/passwd.
    pub fn passwd(&self) -> String {
        self.read_string("/etc/passwd").expect("read /etc/passwd")
    }

    /// Fields of `user`'s line in the sandbox's /etc/passwd.
    pub fn passwd_entry(&self, user: &str) -> Option<Vec<String>> {
        entry(&self.passwd(), user)
    }

    /// Fields of `user`'s line in the sandbox's /etc/shadow.
    pub fn shadow_entry(&self, user: &str) -> Option<Vec<String>> {
        entry(
            &self.read_string("/etc/shadow").expect("read /etc/shadow"),
            user,
        )
    }

    /// Fields of `group`'s line in the sandbox's /etc/group.
    pub fn group_entry(&self, group: &str) -> Option<Vec<String>> {
        entry(
            &self.read_string("/etc/group").expect("read /etc/group"),
            group,
        )
    }

    /// Writes `content` to a file inside the sandbox (through the namespace, so the overlay
    /// sees a normal write).
    pub fn write_file(&self, inside: &str, content: &[u8]) {
        let out = self.run_with_stdin(&["sh", "-c", "cat > \"$1\"", "sh", inside], Some(content));
        assert!(out.status.success(), "write {inside}: {}", describe(&out));
    }

    /// The prefix that runs a program inside the namespace, as argv:
    /// `env BASTION_WIZARD_STATE_DIR=T/state NO_COLOR=1 nsenter -t PID -m -n --`.
    pub fn nsenter_argv(&self) -> Vec<String> {
        vec![
            "env".into(),
            format!("BASTION_WIZARD_STATE_DIR={}", self.state_dir().display()),
            "NO_COLOR=1".into(),
            "nsenter".into(),
            "-t".into(),
            self.holder_pid.to_string(),
            "-m".into(),
            "-n".into(),
            "--".into(),
        ]
    }

    /// A shell command line (single-quoted words) that runs `args` inside the namespace,
    /// e.g. for `tmux new-session -d -x 100 -y 30 "<this>"`. Pass [`BIN`] as `args[0]`
    /// for the program under test. cwd is whatever the shell has.
    pub fn shell_command(&self, args: &[&str]) -> String {
        self.nsenter_argv()
            .iter()
            .map(String::as_str)
            .chain(args.iter().copied())
            .map(shell_quote)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// All processes (pids) in the sandbox's mount namespace.
    fn namespace_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        if self.mnt_ns.is_empty() {
            return pids;
        }
        if let Ok(rd) = fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                if let Ok(ns) = fs::read_link(e.path().join("ns/mnt")) {
                    if ns.to_string_lossy() == self.mnt_ns {
                        pids.push(pid);
                    }
                }
            }
        }
        pids
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.syslog_stop.store(true, Ordering::SeqCst);
        if let Some(own) = self.own_net.take() {
            let _ = nix::sched::setns(&own, nix::sched::CloneFlags::CLONE_NEWNET);
        }
        let Some(mut holder) = self.holder.take() else {
            return;
        };
        // Anything we started in the namespace that is still around (sshd and its session
        // children, a stuck program): kill each by pid. Only while the holder is alive: then
        // the namespace, and so its id, cannot have been reused by another sandbox.
        for _ in 0..20 {
            if !matches!(holder.try_wait(), Ok(None)) {
                break;
            }
            let pids: Vec<u32> = self
                .namespace_pids()
                .into_iter()
                .filter(|&p| p != self.holder_pid)
                .collect();
            if pids.is_empty() {
                break;
            }
            let mut kill = Command::new("kill");
            kill.arg("-KILL");
            for p in &pids {
                kill.arg(p.to_string());
            }
            let _ = output_timeout(&mut kill, None, Duration::from_secs(5));
            thread::sleep(Duration::from_millis(20));
        }
        let _ = holder.kill();
        let _ = wait_timeout(&mut holder, Duration::from_secs(5));
    }
}

/// A syslog datagram (`<38>Nov 27 09:51:01 sshd[42]: message`) as rsyslog writes it to
/// a file (`Nov 27 09:51:01 sandbox sshd[42]: message`), and its message alone.
fn syslog_line(datagram: &str) -> Option<(String, String)> {
    let rest = datagram.strip_prefix('<')?;
    let (_, rest) = rest.split_once('>')?;
    let rest = rest.trim_end_matches(['\n', '\0']);
    let (stamp, tagged) = (rest.get(..15)?, rest.get(16..)?);
    let message = tagged.split_once(": ").map_or(tagged, |(_, m)| m);
    Some((format!("{stamp} sandbox {tagged}"), message.to_string()))
}

/// Now as classic syslog stamps it: `Nov 27 09:51:01` (UTC here).
pub fn syslog_time() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stamp = bastion_wizard::state_dir::utc_timestamp(secs);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month: usize = stamp[5..7].parse().unwrap_or(1);
    let day: u32 = stamp[8..10].parse().unwrap_or(1);
    format!("{} {day:>2} {}", MONTHS[month - 1], &stamp[11..19])
}

/// Fields of the colon-separated line whose first field is `name`.
fn entry(file: &str, name: &str) -> Option<Vec<String>> {
    file.lines()
        .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
        .find(|f| f.first().map(String::as_str) == Some(name))
}
