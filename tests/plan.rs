//! `plan::plan` and `plan::validate` as pure functions of a hand-built `HostState`: which
//! steps are done, to do or blocked, with which shell command, and what is refused.

mod fixtures;

use std::path::PathBuf;
use std::process::Command;

use bastion_wizard::authorized_keys::{Access, PermitOpen};
use bastion_wizard::inspect::{Account, HostState, Node, Password, ShellState};
use bastion_wizard::key::{self, Key};
use bastion_wizard::plan::{self, Action, Plan, Step, StepState};
use bastion_wizard::safe_fs::{Kind, Meta};
use bastion_wizard::setup::Request;

const DATA: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIGx3mVq3tq3f0Yb2o2m9x1GxkP0w5Qx6m3vKpJb2WzQe";
const OTHER: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBbT7pXn5o1sXg0b8q9yY1a2b3c4d5e6f7g8h9i0j1k2";
const UID: u32 = 1001;
const GID: u32 = 1002;

fn test_key() -> Key {
    key::parse(&format!("ssh-ed25519 {DATA} vendor@example.com")).expect("test key parses")
}

fn request(access: Access) -> Request {
    Request {
        user: "whaly".into(),
        group: "whaly".into(),
        access,
        key: Some(test_key()),
        vendor_addrs: vec!["203.0.113.10".parse().unwrap()],
        db: Vec::new(),
        fix_sshd: false,
        keepalive: None,
        vendor: Default::default(),
    }
}

fn tunnel_only() -> Request {
    request(Access::default())
}

fn meta(kind: Kind, uid: u32, gid: u32, mode: u32, nlink: u64) -> Meta {
    Meta {
        kind,
        uid,
        gid,
        mode,
        nlink,
    }
}

/// A host where nothing exists yet (shared with the wizard tests).
fn fresh_host() -> HostState {
    fixtures::fresh_host()
}

/// A host set up exactly as the tunnel-only plan wants it, with `content` as authorized_keys.
fn ready_host(content: &str) -> HostState {
    HostState {
        group: Some(GID),
        user: Some(Account {
            uid: UID,
            gid: GID,
            group_name: Some("whaly".into()),
            home: PathBuf::from("/home/whaly"),
            shell: PathBuf::from("/usr/sbin/nologin"),
        }),
        password: Password::Usable,
        shell: Some(ShellState::Executable),
        home: Node::Found(meta(Kind::Dir, UID, GID, 0o750, 3)),
        ssh_dir: Node::Found(meta(Kind::Dir, UID, GID, 0o700, 2)),
        authorized_keys: Node::Found(meta(Kind::File, UID, GID, 0o600, 1)),
        authorized_keys_content: Some(content.as_bytes().to_vec()),
        ..fresh_host()
    }
}

fn installed_line() -> String {
    format!("restrict,port-forwarding ssh-ed25519 {DATA} vendor@example.com")
}

fn ready_content() -> String {
    format!(
        "# keys\nssh-ed25519 {OTHER} admin@corp\n{}\n",
        installed_line()
    )
}

fn step(plan: &Plan, wanted: fn(&Action) -> bool) -> &Step {
    plan.steps
        .iter()
        .find(|s| wanted(&s.action))
        .unwrap_or_else(|| panic!("no such step in {:#?}", plan.steps))
}

fn group_step(p: &Plan) -> &Step {
    step(p, |a| matches!(a, Action::CreateGroup))
}
fn user_step(p: &Plan) -> &Step {
    step(p, |a| matches!(a, Action::CreateUser { .. }))
}
fn unlock_step(p: &Plan) -> &Step {
    step(p, |a| matches!(a, Action::Unlock))
}
fn home_step(p: &Plan) -> &Step {
    step(p, |a| matches!(a, Action::SecureHome))
}
fn ssh_dir_step(p: &Plan) -> &Step {
    step(p, |a| matches!(a, Action::SshDir))
}
fn keys_file_step(p: &Plan) -> &Step {
    step(p, |a| matches!(a, Action::AuthorizedKeys))
}
fn key_step(p: &Plan) -> &Step {
    step(p, |a| matches!(a, Action::InstallKey { .. }))
}

fn states(p: &Plan) -> Vec<(String, StepState)> {
    p.steps
        .iter()
        .map(|s| {
            (
                format!("{:?}", s.action).chars().take(14).collect(),
                s.state,
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// plan
// ---------------------------------------------------------------------------------------

#[test]
fn fresh_host_everything_to_do_with_the_guide_commands() {
    let p = plan::plan(&tunnel_only(), &fresh_host());
    assert_eq!(p.user, "whaly");
    assert_eq!(p.group, "whaly");
    assert_eq!(p.home, PathBuf::from("/home/whaly"));

    let actions: Vec<&Action> = p.steps.iter().map(|s| &s.action).collect();
    assert!(
        matches!(
            actions.as_slice(),
            [
                Action::CreateUser {
                    own_group: true,
                    ..
                },
                Action::SecureHome,
                Action::SshDir,
                Action::AuthorizedKeys,
                Action::InstallKey { .. },
            ]
        ),
        "steps in the guide's order, the group made with the user, no unlock/shell step for a new user: {actions:?}"
    );
    assert!(
        p.steps.iter().all(|s| s.state == StepState::ToDo),
        "{:?}",
        states(&p)
    );
    assert_eq!(p.to_do(), 5);
    assert!(p.blocked().is_empty());

    let user = user_step(&p);
    assert_eq!(
        user.command,
        "useradd -m -U -s /usr/sbin/nologin -p '*' whaly"
    );
    assert_eq!(user.guide, "guide steps 1-2");
    assert_eq!(
        user.action,
        Action::CreateUser {
            shell: Some(PathBuf::from("/usr/sbin/nologin")),
            own_group: true
        }
    );
    assert_eq!(
        ssh_dir_step(&p).command,
        "install -d -m 700 -o whaly -g whaly /home/whaly/.ssh"
    );
    let keys_file = keys_file_step(&p);
    assert!(
        keys_file
            .command
            .contains("/home/whaly/.ssh/authorized_keys")
            && keys_file.command.contains("chmod 600")
            && keys_file.command.contains("chown whaly:whaly"),
        "{}",
        keys_file.command
    );

    let line = installed_line();
    assert_eq!(p.key_line.as_deref(), Some(line.as_str()));
    let key = key_step(&p);
    assert_eq!(
        key.action,
        Action::InstallKey {
            line: line.clone(),
            data: DATA.into()
        }
    );
    assert!(key.command.contains(&line), "{}", key.command);
    assert!(
        key.command.contains(">> /home/whaly/.ssh/authorized_keys"),
        "{}",
        key.command
    );
    // Every step says why, and names its guide step.
    for s in &p.steps {
        assert!(!s.detail.is_empty(), "{s:?}");
        assert!(s.guide.starts_with("guide "), "{s:?}");
        assert!(!s.title.is_empty() && !s.command.is_empty(), "{s:?}");
    }
}

#[test]
fn fresh_host_uses_the_hosts_nologin_and_the_given_names() {
    let mut state = fresh_host();
    state.nologin = PathBuf::from("/sbin/nologin");
    state.home_path = PathBuf::from("/srv/home/tunnel");
    let mut req = tunnel_only();
    req.user = "tunnel".into();
    req.group = "vendors".into();
    let p = plan::plan(&req, &state);
    assert_eq!(group_step(&p).command, "groupadd vendors");
    assert_eq!(
        user_step(&p).command,
        "useradd -m -g vendors -s /sbin/nologin -p '*' tunnel"
    );
    assert_eq!(
        ssh_dir_step(&p).command,
        "install -d -m 700 -o tunnel -g vendors /srv/home/tunnel/.ssh"
    );
}

#[test]
fn fully_set_up_host_with_the_key_is_all_done() {
    let p = plan::plan(&tunnel_only(), &ready_host(&ready_content()));
    assert_eq!(p.to_do(), 0, "{:?}", states(&p));
    assert!(p.blocked().is_empty());
    assert!(
        p.steps.iter().all(|s| s.state == StepState::Done),
        "{:?}",
        states(&p)
    );
    // The account steps are present (and done) once the user exists.
    assert_eq!(unlock_step(&p).state, StepState::Done);
    assert_eq!(key_step(&p).state, StepState::Done);
    assert_eq!(p.key_line, Some(installed_line()));

    // With CRLF line ends and no final newline, still done.
    let crlf = ready_content().replace('\n', "\r\n");
    let p = plan::plan(&tunnel_only(), &ready_host(crlf.trim_end()));
    assert_eq!(p.to_do(), 0, "{:?}", states(&p));
}

#[test]
fn root_owned_home_is_fine() {
    let mut state = ready_host(&ready_content());
    state.home = Node::Found(meta(Kind::Dir, 0, 0, 0o755, 3));
    let p = plan::plan(&tunnel_only(), &state);
    assert_eq!(home_step(&p).state, StepState::Done);
    assert_eq!(p.to_do(), 0);
}

#[test]
fn key_missing_from_existing_file_is_appended() {
    let content = format!("ssh-ed25519 {OTHER} admin@corp\n");
    let p = plan::plan(&tunnel_only(), &ready_host(&content));
    let key = key_step(&p);
    assert_eq!(key.state, StepState::ToDo);
    assert!(
        key.detail.contains('1'),
        "mentions the 1 kept key: {}",
        key.detail
    );
    assert_eq!(p.to_do(), 1, "{:?}", states(&p));
}

#[test]
fn key_present_with_other_options_is_an_update() {
    for other_line in [
        format!("ssh-ed25519 {DATA} vendor@example.com"),
        format!("no-pty,command=\"x\" ssh-ed25519 {DATA} vendor@example.com"),
        format!("restrict,port-forwarding ssh-ed25519 {DATA} old-comment"),
    ] {
        let content = format!("ssh-ed25519 {OTHER} admin@corp\n{other_line}\n");
        let p = plan::plan(&tunnel_only(), &ready_host(&content));
        let key = key_step(&p);
        assert_eq!(key.state, StepState::ToDo, "{other_line}");
        assert!(key.title.starts_with("Update"), "{}", key.title);
        assert_eq!(p.to_do(), 1, "{:?}", states(&p));
    }
    // Installed as tunnel-only, now asked with permitopen: also an update.
    let req = request(Access {
        allow_shell: false,
        permit_open: vec!["db:5432".parse::<PermitOpen>().unwrap()],
        ..Access::default()
    });
    let p = plan::plan(&req, &ready_host(&ready_content()));
    assert!(key_step(&p).title.starts_with("Update"));
    assert_eq!(
        p.key_line.as_deref(),
        Some(
            format!(
                "restrict,port-forwarding,permitopen=\"db:5432\" ssh-ed25519 {DATA} vendor@example.com"
            )
            .as_str()
        )
    );
}

#[test]
fn group_writable_home_is_to_do_for_strict_modes() {
    for mode in [0o775, 0o757, 0o777, 0o770] {
        let mut state = ready_host(&ready_content());
        state.home = Node::Found(meta(Kind::Dir, UID, GID, mode, 3));
        let p = plan::plan(&tunnel_only(), &state);
        let home = home_step(&p);
        assert_eq!(home.state, StepState::ToDo, "mode {mode:o}");
        assert!(home.detail.contains("StrictModes"), "{}", home.detail);
        assert!(
            home.detail.contains(&format!("{mode:o}")),
            "{}",
            home.detail
        );
        assert!(
            home.command.contains("chmod go-w /home/whaly"),
            "{}",
            home.command
        );
        assert_eq!(p.to_do(), 1, "{:?}", states(&p));
    }
    // Owned by someone else.
    let mut state = ready_host(&ready_content());
    state.home = Node::Found(meta(Kind::Dir, 4242, GID, 0o755, 3));
    let home = home_step(&plan::plan(&tunnel_only(), &state)).clone();
    assert_eq!(home.state, StepState::ToDo);
    assert!(home.detail.contains("StrictModes") && home.detail.contains("4242"));
    assert!(home.command.contains("chown whaly:whaly /home/whaly"));
}

#[test]
fn leftover_home_of_a_new_user_is_taken_over() {
    let mut state = fresh_host();
    state.home = Node::Found(meta(Kind::Dir, 1500, 1500, 0o755, 3));
    let p = plan::plan(&tunnel_only(), &state);
    let home = home_step(&p);
    assert_eq!(home.state, StepState::ToDo);
    assert!(home.detail.contains("1500"), "{}", home.detail);
}

#[test]
fn ssh_dir_symlink_blocks_it_and_everything_after() {
    let mut state = ready_host("");
    state.ssh_dir = Node::Found(meta(Kind::Symlink, UID, GID, 0o777, 1));
    // inspect stops at the link, so nothing below it is known.
    state.authorized_keys = Node::Missing;
    state.authorized_keys_content = None;
    state.password = Password::Locked;
    let p = plan::plan(&tunnel_only(), &state);

    let ssh = ssh_dir_step(&p);
    assert_eq!(ssh.state, StepState::Blocked);
    assert!(ssh.detail.contains("symbolic link"), "{}", ssh.detail);
    let blocked_at = p.steps.iter().position(|s| s.state == StepState::Blocked);
    for later in [keys_file_step(&p), key_step(&p)] {
        // Typed: the step it waits for, not a sentence to match.
        assert_eq!(
            Some(later.state),
            blocked_at.map(|on| StepState::Waiting { on }),
            "{later:?}"
        );
    }
    // Earlier steps are not affected: done stays done, to do stays to do.
    assert_eq!(group_step(&p).state, StepState::Done);
    assert_eq!(unlock_step(&p).state, StepState::ToDo);
    assert_eq!(p.blocked().len(), 3, "{:?}", states(&p));
    assert_eq!(p.to_do(), 1);
}

#[test]
fn ssh_dir_symlink_on_a_fresh_host_blocks_only_what_follows() {
    let mut state = fresh_host();
    state.home = Node::Found(meta(Kind::Dir, 1500, 1500, 0o755, 3));
    state.ssh_dir = Node::Found(meta(Kind::Symlink, 1500, 1500, 0o777, 1));
    let p = plan::plan(&tunnel_only(), &state);
    assert_eq!(user_step(&p).state, StepState::ToDo);
    assert_eq!(home_step(&p).state, StepState::ToDo);
    assert_eq!(ssh_dir_step(&p).state, StepState::Blocked);
    assert!(keys_file_step(&p).state.is_stopped());
    assert!(key_step(&p).state.is_stopped());
}

#[test]
fn home_that_is_not_a_directory_is_blocked() {
    let mut state = ready_host(&ready_content());
    state.home = Node::Found(meta(Kind::Symlink, 0, 0, 0o777, 1));
    let p = plan::plan(&tunnel_only(), &state);
    assert_eq!(home_step(&p).state, StepState::Blocked);
    assert!(home_step(&p).detail.contains("symbolic link"));
}

#[test]
fn authorized_keys_with_two_links_or_not_a_file_is_blocked() {
    for (node, words) in [
        (meta(Kind::File, UID, GID, 0o600, 2), "hard link"),
        (meta(Kind::Symlink, UID, GID, 0o777, 1), "symbolic link"),
        (meta(Kind::Dir, UID, GID, 0o700, 2), "directory"),
        (meta(Kind::Other, UID, GID, 0o600, 1), "not a regular file"),
    ] {
        let mut state = ready_host("");
        state.authorized_keys = Node::Found(node);
        // Not read: inspect never reads a file it would refuse to write.
        state.authorized_keys_content = None;
        let p = plan::plan(&tunnel_only(), &state);
        let file = keys_file_step(&p);
        assert_eq!(file.state, StepState::Blocked, "{node:?}");
        assert!(file.detail.contains(words), "{}", file.detail);
        let key = key_step(&p);
        assert!(
            matches!(key.state, StepState::Waiting { on } if p.steps[on].state == StepState::Blocked),
            "{node:?}: {key:?}"
        );
        assert_eq!(p.to_do(), 0);
    }
}

#[test]
fn wrong_owner_or_mode_of_ssh_files_is_to_do() {
    let mut state = ready_host(&ready_content());
    state.ssh_dir = Node::Found(meta(Kind::Dir, UID, GID, 0o755, 2));
    state.authorized_keys = Node::Found(meta(Kind::File, 0, 0, 0o644, 1));
    let p = plan::plan(&tunnel_only(), &state);
    let ssh = ssh_dir_step(&p);
    assert_eq!(ssh.state, StepState::ToDo);
    assert!(ssh.detail.contains("0755"), "{}", ssh.detail);
    let file = keys_file_step(&p);
    assert_eq!(file.state, StepState::ToDo);
    assert!(
        file.detail.contains("0:0") && file.detail.contains("0644"),
        "{}",
        file.detail
    );
    assert_eq!(key_step(&p).state, StepState::Done);
    assert_eq!(p.to_do(), 2);
}

#[test]
fn locked_or_empty_password_gets_the_unlock_step() {
    for password in [
        Password::Locked,
        Password::Empty,
        Password::Unknown("reading /etc/shadow needs root".into()),
    ] {
        let mut state = ready_host(&ready_content());
        state.password = password.clone();
        let p = plan::plan(&tunnel_only(), &state);
        let unlock = unlock_step(&p);
        assert_eq!(unlock.state, StepState::ToDo, "{password:?}");
        assert_eq!(unlock.command, "usermod -p '*' whaly");
        assert_eq!(p.to_do(), 1, "{:?}", states(&p));
    }
}

#[test]
fn missing_shell_gets_a_set_shell_step() {
    let mut state = ready_host(&ready_content());
    state.shell = Some(ShellState::Missing);
    if let Some(a) = state.user.as_mut() {
        a.shell = PathBuf::from("/bin/zsh");
    }
    let p = plan::plan(&tunnel_only(), &state);
    let shell = step(&p, |a| matches!(a, Action::SetShell { .. }));
    assert_eq!(shell.state, StepState::ToDo);
    assert_eq!(shell.command, "usermod -s /usr/sbin/nologin whaly");
    assert!(shell.detail.contains("/bin/zsh"), "{}", shell.detail);

    let p = plan::plan(
        &request(Access {
            allow_shell: true,
            permit_open: vec![],
            ..Access::default()
        }),
        &state,
    );
    let shell = step(&p, |a| matches!(a, Action::SetShell { .. }));
    assert_eq!(shell.command, "usermod -s /bin/sh whaly");
}

/// `useradd -U` only where it makes exactly what was asked: a new group named like the
/// new user. Another group name, or a group that exists, keeps `groupadd` / `-g`.
#[test]
fn the_group_is_made_with_the_user_only_when_both_are_new_and_named_alike() {
    let mut req = tunnel_only();
    req.group = "vendors".into();
    let p = plan::plan(&req, &fresh_host());
    assert_eq!(group_step(&p).command, "groupadd vendors");
    assert_eq!(
        user_step(&p).command,
        "useradd -m -g vendors -s /usr/sbin/nologin -p '*' whaly"
    );
    let mut state = fresh_host();
    state.group = Some(1001);
    let p = plan::plan(&tunnel_only(), &state);
    assert_eq!(group_step(&p).state, StepState::Done);
    assert!(user_step(&p).command.contains("-g whaly"));
}

#[test]
fn allow_shell_creates_the_user_without_nologin_and_installs_the_bare_key() {
    let req = request(Access {
        allow_shell: true,
        permit_open: vec![],
        ..Access::default()
    });
    let p = plan::plan(&req, &fresh_host());
    let user = user_step(&p);
    assert_eq!(user.command, "useradd -m -U -p '*' whaly");
    assert!(!user.command.contains("-s"), "{}", user.command);
    assert_eq!(
        user.action,
        Action::CreateUser {
            shell: None,
            own_group: true
        }
    );
    let bare = format!("ssh-ed25519 {DATA} vendor@example.com");
    assert_eq!(p.key_line.as_deref(), Some(bare.as_str()));

    // The tunnel-only line already installed is replaced by the bare one.
    let p = plan::plan(&req, &ready_host(&ready_content()));
    assert!(key_step(&p).title.starts_with("Update"));
}

#[test]
fn no_key_means_no_key_step() {
    let mut req = tunnel_only();
    req.key = None;
    let p = plan::plan(&req, &fresh_host());
    assert!(p.key_line.is_none());
    assert!(!p
        .steps
        .iter()
        .any(|s| matches!(s.action, Action::InstallKey { .. })));
    assert_eq!(p.to_do(), 4);
}

#[test]
fn selinux_relabel_step() {
    let mut state = ready_host(&ready_content());
    state.selinux = true;
    state.restorecon_available = true;
    let p = plan::plan(&tunnel_only(), &state);
    let relabel = step(&p, |a| matches!(a, Action::RestoreLabels));
    assert_eq!(relabel.state, StepState::Done);
    assert_eq!(relabel.command, "restorecon -R /home/whaly/.ssh");

    state.selinux_relabel_needed = true;
    let p = plan::plan(&tunnel_only(), &state);
    assert_eq!(
        step(&p, |a| matches!(a, Action::RestoreLabels)).state,
        StepState::ToDo
    );

    // SELinux on without restorecon: the step cannot run, so nothing starts.
    state.restorecon_available = false;
    let p = plan::plan(&tunnel_only(), &state);
    let relabel = step(&p, |a| matches!(a, Action::RestoreLabels));
    assert_eq!(relabel.state, StepState::Blocked);
    assert!(relabel.detail.contains("policycoreutils"));

    // Any file change means a relabel afterwards.
    let mut state = fresh_host();
    state.selinux = true;
    state.restorecon_available = true;
    let p = plan::plan(&tunnel_only(), &state);
    assert_eq!(
        p.steps.last().map(|s| (&s.action, s.state)),
        Some((&Action::RestoreLabels, StepState::ToDo))
    );

    // Without SELinux there is no such step.
    let p = plan::plan(&tunnel_only(), &fresh_host());
    assert!(!p
        .steps
        .iter()
        .any(|s| matches!(s.action, Action::RestoreLabels)));
}

/// The key step's command is shown as "the shell command a person would type": run
/// through `sh`, it must write exactly the planned line, whatever the key's comment holds.
#[test]
fn key_step_command_writes_exactly_the_line_in_sh() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".ssh")).unwrap();
    let comments = [
        "vendor@example.com",
        "it's the vendor's key",
        r"back\slash \n \c \t",
        "$(touch pwned) `touch pwned2` $HOME \"quoted\"",
        "'; touch pwned3; echo '",
    ];
    for comment in comments {
        let key = key::parse(&format!("ssh-ed25519 {DATA} {comment}")).unwrap();
        assert_eq!(key.comment, comment);
        let mut req = tunnel_only();
        req.key = Some(key);
        let mut state = fresh_host();
        state.home_path = dir.path().to_path_buf();
        let p = plan::plan(&req, &state);
        let file = dir.path().join(".ssh/authorized_keys");
        let _ = std::fs::remove_file(&file);
        let status = Command::new("sh")
            .arg("-c")
            .arg(&key_step(&p).command)
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "{}", key_step(&p).command);
        let written = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            written,
            format!("{}\n", p.key_line.as_ref().unwrap()),
            "command {}",
            key_step(&p).command
        );
        for pwned in ["pwned", "pwned2", "pwned3"] {
            assert!(!dir.path().join(pwned).exists(), "{}", key_step(&p).command);
        }
    }
}

// ---------------------------------------------------------------------------------------
// validate
// ---------------------------------------------------------------------------------------

#[test]
fn validate_accepts_a_normal_request() {
    assert_eq!(plan::validate(&tunnel_only(), &fresh_host()), Ok(()));
    assert_eq!(
        plan::validate(&tunnel_only(), &ready_host(&ready_content())),
        Ok(())
    );
    // uid exactly UID_MIN is a normal account.
    let mut state = ready_host("");
    state.user.as_mut().unwrap().uid = 1000;
    assert_eq!(plan::validate(&tunnel_only(), &state), Ok(()));
    for name in ["whaly", "_svc", "a", "data-vendor_01", &"a".repeat(32)] {
        let mut req = tunnel_only();
        req.user = name.to_string();
        req.group = name.to_string();
        assert_eq!(plan::validate(&req, &fresh_host()), Ok(()), "{name:?}");
    }
}

#[test]
fn validate_refuses_root() {
    let mut req = tunnel_only();
    req.user = "root".into();
    let err = plan::validate(&req, &fresh_host()).unwrap_err().to_string();
    assert!(err.contains("root"), "{err}");
    // Also when the host says root exists with uid 0.
    let mut state = ready_host("");
    state.user.as_mut().unwrap().uid = 0;
    assert!(plan::validate(&req, &state).is_err());
}

#[test]
fn validate_refuses_an_existing_system_account() {
    let mut req = tunnel_only();
    req.user = "daemon".into();
    for uid in [1, 999] {
        let mut state = ready_host("");
        state.user.as_mut().unwrap().uid = uid;
        let err = plan::validate(&req, &state).unwrap_err().to_string();
        assert!(err.contains(&uid.to_string()), "{err}");
        assert!(err.contains("1000"), "names UID_MIN: {err}");
    }
    // UID_MIN comes from the host.
    let mut state = ready_host("");
    state.uid_min = 500;
    state.user.as_mut().unwrap().uid = 600;
    assert_eq!(plan::validate(&req, &state), Ok(()));
}

#[test]
fn validate_refuses_bad_names() {
    let long = "a".repeat(33);
    for name in [
        "Whaly",
        "-x",
        "a b",
        long.as_str(),
        "",
        "1abc",
        "wha.ly",
        "whaly:",
        "wh/aly",
        "whäly",
    ] {
        let mut req = tunnel_only();
        req.user = name.to_string();
        let err = plan::validate(&req, &fresh_host()).unwrap_err().to_string();
        assert!(err.contains("user"), "{name:?}: {err}");

        let mut req = tunnel_only();
        req.group = name.to_string();
        let err = plan::validate(&req, &fresh_host()).unwrap_err().to_string();
        assert!(err.contains("group"), "{name:?}: {err}");
    }
}

#[test]
fn an_existing_full_shell_is_replaced_when_tunnel_only() {
    let mut state = ready_host(&ready_content());
    if let Some(account) = &mut state.user {
        account.shell = PathBuf::from("/bin/bash");
    }
    let p = plan::plan(&tunnel_only(), &state);
    let set = step(&p, |a| matches!(a, Action::SetShell { .. }));
    assert_eq!(set.state, StepState::ToDo);
    assert_eq!(set.command, "usermod -s /usr/sbin/nologin whaly");
    assert!(set.detail.contains("could run commands"), "{}", set.detail);

    let mut shell_ok = tunnel_only();
    shell_ok.access.allow_shell = true;
    let p = plan::plan(&shell_ok, &state);
    assert!(
        !p.steps
            .iter()
            .any(|s| matches!(s.action, Action::SetShell { .. })),
        "--allow-shell keeps it"
    );
}

#[test]
fn paths_of_another_living_account_are_never_taken_over() {
    // A home left by a deleted account (no owner account) is taken over.
    let mut state = fresh_host();
    state.home = Node::Found(meta(Kind::Dir, 1003, 1003, 0o750, 2));
    let p = plan::plan(&tunnel_only(), &state);
    assert_eq!(
        step(&p, |a| matches!(a, Action::SecureHome)).state,
        StepState::ToDo
    );

    // The same home owned by a living account is refused, and nothing after it runs.
    state.owners = vec![(1003, "carol".into())];
    let p = plan::plan(&tunnel_only(), &state);
    let home = step(&p, |a| matches!(a, Action::SecureHome));
    assert_eq!(home.state, StepState::Blocked);
    assert!(home.detail.contains("carol"), "{}", home.detail);

    // A file planted in ~/.ssh that belongs to someone else is refused too.
    let mut state = ready_host(&ready_content());
    state.authorized_keys = Node::Found(meta(Kind::File, 1004, 1004, 0o600, 1));
    state.owners = vec![(1004, "bob".into())];
    let p = plan::plan(&tunnel_only(), &state);
    let keys = step(&p, |a| matches!(a, Action::AuthorizedKeys));
    assert_eq!(keys.state, StepState::Blocked);
    assert!(keys.detail.contains("bob"));
}

#[test]
fn validate_refuses_a_group_that_is_not_the_users_or_a_system_group() {
    let mut state = ready_host(&ready_content());
    state.group = Some(50);
    let err = plan::validate(&tunnel_only(), &state)
        .unwrap_err()
        .to_string();
    assert!(err.contains("choose group whaly"), "{err}");

    let mut state = fresh_host();
    state.group = Some(27);
    let err = plan::validate(&tunnel_only(), &state)
        .unwrap_err()
        .to_string();
    assert!(err.contains("system group"), "{err}");
    state.group = Some(1000);
    assert!(plan::validate(&tunnel_only(), &state).is_ok());
}

#[test]
fn a_directory_account_is_not_unlocked_on_every_run() {
    let mut state = ready_host(&ready_content());
    state.password = Password::NotLocal;
    let p = plan::plan(&tunnel_only(), &state);
    assert_eq!(
        step(&p, |a| matches!(a, Action::Unlock)).state,
        StepState::Done
    );
    assert_eq!(p.to_do(), 0);
}

/// Done by hand, the update's command must give the file the merge gives it: the old
/// line replaced where it stood, a later duplicate dropped, every other line kept.
#[test]
fn the_update_command_replaces_the_line_in_place_as_the_merge_does() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".ssh")).unwrap();
    let file = dir.path().join(".ssh/authorized_keys");
    for comment in [
        "vendor@example.com",
        r"it's a back\slash \n",
        "$(touch pwned)",
    ] {
        let old = format!(
            "# keys\nssh-ed25519 {DATA} old-comment\nssh-ed25519 {OTHER} admin@corp\nno-pty ssh-ed25519 {DATA} dup\n"
        );
        let key = key::parse(&format!("ssh-ed25519 {DATA} {comment}")).unwrap();
        let mut req = tunnel_only();
        req.key = Some(key);
        let mut state = ready_host(&old);
        state.home_path = dir.path().to_path_buf();
        let p = plan::plan(&req, &state);
        let step = key_step(&p);
        assert!(step.title.starts_with("Update"), "{}", step.title);
        assert!(
            !step.command.contains(">>"),
            "not an append: {}",
            step.command
        );
        std::fs::write(&file, &old).unwrap();
        let status = Command::new("sh")
            .arg("-c")
            .arg(&step.command)
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "{}", step.command);
        let bastion_wizard::authorized_keys::Merge::Updated(merged) =
            bastion_wizard::authorized_keys::merge(
                old.as_bytes(),
                p.key_line.as_ref().unwrap(),
                DATA,
            )
        else {
            panic!("the merge updates");
        };
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            String::from_utf8(merged).unwrap(),
            "{}",
            step.command
        );
        assert!(!dir.path().join("pwned").exists());
    }
}

#[test]
fn turning_tunnel_only_off_gives_an_existing_user_a_login_shell() {
    let state = ready_host(&ready_content());
    assert!(plan::is_no_login(&state.user.as_ref().unwrap().shell));
    let mut req = tunnel_only();
    req.access.allow_shell = true;
    let p = plan::plan(&req, &state);
    let set = step(&p, |a| matches!(a, Action::SetShell { .. }));
    assert_eq!(set.state, StepState::ToDo);
    assert_eq!(set.command, "usermod -s /bin/sh whaly");
}

/// `--expires` on an sshd that would ignore the line is refused before any change.
#[test]
fn an_expiry_is_refused_where_sshd_does_not_know_it() {
    let today = bastion_wizard::dates::Date::parse_iso("2026-11-27").unwrap();
    let mut req = tunnel_only();
    req.access.expires =
        Some(bastion_wizard::authorized_keys::Expires::parse("2027-01-31", today).unwrap());
    let mut state = fresh_host();
    state.sshd_version = Some(bastion_wizard::sshd::Version { major: 7, minor: 4 });
    let err = plan::prepare(&req, &state).unwrap_err();
    assert!(
        matches!(err, plan::Refusal::ExpiryUnknown { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("OpenSSH 7.4"), "{err}");
    state.sshd_version = Some(bastion_wizard::sshd::Version { major: 7, minor: 7 });
    assert!(plan::prepare(&req, &state).is_ok());
}

#[test]
fn nobody_and_nogroup_are_refused_by_the_gate() {
    let mut req = tunnel_only();
    req.user = "nobody".into();
    req.group = "nogroup".into();
    let mut state = ready_host("");
    state.user.as_mut().unwrap().uid = plan::OVERFLOW_ID;
    state.user.as_mut().unwrap().gid = plan::OVERFLOW_ID;
    state.group = Some(plan::OVERFLOW_ID);
    let err = plan::prepare(&req, &state).unwrap_err();
    assert!(matches!(err, plan::Refusal::Nobody { .. }), "{err:?}");
    assert!(err.to_string().contains("nobody"), "{err}");
    // A group alone that is nogroup is refused too.
    let mut req = tunnel_only();
    req.group = "nogroup".into();
    let mut state = fresh_host();
    state.group = Some(plan::OVERFLOW_ID);
    assert!(matches!(
        plan::prepare(&req, &state),
        Err(plan::Refusal::Nobody { .. })
    ));
}

#[test]
fn refusals_name_no_command_line_flag() {
    let mut state = ready_host(&ready_content());
    state.group = Some(50);
    let err = plan::prepare(&tunnel_only(), &state)
        .unwrap_err()
        .to_string();
    assert!(!err.contains("--"), "{err}");
    let name = plan::check_name("Bad", "user").unwrap_err().to_string();
    assert!(name.contains("starting with a letter or _"), "{name}");
}

#[test]
fn details_say_where_the_host_stands_not_what_the_plan_does() {
    let p = plan::plan(&tunnel_only(), &fresh_host());
    let user = step(&p, |a| matches!(a, Action::CreateUser { .. }));
    assert!(
        user.detail.starts_with("user whaly does not exist yet"),
        "{}",
        user.detail
    );
    // A locked password under UsePAM yes: key logins work today; the detail says so.
    let mut state = ready_host(&ready_content());
    state.password = Password::Locked;
    let p = plan::plan(&tunnel_only(), &state);
    let unlock = unlock_step(&p);
    assert!(
        state.uses_pam() == unlock.detail.contains("work while"),
        "{}",
        unlock.detail
    );
    assert!(!unlock.title.contains('`'), "{}", unlock.title);
}

#[test]
fn plan_says_when_pasted_options_are_not_installed() {
    let key = key::parse(&format!(
        "from=\"10.0.0.0/8\",command=\"/bin/false\" ssh-ed25519 {DATA} vendor"
    ))
    .unwrap();
    let mut req = tunnel_only();
    req.key = Some(key.clone());
    let p = plan::plan(&req, &fresh_host());
    let text = bastion_wizard::cli::render_plan(&p, Some(&key));
    assert!(
        text.contains("from=\"10.0.0.0/8\",command=\"/bin/false\") are not installed"),
        "{text}"
    );
}

/// An expired account, or a password change PAM would demand, gets one `chage` step that
/// lifts both; neither, no step.
#[test]
fn an_expired_account_or_a_due_password_change_is_lifted_with_chage() {
    use bastion_wizard::login::{AccountDates, LoginGate};
    let mut state = ready_host(&ready_content());
    let aging = |p: &plan::Plan| {
        p.steps
            .iter()
            .find(|s| matches!(s.action, Action::ClearAging { .. }))
            .cloned()
    };
    assert!(aging(&plan::plan(&tunnel_only(), &state)).is_none());
    state.login = LoginGate {
        dates: AccountDates {
            last_change: Some(0),
            max_days: None,
            expire: Some(19_000),
        },
        today: 20_000,
        ..LoginGate::default()
    };
    let step = aging(&plan::plan(&tunnel_only(), &state)).expect("a chage step");
    assert_eq!(step.state, StepState::ToDo);
    assert!(
        step.command.starts_with("chage -E -1 -d "),
        "{}",
        step.command
    );
    assert!(step.command.ends_with(" -M -1 whaly"), "{}", step.command);
}
