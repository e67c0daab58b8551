//! The real wizard binary in a real terminal (tmux), inside the sandbox: a newcomer's run
//! from the welcome screen to the checklist, with the key arriving as a bracketed paste.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// A tmux server of the test's own (private socket), killed on drop.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn start(dir: &Path, width: u16, height: u16, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
        };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            command,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            describe(&out)
        );
        tmux
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut command = Command::new("tmux");
        command.arg("-S").arg(&self.socket).args(args);
        output_timeout(&mut command, None, Duration::from_secs(10))
    }

    /// Keys as a person presses them: one at a time, never faster than anyone types
    /// (keys closer together are a burst, which the wizard takes as text only).
    fn keys(&self, keys: &[&str]) {
        for key in keys {
            assert!(self.run(&["send-keys", "-t", "t", key]).status.success());
            thread::sleep(Duration::from_millis(150));
        }
    }

    /// Text typed as keystrokes in one go, as a terminal without bracketed paste (or a
    /// serial console) delivers a paste: `send-keys -l`, not `paste-buffer -p`.
    fn type_burst(&self, text: &str) {
        assert!(self
            .run(&["send-keys", "-t", "t", "-l", "--", text])
            .status
            .success());
    }

    fn format(&self, format: &str) -> String {
        String::from_utf8_lossy(
            &self
                .run(&["display-message", "-p", "-t", "t", format])
                .stdout,
        )
        .trim()
        .to_string()
    }

    /// The wizard's own process: a descendant of the pane's shell running this binary.
    fn wizard_pid(&self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut queue: Vec<i32> = vec![self.format("#{pane_pid}").parse().unwrap()];
            while let Some(pid) = queue.pop() {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "bastion-wizard" {
                    return pid;
                }
                let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
                    .into_iter()
                    .flatten();
                for task in tasks.flatten() {
                    let children =
                        std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
                    queue.extend(
                        children
                            .split_whitespace()
                            .filter_map(|c| c.parse::<i32>().ok()),
                    );
                }
            }
            if Instant::now() > deadline {
                panic!("no bastion-wizard process under the pane");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// A bracketed paste, as a terminal delivers text pasted with the mouse or Ctrl-Shift-V.
    fn paste(&self, text_file: &Path) {
        let file = text_file.to_str().unwrap();
        assert!(self.run(&["load-buffer", "-b", "k", file]).status.success());
        assert!(self
            .run(&["paste-buffer", "-p", "-b", "k", "-t", "t"])
            .status
            .success());
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    /// Waits (bounded) until the screen shows `needle`; panics with the screen otherwise.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("the screen never showed {needle:?}; it shows:\n{screen}");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The wizard inside the sandbox, then a marker with its exit status once it has quit,
/// and the terminal's line discipline as the wizard left it.
fn wizard_command(sb: &Sandbox) -> String {
    format!(
        "{}; echo WIZARD-EXITED=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\\n' ' '; echo; sleep 60",
        sb.shell_command(&[BIN])
    )
}

#[test]
fn e2e_wizard_sets_up_a_host_from_a_wrapped_paste() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    let (private_key, public_line) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let wrapped_file = sb.keys_dir().join("wrapped.txt");
    std::fs::write(&wrapped_file, wrap(&public_line, 40)).unwrap();
    let expected = fingerprints(&public_path(&private_key), "sha256").remove(0);

    let tmux = Tmux::start(sb.root(), 80, 24, &wizard_command(&sb));
    tmux.wait_for("Step 1/7");
    // The first frame comes before the host is read; the checks fill in after.
    let welcome = tmux.wait_for("✓ ok  ✗ fails");
    assert!(welcome.contains("running as root"), "{welcome}");
    assert!(
        welcome.contains("✗ User whaly exists"),
        "a fresh host shows the user missing:\n{welcome}"
    );
    // The focused check opens in full, and Esc closes it.
    tmux.keys(&["Down", "Space"]);
    let detail = tmux.wait_for("Esc closes");
    assert!(detail.contains("Check   User whaly exists"), "{detail}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("Space details");

    tmux.keys(&["Enter"]);
    tmux.wait_for("Step 2/7 · Account");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Step 3/7 · Paste the key");
    tmux.paste(&wrapped_file);
    let pasted = tmux.wait_for(&expected);
    assert!(pasted.contains("ED25519"), "{pasted}");
    assert!(pasted.contains("joined"), "{pasted}");

    tmux.keys(&["Enter"]);
    let review = tmux.wait_for("Step 4/7 · Review");
    assert!(review.contains("Nothing has changed yet"), "{review}");
    assert!(
        sb.passwd_entry("whaly").is_none(),
        "nothing may change before confirming"
    );
    tmux.keys(&["Enter"]);
    tmux.wait_for("Apply these changes? y/n");
    tmux.keys(&["y"]);
    let applied = tmux.wait_for("Done:");
    assert!(applied.contains("✓ Add the vendor's key"), "{applied}");
    // The verdict comes from the host read again after the run, not from the steps.
    let judged = tmux.wait_for("Ready: no check fails on this host.");
    assert!(!judged.contains("Not ready"), "{judged}");

    tmux.keys(&["Enter"]);
    let checklist = tmux.wait_for("Step 6/7 · Port access");
    assert!(checklist.contains("34.22.141.3/32"), "{checklist}");
    tmux.keys(&["Space"]);
    tmux.wait_for("[x] 1.");
    tmux.keys(&["Enter"]);
    let finish = tmux.wait_for("Step 7/7 · Finish");
    assert!(finish.contains("SSH user    whaly"), "{finish}");
    assert!(finish.contains("Host keys   "), "{finish}");
    assert!(finish.contains("SHA256:"), "host keys are read: {finish}");
    // The live proof runs on a worker and its result replaces the prompt.
    tmux.keys(&["p"]);
    tmux.wait_for("Live proof (p runs it again):");
    tmux.keys(&["Enter"]);
    let after = tmux.wait_for("WIZARD-EXITED=0");
    assert!(
        !after.contains("Step 7/7"),
        "the terminal must be restored after quitting:\n{after}"
    );

    // What the wizard did is real: the account exists and a real sshd lets the key tunnel.
    let line = sb
        .read_string("/home/whaly/.ssh/authorized_keys")
        .expect("authorized_keys written");
    assert_eq!(line, format!("restrict,port-forwarding {public_line}\n"));
    let ticks = std::fs::read_to_string(sb.state_dir().join("checklist.json")).unwrap();
    assert!(
        ticks.contains("\"vendor_ips\":true"),
        "ticks persist: {ticks}"
    );
    sshd.assert_tunnel_works(&private_key, "whaly");
}

#[test]
fn e2e_wizard_rerun_shows_a_set_up_host_and_small_terminals_are_told() {
    let sb = sandbox_or_skip!();
    let _sshd = sb.start_sshd("");
    let (_, public_line) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let key_file = sb.keys_dir().join("key.pub");
    std::fs::write(&key_file, &public_line).unwrap();
    let out = sb.wizard(&["apply", "--key-file", key_file.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", describe(&out));

    // An earlier run ticked the last item of the checklist.
    std::fs::write(
        sb.state_dir().join("checklist.json"),
        r#"{"database_allows_bastion":true}"#,
    )
    .unwrap();
    let tmux = Tmux::start(sb.root(), 200, 50, &wizard_command(&sb));
    // The last of these rows: once it is drawn, the frame above it is complete.
    let welcome = tmux.wait_for("✓ Vendor's key installed");
    for id in [
        "Group whaly exists",
        "User whaly exists",
        "Vendor's key installed",
    ] {
        assert!(
            welcome.contains(&format!("✓ {id}")),
            "{id} must show done:\n{welcome}"
        );
    }
    tmux.keys(&["c"]);
    let checklist = tmux.wait_for("Step 6/7 · Port access");
    assert!(
        checklist.contains("[x] 4."),
        "ticks from an earlier run show:\n{checklist}"
    );
    assert!(checklist.contains("[ ] 1."), "{checklist}");
    tmux.keys(&["q"]);
    tmux.wait_for("WIZARD-EXITED=0");
    drop(tmux);

    let tmux = Tmux::start(sb.root(), 70, 20, &wizard_command(&sb));
    tmux.wait_for("needs at least 80×24");
    tmux.keys(&["C-c"]);
    tmux.wait_for("WIZARD-EXITED=0");
}

/// A paste typed as keystrokes (a terminal without bracketed paste): a private key never
/// shows in any capture, the wrapped public key is read whole, and the burst never moves
/// past the Paste screen; only the person's own Enter does.
#[test]
fn e2e_wizard_keys_typed_as_keystrokes_are_text_only() {
    let sb = sandbox_or_skip!();
    let (private_key, public_line) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let private_text = std::fs::read_to_string(&private_key).unwrap();
    let body: Vec<String> = private_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(|l| l[..12].to_string())
        .collect();
    let expected = fingerprints(&public_path(&private_key), "sha256").remove(0);

    let tmux = Tmux::start(sb.root(), 80, 24, &wizard_command(&sb));
    tmux.wait_for("Step 1/7");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Step 2/7 · Account");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Step 3/7 · Paste the key");

    // The private key in two pieces, split inside its body, as a slow link delivers it.
    let typed = private_text.replace('\n', "\r");
    let cut = typed.len() / 2;
    tmux.type_burst(&typed[..cut]);
    let mut screens = Vec::new();
    for _ in 0..5 {
        screens.push(tmux.screen());
        thread::sleep(Duration::from_millis(40));
    }
    tmux.type_burst(&typed[cut..]);
    for _ in 0..5 {
        screens.push(tmux.screen());
        thread::sleep(Duration::from_millis(40));
    }
    screens.push(tmux.wait_for("PRIVATE key"));
    for screen in &screens {
        for start in &body {
            assert!(
                !screen.contains(start.as_str()),
                "private key on screen:\n{screen}"
            );
        }
        assert!(screen.contains("Step 3/7"), "{screen}");
    }

    // A new paste replaces what was there; wrapped with CR, plus a stray Enter and y.
    let wrapped_line = wrap(&public_line, 30).replace('\n', "\r");
    tmux.type_burst(&format!("{wrapped_line}\ry\r"));
    thread::sleep(Duration::from_millis(500));
    let screen = tmux.screen();
    assert!(
        screen.contains("Step 3/7"),
        "a burst never leaves the screen:\n{screen}"
    );
    assert!(!screen.contains("Apply these changes"), "{screen}");
    // Without the stray y, the key is whole; the person's Enter moves on.
    tmux.keys(&["C-u"]);
    tmux.type_burst(&wrap(&public_line, 30).replace('\n', "\r"));
    let pasted = tmux.wait_for(&expected);
    assert!(pasted.contains("Step 3/7"), "{pasted}");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Step 4/7 · Review");
    assert!(
        sb.passwd_entry("whaly").is_none(),
        "nothing changed before confirming"
    );
    tmux.keys(&["q"]);
    tmux.wait_for("Quit anyway");
    tmux.keys(&["y"]);
    tmux.wait_for("WIZARD-EXITED=0");
}

/// SIGTERM, and SIGHUP as when the SSH session to the bastion drops: the wizard ends and
/// leaves the terminal as it found it (main screen, cursor shown, line editing on).
#[test]
fn e2e_wizard_restores_the_terminal_on_sigterm_and_sighup() {
    let sb = sandbox_or_skip!();
    for (signal, code) in [("TERM", 143), ("HUP", 129), ("INT", 130)] {
        let tmux = Tmux::start(sb.root(), 80, 24, &wizard_command(&sb));
        tmux.wait_for("Step 1/7");
        assert_eq!(
            tmux.format("#{alternate_on}"),
            "1",
            "the wizard runs on the alternate screen"
        );
        let pid = tmux.wizard_pid();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let after = tmux.wait_for(&format!("WIZARD-EXITED={code}"));
        assert_eq!(tmux.format("#{alternate_on}"), "0", "SIG{signal}: {after}");
        assert_eq!(
            tmux.format("#{cursor_flag}"),
            "1",
            "SIG{signal}: cursor hidden"
        );
        let modes = tmux.wait_for("icanon");
        assert!(
            modes.contains("icanon echo") && !modes.contains("-icanon"),
            "SIG{signal}: the terminal stays raw:\n{modes}"
        );
        assert!(!after.contains("Step 1/7"), "SIG{signal}:\n{after}");
    }
}

/// Whether `key` opens a real `ssh -N -L` tunnel as `user` through the sandbox's sshd.
fn tunnel_ok(sshd: &Sshd, key: &Path, user: &str) -> bool {
    let echo = EchoServer::start();
    sshd.tunnel(key, user, echo.port()).ok
}

/// An auditor's rerun: the Welcome screen lists both keys of the user, r on the chosen one
/// shows revoke's plan and n keeps it; y revokes it and the list follows. The real sshd
/// then refuses the revoked key while the other key still opens the tunnel.
#[test]
fn e2e_wizard_revokes_a_key_from_the_welcome_list() {
    let sb = sandbox_or_skip!();
    let (ours, _) = keygen(&sb.keys_dir(), "ours", &["ed25519"]);
    let (other, other_pub) = keygen(&sb.keys_dir(), "other", &["ed25519"]);
    let ours_fp = fingerprints(&public_path(&ours), "sha256").remove(0);
    let sshd = sb.start_sshd("");
    let out = sb.wizard(&[
        "apply",
        "--key-file",
        public_path(&ours).to_str().unwrap(),
        "--yes",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    // A second key, added by hand: not this program's.
    let path = "/home/whaly/.ssh/authorized_keys";
    let applied = sb.read_string(path).unwrap();
    let both = format!("{applied}restrict,port-forwarding {other_pub}\n");
    sb.write_file(path, both.as_bytes());
    assert!(tunnel_ok(&sshd, &ours, "whaly"), "{}", sshd.log());
    assert!(tunnel_ok(&sshd, &other, "whaly"), "{}", sshd.log());

    let tmux = Tmux::start(sb.root(), 80, 24, &wizard_command(&sb));
    let welcome = tmux.wait_for("Keys of whaly: 2 line(s), 1 added by this program");
    assert!(welcome.contains(" ours "), "{welcome}");
    tmux.keys(&["Tab"]);
    let chosen = tmux.wait_for("r revokes the selected key");
    assert!(chosen.contains(&ours_fp), "line 1 in full: {chosen}");

    tmux.keys(&["r"]);
    let asked = tmux.wait_for("Revoke this key? y/n");
    assert!(asked.contains("line 1:"), "{asked}");
    tmux.keys(&["n"]);
    tmux.wait_for("Nothing was changed.");
    assert_eq!(sb.read_string(path).unwrap(), both, "n keeps every byte");

    tmux.keys(&["r"]);
    tmux.wait_for("Revoke this key? y/n");
    tmux.keys(&["y"]);
    tmux.wait_for("Revoked: line(s) 1 removed");
    tmux.keys(&["Escape"]);
    // The list is read again after the revoke.
    let after = tmux.wait_for("Keys of whaly: 1 line(s), 0 added by this program");
    assert!(!after.contains(&ours_fp), "{after}");
    tmux.keys(&["q"]);
    tmux.wait_for("WIZARD-EXITED=0");

    assert_eq!(
        sb.read_string(path).unwrap(),
        format!("restrict,port-forwarding {other_pub}\n"),
        "only the revoked key's line went"
    );
    assert!(
        !tunnel_ok(&sshd, &ours, "whaly"),
        "the revoked key still opens a tunnel"
    );
    assert!(tunnel_ok(&sshd, &other, "whaly"), "{}", sshd.log());
}
