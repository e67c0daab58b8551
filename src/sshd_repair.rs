//! `--fix-sshd`: repairs the sshd settings that block the tunnel user, scoped to that user
//! with a `Match User` block (or the smallest edit of an AllowUsers/AllowGroups line),
//! validated with `sshd -t`, verified per vendor address with `sshd -T -C`, rolled back
//! byte for byte otherwise, then reloaded (never restarted).
//!
//! sshd keeps, for each keyword, the first value it obtains; at connection time the lines
//! of the matching `Match` blocks replace the global ones. So the block must be the first
//! `Match` block sshd reads for the user: a drop-in that sorts first, or, without
//! drop-ins, just above the main file's first `Match` line.

mod files;
mod undo;
mod write;

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Result;

pub use files::{applies, split_line, Applies, Line, Place, SshdPaths, Tree};
pub use undo::{only_comments, undone};
pub use write::revert;

use crate::authorized_keys::PermitOpen;
use crate::inspect::HostState;
use crate::profile::Keepalive;
use crate::setup::Request;
use crate::sshd::{Effective, SshdConfig};
use crate::state_dir::StateDir;

/// sshd's configuration files as read by inspect, so the repair is planned purely.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshdFiles {
    /// Why the files could not be read, when they could not.
    pub unreadable: Option<String>,
    pub paths: SshdPaths,
    pub tree: Option<Tree>,
    /// `sshd -t`'s error when it rejects the configuration as it stands.
    pub rejected: Option<String>,
}

/// The repair as the plan shows it: where, the exact lines, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// The file the `Match User` block goes into.
    pub file: PathBuf,
    /// The exact lines written (the block), empty when only a line is edited.
    pub lines: Vec<String>,
    /// One sentence per failing setting that the repair mends.
    pub reasons: Vec<String>,
    pub placement: Placement,
    /// AllowUsers/AllowGroups lines that get one more name.
    pub edits: Vec<LineEdit>,
    /// Why the repair cannot be done by this program (DenyUsers, a rejected config…).
    pub blocked: Option<String>,
    /// What must hold afterwards, from every vendor address.
    pub want: Want,
    pub paths: SshdPaths,
}

/// Where the block goes in `Repair::file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A new drop-in file.
    NewFile,
    /// Our own drop-in from an earlier run, rewritten whole with the settings merged.
    ReplaceFile,
    /// Above this 1-based line (the main file's first `Match`).
    InsertBefore(usize),
    Append,
    /// No block: only `edits`.
    None,
}

/// One line that gets a name added at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineEdit {
    pub place: Place,
    /// Lower case keyword: `allowusers` or `allowgroups`.
    pub keyword: String,
    pub word: String,
    pub before: String,
    pub after: String,
}

/// What the tunnel needs of sshd, for the user from each vendor address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Want {
    pub user: String,
    /// The group added to AllowGroups (the user's primary group).
    pub group: String,
    pub groups: Vec<String>,
    pub key_type: Option<String>,
    pub targets: Vec<PermitOpen>,
    pub keepalive: Option<Keepalive>,
    pub addrs: Vec<IpAddr>,
    /// The user's home, against which AuthorizedKeysFile's tokens resolve.
    pub home: std::path::PathBuf,
}

impl Want {
    pub fn of(request: &Request, state: &HostState) -> Want {
        let group = state
            .user
            .as_ref()
            .and_then(|a| a.group_name.clone())
            .unwrap_or_else(|| request.group.clone());
        Want {
            user: request.user.clone(),
            groups: if state.user_groups.is_empty() {
                vec![group.clone()]
            } else {
                state.user_groups.clone()
            },
            group,
            key_type: request.key.as_ref().map(|k| k.algorithm.clone()),
            targets: request.db_targets(),
            keepalive: request.keepalive,
            addrs: request.vendor_addrs.clone(),
            home: state.home_path.clone(),
        }
    }
}

pub fn read_files_at(paths: SshdPaths, is_root: bool) -> SshdFiles {
    if !is_root {
        return SshdFiles {
            unreadable: Some("run as root to read sshd's configuration".into()),
            paths,
            ..SshdFiles::default()
        };
    }
    let (tree, rejected) = std::thread::scope(|scope| {
        let test = scope.spawn(|| paths.test().err());
        (Tree::read(&paths), test.join().unwrap_or(None))
    });
    match tree {
        Ok(tree) => SshdFiles {
            unreadable: None,
            tree: Some(tree),
            rejected,
            paths,
        },
        Err(why) => SshdFiles {
            unreadable: Some(why),
            rejected,
            paths,
            tree: None,
        },
    }
}

/// Reads the configuration tree without asking `sshd -t`: inspect asks it only when
/// `sshd -T` fails, since both parse the same files.
pub fn read_tree(is_root: bool) -> SshdFiles {
    let paths = SshdPaths::default();
    if !is_root {
        return SshdFiles {
            unreadable: Some("run as root to read sshd's configuration".into()),
            paths,
            ..SshdFiles::default()
        };
    }
    match Tree::read(&paths) {
        Ok(tree) => SshdFiles {
            tree: Some(tree),
            paths,
            ..SshdFiles::default()
        },
        Err(why) => SshdFiles {
            unreadable: Some(why),
            paths,
            ..SshdFiles::default()
        },
    }
}

impl SshdFiles {
    /// Whether sshd's answer can differ between vendor addresses: some Match block tests
    /// the address, host name or local end. Files that could not be read count as yes.
    pub fn depends_on_address(&self) -> bool {
        ["address", "host", "localaddress", "localport", "rdomain"]
            .iter()
            .any(|c| self.matches_on(c))
    }

    /// Whether a Match block that sets something tests `criterion` (unknown: yes).
    pub fn matches_on(&self, criterion: &str) -> bool {
        let Some(tree) = &self.tree else {
            return true;
        };
        tree.lines
            .iter()
            .filter_map(|l| l.under.as_ref())
            .any(|m| m.criteria.iter().any(|w| w.eq_ignore_ascii_case(criterion)))
    }

    /// The ports of `Port` and `ListenAddress` lines (22 when none).
    pub fn configured_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .tree
            .iter()
            .flat_map(|t| &t.lines)
            .filter(|l| l.under.is_none())
            .filter_map(|l| match l.keyword.as_str() {
                "port" => l.args.first()?.parse().ok(),
                "listenaddress" => l.args.first()?.rsplit_once(':')?.1.parse().ok(),
                _ => None,
            })
            .collect();
        ports.sort_unstable();
        ports.dedup();
        if ports.is_empty() {
            ports.push(22);
        }
        ports
    }
}

/// What `--fix-sshd` would change, or `None` when no sshd setting blocks the tunnel.
pub fn plan(request: &Request, state: &HostState) -> Option<Repair> {
    let want = Want::of(request, state);
    match &state.sshd {
        Ok(configs) => plan_with(&state.sshd_files, configs, &want),
        // sshd -T fails when the configuration is broken: never touched, the error shown
        // once (sshd -T's error is sshd -t's).
        Err(_) => state.sshd_files.rejected.as_ref().map(|rejected| {
            blocked_repair(
                &state.sshd_files,
                &want,
                vec!["sshd cannot read its configuration as it stands".into()],
                format!("{rejected}: fix it by hand first (sshd would not start with it); nothing is touched"),
            )
        }),
    }
}

/// The settings a block sets, in the order written, and why.
#[derive(Debug, Default)]
struct Needs {
    settings: Vec<(String, String)>,
    reasons: Vec<String>,
    allow_users: bool,
    allow_groups: bool,
    denied: Vec<String>,
}

impl Needs {
    fn set(&mut self, keyword: &str, value: String, reason: String) {
        if !self.settings.iter().any(|(k, _)| k == keyword) {
            self.settings.push((keyword.to_string(), value));
        }
        if !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
    }

    fn is_empty(&self) -> bool {
        self.settings.is_empty()
            && !self.allow_users
            && !self.allow_groups
            && self.denied.is_empty()
    }
}

/// The problems `sshd -T -C` shows for the user from one address: each a reason, with the
/// setting that mends it. Used to plan and, after writing, to verify.
pub fn problems(config: &SshdConfig, want: &Want) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    let mut add = |k: &str, v: String, why: String| found.push((k.to_string(), v, why));
    if config
        .get("disableforwarding")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
    {
        add(
            "DisableForwarding",
            "no".into(),
            "DisableForwarding yes forbids the tunnel".into(),
        );
    }
    if let Some(v) = config.get("allowtcpforwarding") {
        if v.eq_ignore_ascii_case("no") || v.eq_ignore_ascii_case("remote") {
            add(
                "AllowTcpForwarding",
                "local".into(),
                format!("AllowTcpForwarding {v} forbids `ssh -L`"),
            );
        }
    }
    if let Some(value) = config.permit_open_problem(&want.targets) {
        let fix = if want.targets.is_empty() {
            "any".to_string()
        } else {
            want.targets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        add("PermitOpen", fix, value);
    }
    if config
        .get("pubkeyauthentication")
        .is_some_and(|v| v.eq_ignore_ascii_case("no"))
    {
        add(
            "PubkeyAuthentication",
            "yes".into(),
            "PubkeyAuthentication no refuses every key".into(),
        );
    }
    // Judged alone: pubkey_problem names PubkeyAuthentication first when both fail.
    let keys_files = SshdConfig::parse(&format!(
        "authorizedkeysfile {}\n",
        config.all("authorizedkeysfile").join(" ")
    ));
    if let Some(why) = keys_files.pubkey_problem(&want.user, &want.home) {
        let mut files: Vec<&str> = config
            .all("authorizedkeysfile")
            .into_iter()
            .filter(|f| !f.eq_ignore_ascii_case("none"))
            .collect();
        files.push(".ssh/authorized_keys");
        add("AuthorizedKeysFile", files.join(" "), why);
    }
    if let Some(key_type) = &want.key_type {
        if let Err(why) = config.accepts_key_type(key_type) {
            // In a Match block `+` adds to sshd's default list (observed with 9.2).
            let add_list = if key_type == "ssh-rsa" {
                "+rsa-sha2-512,rsa-sha2-256".to_string()
            } else {
                format!("+{key_type}")
            };
            add("PubkeyAcceptedAlgorithms", add_list, why);
        }
    }
    if let Some(why) = config.auth_methods_problem() {
        add("AuthenticationMethods", "publickey".into(), why);
    }
    if let Some(wanted) = want.keepalive {
        if let Some(why) = config.keepalive_problem(wanted) {
            add(
                "ClientAliveInterval",
                wanted.interval.to_string(),
                why.clone(),
            );
            add("ClientAliveCountMax", wanted.count_max.to_string(), why);
        }
    }
    found
}

fn needs(configs: &[Effective], want: &Want) -> Needs {
    let mut needs = Needs::default();
    for effective in configs {
        for (keyword, value, why) in problems(&effective.config, want) {
            needs.set(&keyword, value, why);
        }
        let config = &effective.config;
        let user_matches = |p: &&str| {
            crate::patterns::wildcard_match(p.split('@').next().unwrap_or(p), &want.user)
        };
        let group_matches = |p: &&str| {
            want.groups
                .iter()
                .any(|g| crate::patterns::wildcard_match(p, g))
        };
        for p in config.all("denyusers").iter().filter(|p| user_matches(p)) {
            needs.denied.push(format!("DenyUsers {p}"));
        }
        for p in config.all("denygroups").iter().filter(|p| group_matches(p)) {
            needs.denied.push(format!("DenyGroups {p}"));
        }
        let allow = config.all("allowusers");
        if !allow.is_empty() && !allow.iter().any(user_matches) {
            needs.allow_users = true;
        }
        let allow = config.all("allowgroups");
        if !allow.is_empty() && !allow.iter().any(group_matches) {
            needs.allow_groups = true;
        }
    }
    needs.denied.dedup();
    needs
}

fn blocked_repair(files: &SshdFiles, want: &Want, reasons: Vec<String>, why: String) -> Repair {
    Repair {
        file: files.paths.config.clone(),
        lines: Vec::new(),
        reasons,
        placement: Placement::None,
        edits: Vec::new(),
        blocked: Some(why),
        want: want.clone(),
        paths: files.paths.clone(),
    }
}

/// The drop-in's name: `00-` so it is the first file of the directory sshd reads.
pub fn dropin_name(user: &str) -> String {
    format!("00-bastion-wizard-{user}.conf")
}

/// Short enough to stay one line on an 80-column Review screen: a wrapped comment would
/// read as a setting to anyone copying the block by hand.
const MARK: &str = "# bastion-wizard: the vendor's tunnel user";

/// Plans from the files and the effective configurations: pure, for tests.
pub fn plan_with(files: &SshdFiles, configs: &[Effective], want: &Want) -> Option<Repair> {
    let mut needs = needs(configs, want);
    if needs.is_empty() {
        return None;
    }
    if let Some(rejected) = &files.rejected {
        return Some(blocked_repair(
            files,
            want,
            needs.reasons,
            format!("{rejected}: fix it by hand first; nothing is touched"),
        ));
    }
    let Some(tree) = &files.tree else {
        let why = files
            .unreadable
            .clone()
            .unwrap_or_else(|| "sshd's configuration was not read".into());
        return Some(blocked_repair(files, want, needs.reasons, why));
    };
    if !needs.denied.is_empty() {
        let lines: Vec<String> = tree
            .lines
            .iter()
            .filter(|l| l.keyword == "denyusers" || l.keyword == "denygroups")
            .filter(|l| {
                let names = if l.keyword == "denyusers" {
                    vec![want.user.clone()]
                } else {
                    want.groups.clone()
                };
                l.args.iter().any(|p| {
                    names.iter().any(|n| {
                        crate::patterns::wildcard_match(p.split('@').next().unwrap_or(p), n)
                    })
                })
            })
            .map(|l| format!("`{}` at {}", l.text.trim(), l.place))
            .collect();
        let shown = if lines.is_empty() {
            needs.denied.join(", ")
        } else {
            lines.join(", ")
        };
        needs
            .reasons
            .push(format!("{} refuses {}", needs.denied.join(", "), want.user));
        return Some(blocked_repair(
            files,
            want,
            needs.reasons,
            format!(
                "{shown} denies {}: a deny rule is someone's decision and is not edited here; remove {} from it by hand if the vendor should get in, then rerun",
                want.user, want.user
            ),
        ));
    }
    let mut edits = Vec::new();
    for (wanted, keyword, word) in [
        (needs.allow_users, "allowusers", &want.user),
        (needs.allow_groups, "allowgroups", &want.group),
    ] {
        if !wanted {
            continue;
        }
        let Some(line) = line_to_widen(tree, keyword, want) else {
            return Some(blocked_repair(files, want, needs.reasons, format!("sshd reports {keyword} but no such line was found in the files read; add {word} to it by hand")));
        };
        let after = add_word(&line.text, word);
        needs.reasons.push(format!(
            "{} at {} leaves out {word}: {word} is added to it",
            line.text.trim(),
            line.place
        ));
        edits.push(LineEdit {
            place: line.place.clone(),
            keyword: keyword.to_string(),
            word: word.clone(),
            before: line.text.clone(),
            after,
        });
    }
    let (file, placement, lines) = if needs.settings.is_empty() {
        let file = edits
            .first()
            .map(|e| e.place.file.clone())
            .unwrap_or_else(|| files.paths.config.clone());
        (file, Placement::None, Vec::new())
    } else {
        place_block(files, tree, want, &needs.settings)
    };
    Some(Repair {
        file,
        lines,
        reasons: needs.reasons,
        placement,
        edits,
        blocked: None,
        want: want.clone(),
        paths: files.paths.clone(),
    })
}

/// The AllowUsers/AllowGroups line sshd uses for the user: in matching `Match` blocks the
/// first one (they replace the global list), else the last global one.
fn line_to_widen<'a>(tree: &'a Tree, keyword: &str, want: &Want) -> Option<&'a Line> {
    let lines = tree.lines.iter().filter(|l| l.keyword == keyword);
    let in_match = lines.clone().find(|l| {
        l.under.as_ref().is_some_and(|m| {
            want.addrs
                .iter()
                .any(|a| applies(&m.criteria, &want.user, &want.groups, *a) != Applies::No)
        })
    });
    in_match.or_else(|| {
        tree.lines
            .iter()
            .rfind(|l| l.keyword == keyword && l.under.is_none())
    })
}

/// The line with `word` added after its last name, before any trailing comment.
pub fn add_word(text: &str, word: &str) -> String {
    let body_end = text
        .char_indices()
        .find(|(i, c)| *c == '#' && text[..*i].ends_with(char::is_whitespace))
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let body = text[..body_end].trim_end();
    format!("{body} {word}{}", &text[body.len()..])
}

fn place_block(
    files: &SshdFiles,
    tree: &Tree,
    want: &Want,
    settings: &[(String, String)],
) -> (PathBuf, Placement, Vec<String>) {
    let header = format!("Match User {}", want.user);
    let dropin_dir = tree
        .dropin_include(&files.paths.ssh_dir)
        .and_then(|(line, dir)| {
            // An Include under a Match that may leave the user out cannot carry the block.
            let usable = line.under.as_ref().is_none_or(|m| {
                want.addrs
                    .iter()
                    .all(|a| applies(&m.criteria, &want.user, &want.groups, *a) == Applies::Yes)
            });
            usable.then_some(dir)
        });
    let body = |settings: &[(String, String)]| {
        let mut lines = vec![MARK.to_string(), header.clone()];
        lines.extend(settings.iter().map(|(k, v)| format!("    {k} {v}")));
        lines
    };
    if let Some(dir) = dropin_dir {
        let path = dir.join(dropin_name(&want.user));
        return match tree.file(&path) {
            Some(_) => {
                // Our file from an earlier run: keep its settings, the new ones replace same keywords.
                let mut merged: Vec<(String, String)> = settings.to_vec();
                for line in tree
                    .lines
                    .iter()
                    .filter(|l| l.place.file == path && l.under.is_some())
                {
                    if !merged
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case(&line.keyword))
                    {
                        let keyword = line
                            .text
                            .split_whitespace()
                            .next()
                            .unwrap_or(&line.keyword)
                            .to_string();
                        merged.push((keyword, line.args.join(" ")));
                    }
                }
                (path, Placement::ReplaceFile, body(&merged))
            }
            None => (path, Placement::NewFile, body(settings)),
        };
    }
    let main = &files.paths.config;
    let text = tree
        .file(main)
        .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
        .unwrap_or_default();
    let first_match = text
        .lines()
        .position(|l| split_line(l).is_some_and(|(k, _)| k == "match"))
        .map(|i| i + 1);
    let placement = first_match.map_or(Placement::Append, Placement::InsertBefore);
    (main.clone(), placement, body(settings))
}

/// Applies the repair: backup, write, `sshd -t`, verify, reload; restores every file on
/// any failure.
pub fn apply(repair: &Repair, _request: &Request, state_dir: &StateDir) -> Result<()> {
    apply_repair(repair, state_dir)
}

/// The same, for a repair whose `paths` say where sshd and its files are (tests).
pub fn apply_repair(repair: &Repair, state_dir: &StateDir) -> Result<()> {
    write::apply(repair, state_dir)
}

/// The effective configurations for the user from each address, asked of `paths`' sshd.
pub fn effective_all(
    paths: &SshdPaths,
    user: &str,
    addrs: &[IpAddr],
) -> Result<Vec<Effective>, String> {
    addrs
        .iter()
        .map(|addr| {
            paths.effective(user, *addr).map(|text| Effective {
                addr: *addr,
                local: None,
                config: SshdConfig::parse(&text),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;

/// sshd's compiled-in settings, as `sshd -T` printed them with an empty configuration.
const SSHD_DEFAULTS: &str = include_str!("../assets/sshd/defaults-9.2.txt");

/// What `--fix-sshd` writes on a fresh host: sshd on its defaults, its main file
/// including `/etc/ssh/sshd_config.d/*.conf` (Debian's and Ubuntu's layout). The exports
/// carry this block, so they never write more than apply would there. `None`: nothing to
/// repair on such a host. Planned by the same `plan_with` as apply's repair.
pub fn fresh_host_dropin(request: &Request) -> Option<Repair> {
    let group = request.group.clone();
    let want = Want {
        user: request.user.clone(),
        groups: vec![group.clone()],
        group,
        key_type: request.key.as_ref().map(|k| k.algorithm.clone()),
        targets: request.db_targets(),
        keepalive: request.keepalive,
        addrs: request.vendor_addrs.clone(),
        home: PathBuf::from("/home").join(&request.user),
    };
    let defaults: String = SSHD_DEFAULTS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let config = SshdConfig::parse(&defaults);
    let addrs = if want.addrs.is_empty() {
        vec![IpAddr::from([0, 0, 0, 0])]
    } else {
        want.addrs.clone()
    };
    let configs: Vec<Effective> = addrs
        .iter()
        .map(|addr| Effective {
            addr: *addr,
            local: None,
            config: config.clone(),
        })
        .collect();
    let paths = SshdPaths {
        config: "/etc/ssh/sshd_config".into(),
        ssh_dir: "/etc/ssh".into(),
        sshd: "/usr/sbin/sshd".into(),
        systemd_marker: "/run/systemd/system".into(),
    };
    let tree = Tree::from_texts(
        &[(
            "/etc/ssh/sshd_config",
            "Include /etc/ssh/sshd_config.d/*.conf\n",
        )],
        &paths.ssh_dir,
    );
    let files = SshdFiles {
        unreadable: None,
        paths,
        tree: Some(tree),
        rejected: None,
    };
    plan_with(&files, &configs, &want)
}
