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
//!
//! Needs root, `unshare`, `nsenter`, `/usr/sbin/sshd`, `ssh` and `ssh-keygen`. Without them
//! `Sandbox::new()` prints `skipped: <why>` and returns `None`, unless `BASTION_WIZARD_E2E=1`
//! is set (CI), in which case it panics. Every wait in here is bounded in time.

#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Path of the program under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_bastion-wizard");

/// Name of the env var that turns "skip" into "fail" (set by CI).
pub const E2E_ENV: &str = "BASTION_WIZARD_E2E";

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

const SSHD: &str = "/usr/sbin/sshd";

/// `let sb = sandbox_or_skip!();` — a fresh sandbox, or return from the test (skip).
/// Use with `#[macro_use] mod common;`.
#[macro_export]
macro_rules! sandbox_or_skip {
    () => {
        match $crate::common::Sandbox::new() {
            Some(sb) => sb,
            None => return,
        }
    };
}

/// True when `BASTION_WIZARD_E2E=1`: missing prerequisites are a failure, not a skip.
pub fn e2e_required() -> bool {
    std::env::var(E2E_ENV).map(|v| v == "1").unwrap_or(false)
}

/// Skip (print and return `None`) or, under `BASTION_WIZARD_E2E=1`, panic.
fn skip<T>(why: &str) -> Option<T> {
    if e2e_required() {
        panic!("{E2E_ENV}=1 but the e2e sandbox is unavailable: {why}");
    }
    eprintln!("skipped: {why}");
    None
}

/// Effective uid of this process, from /proc/self/status.
pub fn euid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Finds an executable on PATH (or an absolute path).
pub fn which(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

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

/// A string unlikely to occur anywhere else (for markers and names).
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Runs `cmd` to completion with a time limit, feeding `stdin` (or /dev/null) and capturing
/// stdout and stderr. Panics (after killing the child) when the limit is exceeded.
pub fn output_timeout(cmd: &mut Command, stdin: Option<&[u8]>, timeout: Duration) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_vec();
        thread::spawn(move || {
            // A program that stops reading early gives EPIPE here; that's its business.
            let _ = pipe.write_all(&input);
        })
    });
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let status = wait_timeout(&mut child, timeout).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("timed out after {timeout:?}: {cmd:?}");
    });
    if let Some(w) = writer {
        let _ = w.join();
    }
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// Waits for `child` up to `timeout`; `None` if it is still running.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Readable dump of an Output, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Generates a key pair in `dir` named `name` (`ssh-keygen -q -N '' -C name -t ...`).
/// `type_args` e.g. `&["ed25519"]` or `&["rsa", "-b", "3072"]`.
/// Returns the private key path and the public key line (trimmed).
pub fn keygen(dir: &Path, name: &str, type_args: &[&str]) -> (PathBuf, String) {
    fs::create_dir_all(dir).unwrap();
    let private = dir.join(name);
    let _ = fs::remove_file(&private);
    let _ = fs::remove_file(private.with_extension("pub"));
    let out = output_timeout(
        Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-C", name, "-f"])
            .arg(&private)
            .arg("-t")
            .args(type_args),
        None,
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "ssh-keygen failed: {}",
        describe(&out)
    );
    let mut pub_path = private.clone().into_os_string();
    pub_path.push(".pub");
    let public = fs::read_to_string(&pub_path).unwrap().trim().to_string();
    (private, public)
}

/// Inserts "\n" every `width` characters (an e-mailed, wrapped key). Ends with "\n".
pub fn wrap(line: &str, width: usize) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut s = String::new();
    for chunk in chars.chunks(width.max(1)) {
        s.extend(chunk);
        s.push('\n');
    }
    s
}

/// The base64 key data (2nd field) of an OpenSSH public key line.
pub fn key_data(public_line: &str) -> &str {
    public_line.split_whitespace().nth(1).unwrap_or("")
}

/// Kills a child on drop (SIGKILL) and reaps it.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = wait_timeout(&mut self.0, Duration::from_secs(5));
    }
}

/// The sandbox: private mount namespace with overlay /etc and temp /home.
pub struct Sandbox {
    dir: tempfile::TempDir,
    holder: Option<Child>,
    holder_pid: u32,
    mnt_ns: String,
    /// The test thread's own network namespace, restored on drop.
    own_net: Option<fs::File>,
    host_keys_made: AtomicBool,
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
             UsePAM yes\n\
             StrictModes yes\n\
             LogLevel VERBOSE\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PermitRootLogin no\n\
             PrintMotd no\n\
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

    /// An ssh client command from the vendor's first address to `user@BASTION_ADDR:port`
    /// with `private_key`. `extra` goes after the destination (e.g. a remote command) — put
    /// options such as `-N -L ...` there too; ssh accepts them before the command.
    pub fn ssh(&self, private_key: &Path, user: &str, port: u16, extra: &[&str]) -> Command {
        ssh(private_key, user, port, extra)
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

/// Quotes a word for sh: `'...'` with embedded `'` as `'\''`.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// Fields of the colon-separated line whose first field is `name`.
fn entry(file: &str, name: &str) -> Option<Vec<String>> {
    file.lines()
        .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
        .find(|f| f.first().map(String::as_str) == Some(name))
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

fn contains(hay: &[u8], needle: &[u8]) -> bool {
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
