//! Read-only look at where the host stands, for every step of the guide.
//! Nothing here writes; `plan` and `status` are pure functions of what this returns.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use nix::unistd::{Group, User};

use std::net::IpAddr;

use crate::cloud::{self, Cloud};
use crate::connection::{self, HostKey};
use crate::dates::Clock;
use crate::firewall::{self, Fail2ban, Firewall};
use crate::login::{self, LoginGate};
use crate::logs::{self, Attempts};
use crate::safe_fs::{self, Meta};
use crate::setup::Request;
use crate::sshd::{self, Effective, Listener, Local};
use crate::sshd_paths::{self, Revocation};
use crate::sshd_repair::{self, SshdFiles};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
    /// Name of the primary group, when it resolves.
    pub group_name: Option<String>,
    pub home: PathBuf,
    pub shell: PathBuf,
}

/// The password field of /etc/shadow, which decides whether sshd calls the account locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// Not root, or /etc/shadow unreadable.
    Unknown(String),
    /// No line in /etc/shadow: the account comes from a directory (LDAP, SSSD).
    NotLocal,
    /// Starts with `!`: sshd refuses every login when `UsePAM no`.
    Locked,
    /// Empty: no password at all.
    Empty,
    /// `*` or a hash: key login works.
    Usable,
}

/// lstat of one path, or why it could not be looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Missing,
    Unreadable(String),
    Found(Meta),
}

impl Node {
    pub fn meta(&self) -> Option<&Meta> {
        match self {
            Node::Found(meta) => Some(meta),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellState {
    Executable,
    Missing,
    NotExecutable,
}

/// Facts about the machine, shown on the wizard's first screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub hostname: String,
    pub os: String,
    /// sshd's version (`OpenSSH_9.2p1`), read from its binary.
    pub openssh: String,
    /// Non-loopback addresses of this host, to help name it in the vendor's form.
    pub addresses: Vec<String>,
    /// The cloud this host runs in, when DMI tells.
    pub cloud: Option<Cloud>,
}

#[derive(Debug, Clone)]
pub struct HostState {
    pub is_root: bool,
    /// Accounts below this uid are the system's and never used as the tunnel user.
    pub uid_min: u32,
    /// Groups below this gid are the system's (sudo, docker…) and never the user's group.
    pub gid_min: u32,
    pub group: Option<u32>,
    pub user: Option<Account>,
    pub password: Password,
    pub shell: Option<ShellState>,
    pub home_path: PathBuf,
    pub home: Node,
    pub ssh_dir: Node,
    pub authorized_keys: Node,
    /// Accounts that own the home, ~/.ssh or authorized_keys, by uid: a file owned by a
    /// living account other than the tunnel user is never taken over.
    pub owners: Vec<(u32, String)>,
    /// Content of authorized_keys when it could be read safely.
    pub authorized_keys_content: Option<Vec<u8>>,
    pub nologin: PathBuf,
    pub selinux: bool,
    pub restorecon_available: bool,
    /// SELinux is on and `restorecon -n` would relabel ~/.ssh.
    pub selinux_relabel_needed: bool,
    /// `sshd -T -C` for the user from each vendor address, or why sshd could not be asked.
    pub sshd: Result<Vec<Effective>, String>,
    /// The host's packet filter and fail2ban bans, and what sshd's log says of the user.
    pub firewall: Firewall,
    pub fail2ban: Fail2ban,
    pub attempts: Attempts,
    /// The public halves of sshd's host keys, for the vendor's form.
    pub host_keys: Vec<HostKey>,
    /// sshd's configuration files, for planning `--fix-sshd`.
    pub sshd_files: SshdFiles,
    /// Listening TCP sockets here (from /proc/net/tcp) and who holds them.
    pub listeners: Vec<Listener>,
    /// Account expiry, forced password changes, /etc/nologin, pam_access.
    pub login: LoginGate,
    /// Each ChrootDirectory in force for the user, and why sshd could not chroot there.
    pub chroots: Vec<(String, Option<String>)>,
    /// Each RevokedKeys file in force, and what it says of the vendor's key.
    pub revoked: Vec<(String, Revocation)>,
    /// A Debian or Ubuntu build of sshd, whose StrictModes accept group write by a
    /// private group (upstream refuses it).
    pub sshd_debian: bool,
    /// The OpenSSH release sshd is, when its binary says: older ones ignore a key line
    /// whose options they do not know.
    pub sshd_version: Option<sshd::Version>,
    /// The user's groups, for AllowGroups and DenyGroups.
    pub user_groups: Vec<String>,
    /// The user's primary group has no other member.
    pub private_group_alone: bool,
    pub facts: HostFacts,
    /// Now, and the time zone sshd reads an `expiry-time` in.
    pub clock: Clock,
}

/// What the wizard says of the host while its first inspection runs.
pub const READING: &str = "reading the host…";

impl HostState {
    /// A host not read yet, which the wizard holds while its first inspection runs on a
    /// worker, so its first screen appears at once. Nothing in it is a finding: the
    /// screens say the host is being read and wait for it.
    pub fn not_read(is_root: bool, user: &str) -> HostState {
        HostState {
            is_root,
            uid_min: 1000,
            gid_min: 1000,
            group: None,
            user: None,
            password: Password::Unknown(READING.into()),
            shell: None,
            // The shell's name for a home not yet looked up.
            home_path: PathBuf::from(format!("~{user}")),
            home: Node::Unreadable(READING.into()),
            ssh_dir: Node::Unreadable(READING.into()),
            authorized_keys: Node::Unreadable(READING.into()),
            owners: Vec::new(),
            authorized_keys_content: None,
            nologin: PathBuf::from("/usr/sbin/nologin"),
            selinux: false,
            restorecon_available: false,
            selinux_relabel_needed: false,
            sshd: Err(READING.into()),
            firewall: Firewall {
                unreadable: Some(READING.into()),
                ..Firewall::default()
            },
            fail2ban: Fail2ban::default(),
            attempts: Attempts::default(),
            host_keys: Vec::new(),
            sshd_files: SshdFiles::default(),
            listeners: Vec::new(),
            login: LoginGate::default(),
            chroots: Vec::new(),
            revoked: Vec::new(),
            sshd_debian: false,
            sshd_version: None,
            user_groups: Vec::new(),
            private_group_alone: false,
            facts: HostFacts::default(),
            clock: Clock::utc_now(),
        }
    }

    /// The account owning `uid`, if it is a living account (not the tunnel user's files
    /// left behind by a deleted one).
    pub fn owner_account(&self, uid: u32) -> Option<&str> {
        self.owners
            .iter()
            .find(|(id, _)| *id == uid)
            .map(|(_, name)| name.as_str())
    }

    /// The ports sshd listens on (global settings, the same from every address); 22 when
    /// sshd could not be asked.
    pub fn ssh_ports(&self) -> Vec<u16> {
        self.sshd
            .as_ref()
            .ok()
            .and_then(|c| c.first())
            .map(|c| c.config.ports())
            .unwrap_or_else(|| vec![22])
    }

    /// Ports something listens on.
    pub fn listening_ports(&self) -> Vec<u16> {
        self.listeners.iter().map(|l| l.port).collect()
    }

    /// Whether sshd is on record: what can be seen of each configuration, for checks.
    pub fn uses_pam(&self) -> bool {
        self.sshd
            .as_ref()
            .ok()
            .and_then(|c| c.first())
            .is_some_and(|c| c.config.uses_pam())
    }

    pub fn ssh_dir_path(&self) -> PathBuf {
        self.home_path.join(".ssh")
    }

    pub fn authorized_keys_path(&self) -> PathBuf {
        self.home_path.join(".ssh/authorized_keys")
    }
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// What lies around the account: sshd's effective configuration, the packet filter, bans,
/// the log, listeners and the machine's facts. `status` and the wizard read it beside the
/// account; `apply` reads it while its steps run, since they change none of it.
pub struct Surroundings {
    is_root: bool,
    sshd_files: SshdFiles,
    addresses: Vec<String>,
    sshd: SshdAnswer,
    firewall: Firewall,
    fail2ban: Fail2ban,
    attempts: Attempts,
    listeners: Vec<Listener>,
    build: sshd::Build,
    facts: HostFacts,
}

impl Surroundings {
    /// Reads everything around the account, every slow reader (sshd -T, the log, the
    /// firewall tools, `ssh -V`) at once. With `account_changes`, `sshd -T` is left for
    /// `complete` where a `Match Group` block makes its answer depend on the account.
    pub fn read(request: &Request, account_changes: bool) -> Surroundings {
        let is_root = is_root();
        let sshd_files = sshd_repair::read_tree(is_root);
        let addresses = local_addresses();
        let ask_sshd = !(account_changes && sshd_files.matches_on("group"));
        let (sshd, firewall, fail2ban, attempts, listeners, build, facts) =
            std::thread::scope(|scope| {
                let sshd = ask_sshd
                    .then(|| scope.spawn(|| query_sshd(request, &sshd_files, &addresses, is_root)));
                let firewall = scope.spawn(|| firewall::read(is_root));
                let fail2ban = scope.spawn(|| firewall::read_fail2ban(is_root));
                let attempts = scope.spawn(|| logs::read(&request.user, is_root));
                let listeners = scope.spawn(sshd::listeners);
                let build = scope.spawn(sshd::read_build);
                let mut facts = host_facts(addresses.clone());
                let build = build.join().unwrap_or_default();
                facts.openssh = build.release.clone().unwrap_or_else(|| "not found".into());
                (
                    match sshd {
                        Some(h) => SshdAnswer::Asked(
                            h.join()
                                .unwrap_or_else(|_| Err("sshd -T could not be run".into())),
                        ),
                        None => SshdAnswer::Later,
                    },
                    firewall.join().unwrap_or_default(),
                    fail2ban.join().unwrap_or_default(),
                    attempts.join().unwrap_or_default(),
                    listeners.join().unwrap_or_default(),
                    build,
                    facts,
                )
            });
        Surroundings {
            is_root,
            sshd_files,
            addresses,
            sshd,
            firewall,
            fail2ban,
            attempts,
            listeners,
            build,
            facts,
        }
    }

    /// Only what the account steps of a plan follow, for `apply`'s own look under its
    /// lock: sshd's answer where the plan uses it (a repair, or an existing account whose
    /// password lock and aging depend on UsePAM), and nothing else; no process otherwise.
    fn for_plan(request: &Request) -> Surroundings {
        let is_root = is_root();
        let sshd_files = sshd_repair::read_tree(is_root);
        let addresses = local_addresses();
        let exists = User::from_name(&request.user).ok().flatten().is_some();
        let not_read = "not read: applying does not need it";
        let sshd = if request.fix_sshd || exists {
            SshdAnswer::Asked(query_sshd(request, &sshd_files, &addresses, is_root))
        } else {
            SshdAnswer::NotNeeded(not_read)
        };
        Surroundings {
            is_root,
            sshd_files,
            addresses,
            sshd,
            firewall: Firewall {
                unreadable: Some(not_read.into()),
                ..Firewall::default()
            },
            fail2ban: Fail2ban::default(),
            attempts: Attempts::default(),
            listeners: Vec::new(),
            // The plan refuses `--expires` where sshd would ignore the line; otherwise
            // only the checks judge by the build.
            build: if request.access.expires.is_some() {
                sshd::read_build()
            } else {
                sshd::Build::default()
            },
            facts: HostFacts::default(),
        }
    }
}

/// sshd's answer for the user, or why there is none yet.
enum SshdAnswer {
    Asked(Result<Vec<Effective>, String>),
    /// Asked once the account is in place: a `Match Group` block makes it depend on it.
    Later,
    /// Not asked: what it would say changes nothing that is read from this state.
    NotNeeded(&'static str),
}

/// `sshd -T -C` for the user from each vendor address; one run when no Match block looks at
/// the address, since every address then gets the same answer.
fn query_sshd(
    request: &Request,
    files: &SshdFiles,
    addresses: &[String],
    is_root: bool,
) -> Result<Vec<Effective>, String> {
    let all = &request.vendor_addrs;
    let asked: &[IpAddr] = if files.depends_on_address() {
        all
    } else {
        &all[..all.len().min(1)]
    };
    let locals = local_ends(files, addresses, all);
    sshd::query_all(&request.user, asked, &locals, is_root).map(|configs| {
        match configs.as_slice() {
            [one] if asked.len() < all.len() => sshd::same_everywhere(&one.config, all),
            _ => configs,
        }
    })
}

/// Looks at everything the guide touches, following no link inside the user's home.
/// The slow readers (sshd -T per address, the log, the firewall tools) run concurrently.
pub fn inspect(request: &Request) -> HostState {
    // The account's own lookups (NSS, /etc/shadow, the home) run beside them too.
    let (account, around) = std::thread::scope(|scope| {
        let account = scope.spawn(|| read_account(request, is_root()));
        let around = Surroundings::read(request, false);
        (account.join(), around)
    });
    let account = account.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    join(request, account, around)
}

/// What `apply` plans from: the account, its files and what their steps depend on.
/// The checks around the account are not read: a verdict never comes from this.
pub fn for_applying(request: &Request) -> HostState {
    complete(request, Surroundings::for_plan(request))
}

/// Reads the account and its files, and joins them with what was read around them.
pub fn complete(request: &Request, around: Surroundings) -> HostState {
    let account = read_account(request, around.is_root);
    join(request, account, around)
}

/// The account, its files and what decides its login, with nothing around it read yet:
/// no process but `restorecon -n` where SELinux is on.
fn read_account(request: &Request, is_root: bool) -> HostState {
    let group = Group::from_name(&request.group)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw());
    let user = User::from_name(&request.user)
        .ok()
        .flatten()
        .map(|u| Account {
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
            group_name: Group::from_gid(u.gid).ok().flatten().map(|g| g.name),
            home: u.dir,
            shell: u.shell,
        });
    let home_path = match &user {
        Some(account) => account.home.clone(),
        None => default_home_base().join(&request.user),
    };
    let shadow = is_root
        .then(|| std::fs::read_to_string("/etc/shadow"))
        .transpose();
    let password = match (&user, &shadow) {
        (None, _) => Password::Unknown("the user does not exist yet".into()),
        (Some(_), Ok(Some(text))) => password_from_shadow(text, &request.user),
        (Some(_), Ok(None)) => Password::Unknown("reading /etc/shadow needs root".into()),
        (Some(_), Err(e)) => Password::Unknown(format!("cannot read /etc/shadow: {e}")),
    };
    let login = if is_root {
        login::read(
            &request.user,
            shadow.as_ref().ok().and_then(|s| s.as_deref()),
        )
    } else {
        LoginGate::default()
    };
    let user_groups = user_groups(&request.user, &request.group);
    let private_group_alone = user
        .as_ref()
        .is_some_and(|a| group_is_private(a, &request.user));
    let shell = user.as_ref().map(|a| shell_state(&a.shell));
    // Looked at even before the user exists: a home left behind by an earlier account
    // keeps its old owner through `useradd -m`, and sshd then refuses it.
    let tree = look_at_home(&home_path);
    let selinux = selinux_enabled();
    let selinux_relabel_needed = selinux
        && tree.ssh_dir.meta().is_some()
        && restorecon_would_change(&home_path.join(".ssh"));
    HostState {
        is_root,
        uid_min: login_defs("UID_MIN", 1000),
        gid_min: login_defs("GID_MIN", 1000),
        group,
        user,
        password,
        shell,
        owners: [&tree.home, &tree.ssh_dir, &tree.authorized_keys]
            .iter()
            .filter_map(|node| node.meta())
            .filter_map(|meta| {
                let name = User::from_uid(nix::unistd::Uid::from_raw(meta.uid))
                    .ok()
                    .flatten()?
                    .name;
                Some((meta.uid, name))
            })
            .collect(),
        home: tree.home,
        ssh_dir: tree.ssh_dir,
        authorized_keys: tree.authorized_keys,
        authorized_keys_content: tree.content,
        home_path,
        nologin: nologin_shell(),
        selinux,
        restorecon_available: selinux && which("restorecon"),
        selinux_relabel_needed,
        login,
        user_groups,
        private_group_alone,
        ..HostState::not_read(is_root, &request.user)
    }
}

/// The account as read, with what lies around it, and what follows from both: each
/// ChrootDirectory and RevokedKeys in force, and the host keys.
fn join(request: &Request, mut state: HostState, around: Surroundings) -> HostState {
    let Surroundings {
        is_root,
        mut sshd_files,
        addresses,
        sshd,
        firewall,
        fail2ban,
        attempts,
        listeners,
        build,
        facts,
    } = around;
    let (sshd, asked) = match sshd {
        SshdAnswer::Asked(answer) => (answer, true),
        SshdAnswer::Later => (query_sshd(request, &sshd_files, &addresses, is_root), true),
        SshdAnswer::NotNeeded(why) => (Err(why.to_string()), false),
    };
    // Why sshd refused to answer, when it was asked: `sshd -t` names the line.
    if asked && sshd.is_err() && is_root {
        sshd_files.rejected = sshd_files.paths.test().err();
    }
    let configs: &[Effective] = sshd.as_ref().map(Vec::as_slice).unwrap_or_default();
    let mut chroots: Vec<(String, Option<String>)> = Vec::new();
    let mut revoked: Vec<(String, Revocation)> = Vec::new();
    for effective in configs {
        if let Some(dir) = effective
            .config
            .chroot_directory(&request.user, &state.home_path)
        {
            if !chroots.iter().any(|(d, _)| *d == dir) {
                let problem = sshd_paths::chroot_problem(&dir);
                chroots.push((dir, problem));
            }
        }
        if let Some(file) = effective.config.revoked_keys() {
            if !revoked.iter().any(|(f, _)| f == file) {
                revoked.push((
                    file.to_string(),
                    sshd_paths::revocation(file, request.key.as_ref()),
                ));
            }
        }
    }
    let host_key_paths: Vec<PathBuf> = configs
        .first()
        .map(|c| c.config.all("hostkey").iter().map(PathBuf::from).collect())
        .unwrap_or_default();
    state.host_keys = connection::read_host_keys(&host_key_paths);
    state.chroots = chroots;
    state.revoked = revoked;
    state.sshd = sshd;
    state.sshd_files = sshd_files;
    state.firewall = firewall;
    state.fail2ban = fail2ban;
    state.attempts = attempts;
    state.listeners = listeners;
    state.sshd_debian = build.debian;
    state.sshd_version = build.version;
    state.clock = clock_for(request, &state);
    state.facts = facts;
    state
}

/// The host's clock with its time zone (`date`, one process) where an `expiry-time` is to
/// be judged or written; otherwise now in UTC, so no process is run for nothing.
fn clock_for(request: &Request, state: &HostState) -> Clock {
    const OPTION: &[u8] = b"expiry-time";
    let has_expiry = state
        .authorized_keys_content
        .as_ref()
        .is_some_and(|content| {
            content
                .windows(OPTION.len())
                .any(|w| w.eq_ignore_ascii_case(OPTION))
        });
    if has_expiry || request.access.expires.is_some() {
        Clock::read()
    } else {
        Clock::utc_now()
    }
}

/// The user's authorized_keys as sshd would find it, walked without following links:
/// `Ok(None)` when the user, its home, ~/.ssh or the file does not exist; `Err` says why
/// it could not be read (another user's ~/.ssh needs root).
pub fn authorized_keys_of(user: &str) -> Result<Option<Vec<u8>>, String> {
    let Some(account) = nix::unistd::User::from_name(user).ok().flatten() else {
        return Ok(None);
    };
    let tree = look_at_home(&account.dir);
    for node in [&tree.home, &tree.ssh_dir, &tree.authorized_keys] {
        match node {
            Node::Missing => return Ok(None),
            Node::Unreadable(why) => return Err(why.clone()),
            Node::Found(_) => {}
        }
    }
    tree.content
        .map(Some)
        .ok_or_else(|| "authorized_keys is not a regular file that can be read".to_string())
}

/// Where the user's authorized_keys is (the default home for a user not made yet).
pub fn authorized_keys_path_of(user: &str) -> PathBuf {
    nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .map_or_else(|| default_home_base().join(user), |a| a.dir)
        .join(".ssh/authorized_keys")
}

struct Tree {
    home: Node,
    ssh_dir: Node,
    authorized_keys: Node,
    content: Option<Vec<u8>>,
}

impl Tree {
    fn absent() -> Tree {
        Tree {
            home: Node::Missing,
            ssh_dir: Node::Missing,
            authorized_keys: Node::Missing,
            content: None,
        }
    }
}

/// Walks home → .ssh → authorized_keys with lstat and O_NOFOLLOW opens; stops at the
/// first component that is missing, unreadable or not what it must be.
fn look_at_home(home: &Path) -> Tree {
    let mut tree = Tree::absent();
    let (parent, name) = match safe_fs::open_home_parent(home) {
        Ok(v) => v,
        Err(e) => {
            tree.home = Node::Unreadable(e.to_string());
            return tree;
        }
    };
    tree.home = stat_node(&parent, name);
    if !is_dir(&tree.home) {
        return tree;
    }
    let home_fd = match safe_fs::open_dir_at(&parent, name) {
        Ok(fd) => fd,
        Err(e) => {
            tree.ssh_dir = Node::Unreadable(e.to_string());
            return tree;
        }
    };
    let ssh = OsStr::new(".ssh");
    tree.ssh_dir = stat_node(&home_fd, ssh);
    if !is_dir(&tree.ssh_dir) {
        return tree;
    }
    let ssh_fd = match safe_fs::open_dir_at(&home_fd, ssh) {
        Ok(fd) => fd,
        Err(e) => {
            tree.authorized_keys = Node::Unreadable(e.to_string());
            return tree;
        }
    };
    let keys = OsStr::new("authorized_keys");
    tree.authorized_keys = stat_node(&ssh_fd, keys);
    if let Node::Found(meta) = &tree.authorized_keys {
        if safe_fs::check_regular(meta, keys).is_ok() {
            tree.content = safe_fs::open_regular_at(&ssh_fd, keys)
                .ok()
                .flatten()
                .and_then(|(mut file, _)| safe_fs::read_all(&mut file).ok());
        }
    }
    tree
}

fn stat_node(dir: impl std::os::fd::AsFd, name: &OsStr) -> Node {
    match safe_fs::stat_at(dir, name) {
        Ok(Some(meta)) => Node::Found(meta),
        Ok(None) => Node::Missing,
        Err(e) => Node::Unreadable(e.to_string()),
    }
}

fn is_dir(node: &Node) -> bool {
    matches!(node, Node::Found(m) if m.kind == safe_fs::Kind::Dir)
}

/// The user's groups as sshd sees them, for AllowGroups/DenyGroups.
fn user_groups(user: &str, fallback: &str) -> Vec<String> {
    let Ok(Some(found)) = User::from_name(user) else {
        return vec![fallback.to_string()];
    };
    let Ok(name) = std::ffi::CString::new(user) else {
        return vec![fallback.to_string()];
    };
    nix::unistd::getgrouplist(&name, found.gid)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|gid| Group::from_gid(gid).ok().flatten().map(|g| g.name))
        .collect()
}

/// Debian's sshd accepts group write when the group is the user's own: its primary group,
/// with no other member listed and no other account having it as primary group.
fn group_is_private(account: &Account, user: &str) -> bool {
    let Ok(Some(group)) = Group::from_gid(nix::unistd::Gid::from_raw(account.gid)) else {
        return false;
    };
    if group.mem.iter().any(|m| m != user) {
        return false;
    }
    let others_with_it = std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.first()?.to_string(), f.get(3)?.parse::<u32>().ok()?))
        })
        .any(|(name, gid)| gid == account.gid && name != user);
    !others_with_it
}

/// Judges field 2 of the user's /etc/shadow line the way sshd does when `UsePAM no`.
pub fn password_from_shadow(shadow: &str, user: &str) -> Password {
    let field = shadow
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&user))
        .and_then(|f| f.get(1).map(|s| s.to_string()));
    match field {
        None => Password::NotLocal,
        Some(f) if f.starts_with('!') => Password::Locked,
        Some(f) if f.is_empty() => Password::Empty,
        Some(_) => Password::Usable,
    }
}

fn shell_state(shell: &Path) -> ShellState {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(shell) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => ShellState::Executable,
        Ok(_) => ShellState::NotExecutable,
        Err(_) => ShellState::Missing,
    }
}

/// The system's "no login" shell: a tunnel needs no shell, and sshd still forwards.
pub fn nologin_shell() -> PathBuf {
    [
        "/usr/sbin/nologin",
        "/sbin/nologin",
        "/usr/bin/nologin",
        "/bin/false",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .unwrap_or_else(|| PathBuf::from("/usr/sbin/nologin"))
}

fn login_defs(name: &str, default: u32) -> u32 {
    std::fs::read_to_string("/etc/login.defs")
        .ok()
        .and_then(|text| login_defs_value(&text, name))
        .unwrap_or(default)
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

pub fn login_defs_value(text: &str, name: &str) -> Option<u32> {
    text.lines()
        .map(str::split_whitespace)
        .filter_map(|mut words| Some((words.next()?, words.next()?)))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| value.parse().ok())
}

/// Where useradd puts homes (`HOME=` in /etc/default/useradd), for users not yet created.
fn default_home_base() -> PathBuf {
    std::fs::read_to_string("/etc/default/useradd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("HOME=")
                    .map(|v| PathBuf::from(v.trim()))
            })
        })
        .unwrap_or_else(|| PathBuf::from("/home"))
}

pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

fn restorecon_would_change(path: &Path) -> bool {
    std::process::Command::new("restorecon")
        .args(["-n", "-v", "-R"])
        .arg(path)
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false)
}

/// The local ends a vendor's connection may arrive at, where Match blocks look at them:
/// this host's own addresses (not loopback, not the vendor's) and sshd's ports.
fn local_ends(files: &SshdFiles, addresses: &[String], vendor: &[IpAddr]) -> Vec<Local> {
    let by_addr = files.matches_on("localaddress");
    let by_port = files.matches_on("localport");
    if !by_addr && !by_port {
        return Vec::new();
    }
    let addrs: Vec<IpAddr> = if by_addr {
        addresses
            .iter()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .filter(|a| !vendor.contains(a))
            .collect()
    } else {
        vec![Local::ANY.addr]
    };
    let ports = if by_port {
        files.configured_ports()
    } else {
        vec![Local::ANY.port]
    };
    addrs
        .iter()
        .flat_map(|addr| {
            ports.iter().map(|port| Local {
                addr: *addr,
                port: *port,
            })
        })
        .collect()
}

fn host_facts(addresses: Vec<String>) -> HostFacts {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "unknown Linux".into());
    HostFacts {
        hostname,
        os,
        // From sshd's binary, beside the other readers (`sshd::read_build`).
        openssh: String::new(),
        addresses,
        cloud: cloud::detect(),
    }
}

fn local_addresses() -> Vec<String> {
    let Ok(interfaces) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut addresses: Vec<String> = interfaces
        .filter_map(|i| i.address)
        .filter_map(|a| a.as_sockaddr_in().map(|v4| v4.ip().to_string()))
        .filter(|ip| !ip.starts_with("127."))
        .collect();
    addresses.dedup();
    addresses
}
