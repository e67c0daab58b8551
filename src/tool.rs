//! Running one of the host's tools (nft, iptables-save, fail2ban-client, journalctl) with a
//! deadline and a cap on what is read: the readers run beside `sshd -T` in `status`, and a
//! hung or chatty tool must never hang the program or fill its memory.

use std::io::{self, Read};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What a bounded run gave back.
#[derive(Debug)]
pub struct Ran {
    /// How it ended; `None` when the deadline passed and it was killed.
    pub status: Option<ExitStatus>,
    /// At most the cap's bytes of each stream; what was read by the end, also when killed.
    pub stdout: String,
    pub stderr: String,
}

/// A tool by name, in PATH or in the sbin directories a `sudo` PATH may lack.
pub fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Runs `command` (stdin closed) until it exits or `timeout` passes, then kills it. Each of
/// stdout and stderr is read on its own thread, so a full pipe never blocks the tool, and
/// only its first `max_bytes`: past that the pipe is closed, which ends a tool that keeps
/// writing. `Err` only when it could not start.
pub fn run(mut command: Command, timeout: Duration, max_bytes: u64) -> io::Result<Ran> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let readers = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .map(|pipe| {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(pipe) = pipe {
                let _ = pipe.take(max_bytes).read_to_end(&mut buf);
            }
            let _ = tx.send(buf);
        });
        rx
    });
    // A thread waits for the exit, so the answer comes the moment the tool ends rather
    // than at the next poll; the deadline kills it by pid, which stays the tool's until
    // that thread reaps it.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let (exited, exit) = mpsc::channel();
    thread::spawn(move || {
        let _ = exited.send(child.wait());
    });
    let status = match exit.recv_timeout(timeout) {
        Ok(Ok(status)) => Some(status),
        Ok(Err(_)) => None,
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = exit.recv_timeout(Duration::from_secs(2));
            None
        }
    };
    // A child the tool left behind may hold the pipes open: wait for them only briefly.
    let grace = Instant::now() + Duration::from_millis(200);
    let [stdout, stderr] = readers.map(|rx| {
        let left = grace.saturating_duration_since(Instant::now());
        String::from_utf8_lossy(&rx.recv_timeout(left).unwrap_or_default()).into_owned()
    });
    Ok(Ran {
        status,
        stdout,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn gives_both_streams_and_the_exit_status() {
        let ran = run(
            sh("echo out; echo err >&2; exit 3"),
            Duration::from_secs(5),
            1024,
        )
        .unwrap();
        assert_eq!(ran.status.and_then(|s| s.code()), Some(3));
        assert_eq!(
            (ran.stdout.as_str(), ran.stderr.as_str()),
            ("out\n", "err\n")
        );
    }

    #[test]
    fn kills_a_hung_tool_at_the_deadline_keeping_what_it_wrote() {
        let started = Instant::now();
        let ran = run(
            sh("echo early; exec sleep 30"),
            Duration::from_millis(300),
            1024,
        )
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(ran.status.is_none());
        assert_eq!(ran.stdout, "early\n");
    }

    #[test]
    fn reads_no_more_than_the_cap_and_ends_a_tool_that_keeps_writing() {
        let started = Instant::now();
        let ran = run(sh("exec yes"), Duration::from_secs(5), 4096).unwrap();
        assert!(started.elapsed() < Duration::from_secs(4));
        assert_eq!(ran.stdout.len(), 4096);
    }

    #[test]
    fn a_missing_tool_is_an_error() {
        let e = run(Command::new("/nonexistent/tool"), Duration::from_secs(1), 1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
