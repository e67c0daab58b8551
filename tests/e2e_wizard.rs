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

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
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

/// The wizard inside the sandbox, then a marker with its exit status once it has quit.
fn wizard_command(sb: &Sandbox) -> String {
    format!(
        "{}; echo WIZARD-EXITED=$?; sleep 60",
        sb.shell_command(&[BIN])
    )
}

fn fingerprint(public_key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public_key)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn e2e_wizard_sets_up_a_host_from_a_wrapped_paste() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    let (private_key, public_line) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let wrapped_file = sb.keys_dir().join("wrapped.txt");
    std::fs::write(&wrapped_file, wrap(&public_line, 40)).unwrap();
    let expected = fingerprint(&PathBuf::from(format!("{}.pub", private_key.display())));

    let tmux = Tmux::start(sb.root(), 80, 24, &wizard_command(&sb));
    let welcome = tmux.wait_for("Step 1/7");
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
    assert!(pasted.contains("removed"), "{pasted}");

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
    let welcome = tmux.wait_for("Step 1/7");
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
