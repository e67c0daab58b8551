//! The exports (`plan --format shell|ansible|cloud-init|json`) run by their own engines in
//! the sandbox: each must leave the host as `apply` does, with the vendor's tunnel working
//! and `status` ready; a second run changes nothing. Bad names and hostile key comments
//! never get through. Needs root (skips otherwise, fails under BASTION_WIZARD_E2E=1);
//! the Ansible test needs `ansible-playbook`, the cloud-init one cloud-init's schema
//! validator (`cloud-init` on PATH, or BASTION_WIZARD_CLOUD_INIT=DIR of the unpacked deb).

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{describe, keygen, try_keygen, Sandbox, BIN};

/// A comment that would break out of a shell word, a YAML scalar or a Jinja template.
const HOSTILE: &str = "it's {{ lookup('pipe','id') }} \"q\" $(touch /tmp/pwned) `id` #: - ]";

/// A profile with a keepalive, so `--fix-sshd` has a block to write on a fresh host.
const PROFILE: &str = "name = \"Test\"\nuser = \"whaly\"\ngroup = \"whaly\"\ndocs = \"https://example.com\"\nips = [\"34.22.141.3\", \"34.22.218.65\", \"34.76.210.24\", \"34.79.63.55\", \"34.77.135.30\", \"34.77.115.173\", \"35.190.212.29\", \"35.241.143.126\"]\n[keepalive]\ninterval = 30\ncount_max = 10\n";

fn export(sb: &Sandbox, key: &Path, profile: &Path, format: &str) -> String {
    let out = sb.wizard(&[
        "plan",
        "--key-file",
        &key.display().to_string(),
        "--profile",
        &profile.display().to_string(),
        "--fix-sshd",
        "--format",
        format,
    ]);
    assert!(
        out.status.success(),
        "plan --format {format}: {}",
        describe(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn setup(sb: &Sandbox) -> (PathBuf, PathBuf) {
    setup_in(&sb.keys_dir())
}

/// The vendor's key (with the hostile comment) and the profile, in `dir`.
fn setup_in(dir: &Path) -> (PathBuf, PathBuf) {
    let (private, _) = try_keygen(dir, "vendor", HOSTILE, &["ed25519"]).expect("keygen");
    let profile = dir.join("profile.toml");
    std::fs::write(&profile, PROFILE).unwrap();
    (private, profile)
}

/// What apply and the exports must agree on: passwd and shadow fields (dates aside),
/// owners and modes of home, ~/.ssh and authorized_keys, the key file and the sshd block.
fn account_state(sb: &Sandbox, user: &str) -> Vec<String> {
    let mut passwd = sb.passwd_entry(user).expect("user exists");
    passwd.remove(2); // uid and gid: the same on both fresh sandboxes anyway, kept below
    let mut shadow = sb.shadow_entry(user).expect("shadow line");
    shadow.remove(2); // the date of the last change
    let stat = sb.sh(&format!(
        "cd /home/{user} && stat -c '%n %U:%G %a %h %F' . .ssh .ssh/authorized_keys"
    ));
    vec![
        passwd.join(":"),
        shadow.join(":"),
        String::from_utf8_lossy(&stat.stdout).into_owned(),
        sb.read_string(&format!("/home/{user}/.ssh/authorized_keys"))
            .expect("authorized_keys"),
        sb.read_string("/etc/ssh/sshd_config.d/00-bastion-wizard-whaly.conf")
            .unwrap_or_default(),
    ]
}

fn pub_key(private: &Path) -> PathBuf {
    common::public_path(private)
}

#[test]
fn e2e_shell_export_leaves_the_host_as_apply_does() {
    let by_apply = sandbox_or_skip!();
    let keys = tempfile::tempdir().unwrap();
    let (private, profile) = setup_in(keys.path());
    let key = pub_key(&private);
    let sshd_a = by_apply.start_sshd("");
    let out = by_apply.wizard(&[
        "apply",
        "--key-file",
        &key.display().to_string(),
        "--profile",
        &profile.display().to_string(),
        "--fix-sshd",
        "--yes",
    ]);
    assert!(out.status.success(), "apply: {}", describe(&out));
    sshd_a.assert_tunnel_works(&private, "whaly");
    let script = export(&by_apply, &key, &profile, "shell");
    let applied = account_state(&by_apply, "whaly");
    assert!(
        applied[4].contains("ClientAliveInterval 30"),
        "apply wrote the keepalive block: {applied:?}"
    );
    drop(sshd_a);
    drop(by_apply);

    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    let script_path = sb.root().join("export.sh");
    std::fs::write(&script_path, &script).unwrap();
    let run = || sb.run(&["sh", &script_path.display().to_string()]);
    let first = run();
    assert!(first.status.success(), "script: {}", describe(&first));
    assert!(
        !Path::new("/tmp/pwned").exists(),
        "the key comment ran as a command"
    );
    assert_eq!(account_state(&sb, "whaly"), applied, "script vs apply");
    sshd.assert_tunnel_works(&private, "whaly");
    assert!(
        sshd.wait_log("Received SIGHUP", std::time::Duration::from_secs(5)),
        "sshd was reloaded after its block was written"
    );
    let second = run();
    assert!(second.status.success(), "rerun: {}", describe(&second));
    assert_eq!(
        String::from_utf8_lossy(&second.stdout)
            .lines()
            .collect::<Vec<_>>(),
        vec!["done: whaly can open the vendor's tunnel with its key"],
        "a rerun changes nothing"
    );
    assert_eq!(account_state(&sb, "whaly"), applied);
    let status = sb.wizard(&["status", "--profile", &profile.display().to_string()]);
    assert!(status.status.success(), "status: {}", describe(&status));
}

/// Another key is already there with other options; a planted symlink is refused.
#[test]
fn e2e_shell_export_keeps_other_keys_and_refuses_links() {
    let sb = sandbox_or_skip!();
    let (private, profile) = setup(&sb);
    let (other, other_line) = keygen(&sb.keys_dir(), "other", &["ed25519"]);
    let key = pub_key(&private);
    let script = export(&sb, &key, &profile, "shell");
    let script_path = sb.root().join("export.sh");
    std::fs::write(&script_path, &script).unwrap();
    sb.sh("groupadd whaly && useradd -m -g whaly -s /usr/sbin/nologin whaly && install -d -m 700 -o whaly -g whaly /home/whaly/.ssh");
    let vendor_old = format!(
        "no-pty {}",
        std::fs::read_to_string(&key).unwrap().trim_end()
    );
    let before = format!(
        "# kept\n{}\n{vendor_old}\n{vendor_old}\n",
        other_line.trim_end()
    );
    sb.write_file("/home/whaly/.ssh/authorized_keys", before.as_bytes());
    sb.sh("chown whaly:whaly /home/whaly/.ssh/authorized_keys && chmod 600 /home/whaly/.ssh/authorized_keys");
    let sshd = sb.start_sshd("");
    let out = sb.run(&["sh", &script_path.display().to_string()]);
    assert!(out.status.success(), "script: {}", describe(&out));
    let after = sb.read_string("/home/whaly/.ssh/authorized_keys").unwrap();
    let plan_json: serde_json::Value =
        serde_json::from_str(&export(&sb, &key, &profile, "json")).unwrap();
    let line = plan_json["fleet"]["key_line"].as_str().unwrap();
    assert_eq!(
        after,
        format!("# kept\n{}\n{line}\n", other_line.trim_end()),
        "the vendor's line is updated in place, its duplicate dropped, the rest kept"
    );
    assert_eq!(
        sb.shadow_entry("whaly").unwrap()[1],
        "*",
        "locked `!` became `*`"
    );
    sshd.assert_tunnel_works(&private, "whaly");
    sshd.assert_tunnel_works(&other, "whaly");

    sb.sh(
        "rm /home/whaly/.ssh/authorized_keys && ln -s /etc/shadow /home/whaly/.ssh/authorized_keys",
    );
    let shadow = sb.read("/etc/shadow");
    let out = sb.run(&["sh", &script_path.display().to_string()]);
    assert!(
        !out.status.success(),
        "a planted symlink must stop the script"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("symbolic link"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        sb.read("/etc/shadow"),
        shadow,
        "nothing written through the link"
    );
}

fn ansible_playbook() -> Option<PathBuf> {
    common::which("ansible-playbook").or_else(|| {
        assert!(
            !common::e2e_required(),
            "BASTION_WIZARD_E2E=1 but ansible-playbook is missing (.ci/run installs it)"
        );
        eprintln!("skipped: ansible-playbook is not installed");
        None
    })
}

/// The playbook on a fresh host and on one with another key, run by Ansible itself.
#[test]
fn e2e_ansible_playbook_sets_up_a_working_tunnel_and_reruns_clean() {
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    for with_other_key in [false, true] {
        let sb = sandbox_or_skip!();
        let (private, profile) = setup(&sb);
        let key = pub_key(&private);
        let playbook = sb.root().join("play.yml");
        std::fs::write(&playbook, export(&sb, &key, &profile, "ansible")).unwrap();
        let other = with_other_key.then(|| {
            let (other, line) = keygen(&sb.keys_dir(), "other", &["ed25519"]);
            sb.sh("groupadd whaly && useradd -m -g whaly -s /usr/sbin/nologin -p '*' whaly && install -d -m 700 -o whaly -g whaly /home/whaly/.ssh");
            sb.write_file("/home/whaly/.ssh/authorized_keys", line.as_bytes());
            sb.sh("chown whaly:whaly /home/whaly/.ssh/authorized_keys && chmod 600 /home/whaly/.ssh/authorized_keys");
            other
        });
        let sshd = sb.start_sshd("");
        let bin_dir = Path::new(BIN).parent().unwrap().display().to_string();
        let run = || {
            let mut cmd = sb.command(&ansible);
            cmd.args([
                "-c",
                "local",
                "-i",
                "localhost,",
                "-e",
                "ansible_become=false",
            ])
            .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
            .arg(&playbook)
            .env(
                "PATH",
                format!("{bin_dir}:{}", std::env::var("PATH").unwrap()),
            )
            .env("ANSIBLE_LOCAL_TEMP", sb.root().join("ansible-local"))
            .env("ANSIBLE_REMOTE_TEMP", sb.root().join("ansible-remote"))
            .env("ANSIBLE_NOCOLOR", "1");
            common::output_timeout(&mut cmd, None, std::time::Duration::from_secs(300))
        };
        let first = run();
        assert!(first.status.success(), "playbook: {}", describe(&first));
        assert!(!Path::new("/tmp/pwned").exists(), "the comment ran");
        let stdout = String::from_utf8_lossy(&first.stdout).into_owned();
        assert!(
            stdout.contains("bastion-wizard status says the host is ready"),
            "{stdout}"
        );
        assert_eq!(sb.shadow_entry("whaly").unwrap()[1], "*");
        assert_eq!(sb.passwd_entry("whaly").unwrap()[6], "/usr/sbin/nologin");
        let plan_json: serde_json::Value =
            serde_json::from_str(&export(&sb, &key, &profile, "json")).unwrap();
        let line = plan_json["fleet"]["key_line"].as_str().unwrap();
        let keys = sb.read_string("/home/whaly/.ssh/authorized_keys").unwrap();
        assert!(
            keys.lines().any(|l| l == line),
            "the exact line apply writes: {line}\nin:\n{keys}"
        );
        assert_eq!(
            sb.read_string("/etc/ssh/sshd_config.d/00-bastion-wizard-whaly.conf")
                .unwrap(),
            plan_json["fleet"]["sshd_dropin"]["content"]
                .as_str()
                .unwrap()
        );
        let status = sb.wizard(&["status", "--profile", &profile.display().to_string()]);
        assert!(status.status.success(), "status: {}", describe(&status));
        sshd.assert_tunnel_works(&private, "whaly");
        if let Some(other) = &other {
            sshd.assert_tunnel_works(other, "whaly");
        }
        let second = run();
        assert!(second.status.success(), "rerun: {}", describe(&second));
        let recap = String::from_utf8_lossy(&second.stdout).into_owned();
        assert!(
            recap.contains("changed=0"),
            "a second run changes nothing:\n{recap}"
        );
    }
}

/// cloud-init's own schema validator, offline, from the Debian package.
fn cloud_init() -> Option<Command> {
    if let Ok(root) = std::env::var("BASTION_WIZARD_CLOUD_INIT") {
        let mut c = Command::new("/usr/bin/python3");
        c.arg(format!("{root}/usr/bin/cloud-init")).env(
            "PYTHONPATH",
            format!("{root}/usr/lib/python3/dist-packages"),
        );
        return Some(c);
    }
    if let Some(path) = common::which("cloud-init") {
        return Some(Command::new(path));
    }
    assert!(
        !common::e2e_required(),
        "BASTION_WIZARD_E2E=1 but cloud-init is missing (.ci/run unpacks it)"
    );
    eprintln!("skipped: cloud-init is not available");
    None
}

#[test]
fn cloud_init_config_passes_cloud_inits_schema_and_declares_the_plan() {
    let Some(mut validator) = cloud_init() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = try_keygen(dir.path(), "vendor", HOSTILE, &["ed25519"]).unwrap();
    let profile = dir.path().join("profile.toml");
    std::fs::write(&profile, PROFILE).unwrap();
    let plan = |format: &str| {
        let out = Command::new(BIN)
            .args(["plan", "--key-file"])
            .arg(pub_key(&private))
            .arg("--profile")
            .arg(&profile)
            .args([
                "--permit-open",
                "db.internal:5432",
                "--fix-sshd",
                "--format",
                format,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let config = plan("cloud-init");
    let file = dir.path().join("user-data");
    std::fs::write(&file, &config).unwrap();
    let out = validator
        .arg("schema")
        .arg("-c")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cloud-init schema: {}\n{config}",
        describe(&out)
    );
    // What it declares, read back by a YAML parser, is what the plan says.
    let json: serde_json::Value = serde_json::from_str(&plan("json")).unwrap();
    let read = Command::new("python3")
        .args([
            "-c",
            "import sys, yaml, json; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(read.status.success(), "{}", describe(&read));
    let doc: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    let user = &doc["users"][1];
    assert_eq!(doc["groups"], serde_json::json!(["whaly"]));
    assert_eq!(user["name"], "whaly");
    assert_eq!(user["primary_group"], "whaly");
    assert_eq!(user["shell"], "/usr/sbin/nologin");
    assert_eq!(user["passwd"], "*");
    assert_eq!(user["lock_passwd"], false);
    assert_eq!(
        user["ssh_authorized_keys"],
        serde_json::json!([json["fleet"]["key_line"]])
    );
    assert!(json["fleet"]["key_line"]
        .as_str()
        .unwrap()
        .ends_with(HOSTILE));
    assert_eq!(
        doc["write_files"][0]["content"],
        json["fleet"]["sshd_dropin"]["content"]
    );
}

/// A name that would need quoting is refused by every format as apply refuses it.
#[test]
fn bad_names_are_refused_by_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = keygen(dir.path(), "vendor", &["ed25519"]);
    for format in ["text", "json", "shell", "ansible", "cloud-init"] {
        for (flag, name) in [
            ("--user", "a'b"),
            ("--group", "x\n- name: root"),
            ("--user", "$(id)"),
        ] {
            let out = Command::new(BIN)
                .args(["plan", "--key-file"])
                .arg(pub_key(&private))
                .args([flag, name, "--format", format])
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(2),
                "{format} {flag} {name:?}: {}",
                describe(&out)
            );
            assert!(out.stdout.is_empty(), "{format}: nothing printed");
            assert!(String::from_utf8_lossy(&out.stderr).contains("is not a valid"));
        }
        let out = Command::new(BIN)
            .args(["plan", "--key-file"])
            .arg(pub_key(&private))
            .args([
                "--permit-open",
                "db\",command=\"id:5432",
                "--format",
                format,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{format}: {}", describe(&out));
    }
}

/// The tunnel user owns `~/.ssh`, so it can swap any name in it for a link between the
/// script's check and its write (inotify makes that race easy to win). Here a user process
/// keeps replacing the script's temporary file with a link to `/etc/passwd`: whatever the
/// timing, root must never write, chmod or chown through it.
#[test]
fn e2e_shell_export_never_writes_through_a_link_the_user_swaps_in() {
    let sb = sandbox_or_skip!();
    let (private, profile) = setup(&sb);
    let key = pub_key(&private);
    let script = export(&sb, &key, &profile, "shell");
    let script_path = sb.root().join("export.sh");
    std::fs::write(&script_path, &script).unwrap();
    let _sshd = sb.start_sshd("");
    let first = sb.run(&["sh", &script_path.display().to_string()]);
    assert!(first.status.success(), "script: {}", describe(&first));
    let passwd = || {
        let stat = sb.sh("stat -c '%a %u:%g' /etc/passwd");
        (
            String::from_utf8_lossy(&stat.stdout).into_owned(),
            sb.read_string("/etc/passwd"),
        )
    };
    let before = passwd();
    let swapper = "cd /home/whaly/.ssh && while :; do for f in .authorized_keys.*; do \
                   if [ -f \"$f\" ] && [ ! -L \"$f\" ]; then rm -f \"$f\"; ln -s /etc/passwd \"$f\"; fi; \
                   done; done";
    let mut attacker = sb
        .command("setpriv")
        .args(["--reuid=whaly", "--regid=whaly", "--clear-groups", "--"])
        .args(["sh", "-c", swapper])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..30 {
        let _ = sb.run(&["sh", &script_path.display().to_string()]);
        if passwd() != before {
            break;
        }
    }
    let _ = attacker.kill();
    let _ = attacker.wait();
    assert_eq!(
        passwd(),
        before,
        "root changed /etc/passwd through a link the tunnel user planted in ~/.ssh"
    );
}

/// A commented-out line that still holds the key (a key someone disabled) is a comment to
/// sshd and to apply: the script keeps it byte for byte and adds the key line, as apply does.
#[test]
fn e2e_shell_export_keeps_a_commented_out_line_holding_the_key() {
    let sb = sandbox_or_skip!();
    let (private, profile) = setup(&sb);
    let key = pub_key(&private);
    let script = export(&sb, &key, &profile, "shell");
    let script_path = sb.root().join("export.sh");
    std::fs::write(&script_path, &script).unwrap();
    sb.sh("groupadd whaly && useradd -m -g whaly -s /usr/sbin/nologin -p '*' whaly && install -d -m 700 -o whaly -g whaly /home/whaly/.ssh");
    let disabled = format!(
        "#{}\n# {}\n",
        std::fs::read_to_string(&key).unwrap().trim_end(),
        std::fs::read_to_string(&key).unwrap().trim_end()
    );
    sb.write_file("/home/whaly/.ssh/authorized_keys", disabled.as_bytes());
    sb.sh("chown whaly:whaly /home/whaly/.ssh/authorized_keys && chmod 600 /home/whaly/.ssh/authorized_keys");
    let _sshd = sb.start_sshd("");
    let out = sb.run(&["sh", &script_path.display().to_string()]);
    assert!(out.status.success(), "script: {}", describe(&out));
    let plan_json: serde_json::Value =
        serde_json::from_str(&export(&sb, &key, &profile, "json")).unwrap();
    let line = plan_json["fleet"]["key_line"].as_str().unwrap();
    assert_eq!(
        sb.read_string("/home/whaly/.ssh/authorized_keys").unwrap(),
        format!("{disabled}{line}\n"),
        "the commented-out lines stay, the key line is added"
    );
}

/// The words of the playbook's `bastion-wizard status` task.
fn status_argv(playbook: &str) -> Vec<String> {
    playbook
        .lines()
        .skip_while(|l| l.trim() != "argv:")
        .skip(1)
        .take_while(|l| l.trim_start().starts_with("- !unsafe "))
        .map(|l| serde_json::from_str(l.trim_start().trim_start_matches("- !unsafe ")).unwrap())
        .collect()
}

/// The playbook's gate judges the host for the vendor it was exported for: another
/// vendor's addresses (Whaly's, the default) would judge `from=`, `Match Address` and
/// AllowUsers rules for the wrong addresses, and could call a host ready that this
/// vendor cannot use. The words it runs must name the same profile and region, and
/// `status` must accept them.
#[test]
fn ansible_status_gate_judges_the_exported_vendor() {
    let dir = tempfile::tempdir().unwrap();
    let (private, profile_file) = setup_in(dir.path());
    for (profile, region) in [
        ("dbt-cloud", Some("emea")),
        (profile_file.to_str().unwrap(), None),
    ] {
        let mut plan = Command::new(BIN);
        plan.args(["plan", "--key-file"])
            .arg(pub_key(&private))
            .args([
                "--profile",
                profile,
                "--from-vendor-ips",
                "--format",
                "ansible",
            ]);
        if let Some(region) = region {
            plan.args(["--region", region]);
        }
        let out = plan.output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        let argv = status_argv(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(argv[..2], ["bastion-wizard", "status"], "{argv:?}");
        let after = |flag: &str| {
            argv.iter()
                .position(|w| w == flag)
                .map(|i| argv[i + 1].clone())
        };
        let named = after("--profile").unwrap_or_else(|| panic!("no --profile in {argv:?}"));
        assert_eq!(after("--region").as_deref(), region, "{argv:?}");
        let status = Command::new(BIN).args(&argv[1..]).output().unwrap();
        assert_ne!(
            status.status.code(),
            Some(2),
            "status refuses --profile {named}: {}",
            describe(&status)
        );
    }
}
