//! `plan --format json|shell|ansible|cloud-init`: the same setup, for hosts other than
//! this one (a fleet, or an image). Every format is rendered from one `Fleet`, made from
//! the `Request` and the `Plan` that `apply` would run, so the account, the key line and
//! the sshd block are the ones apply writes, never a second copy of its rules.
//!
//! What an export assumes of its target: nothing about it is known here, so it describes
//! the whole desired state (group, user with `*` as password field, the shell, `~/.ssh`,
//! the key line, the sshd block) and each engine makes it so idempotently. The sshd block
//! is the one `--fix-sshd` writes on a fresh host (sshd on its defaults, drop-ins
//! included from `/etc/ssh/sshd_config.d`): an export never writes more than apply would
//! there. A target whose sshd blocks the tunnel in other ways is not repaired by an
//! export; `bastion-wizard status` on it says so (the Ansible play runs it where
//! installed), and `bastion-wizard apply --fix-sshd` there repairs it.

mod ansible;
mod cloud_init;
mod json;
mod shell;

use std::path::PathBuf;

use crate::plan::Plan;
use crate::setup::Request;
use crate::sshd_repair::{self, Repair};

/// The formats `plan` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Shell,
    Ansible,
    #[value(name = "cloud-init")]
    CloudInit,
}

/// The login shell a tunnel-only user gets on a fleet host (Debian, Ubuntu, RHEL alike).
pub const NOLOGIN: &str = "/usr/sbin/nologin";

/// The desired state, as every export writes it.
#[derive(Debug, Clone)]
pub struct Fleet<'a> {
    pub request: &'a Request,
    pub plan: &'a Plan,
    pub user: &'a str,
    pub group: &'a str,
    /// The shell a new user gets: nologin for tunnel-only, the system's default otherwise.
    pub new_shell: Option<PathBuf>,
    pub tunnel_only: bool,
    /// The exact authorized_keys line apply installs.
    pub key_line: &'a str,
    /// The key's base64 data, by which a line is "the same key".
    pub key_data: &'a str,
    /// The sshd block for a fresh host, when `--fix-sshd` asks for it and one is needed.
    pub dropin: Option<Repair>,
    /// What `--profile` names on a fleet host, so a check there judges the same vendor's
    /// addresses; `None` for the default profile.
    pub profile: Option<String>,
}

impl<'a> Fleet<'a> {
    /// `None` when the request carries no key (plan always has one).
    pub fn new(request: &'a Request, plan: &'a Plan, profile: Option<&str>) -> Option<Fleet<'a>> {
        let key = request.key.as_ref()?;
        let key_line = plan.key_line.as_deref()?;
        let tunnel_only = !request.access.allow_shell;
        Some(Fleet {
            request,
            plan,
            user: &plan.user,
            group: &plan.group,
            new_shell: tunnel_only.then(|| PathBuf::from(NOLOGIN)),
            tunnel_only,
            key_line,
            key_data: &key.data,
            dropin: request
                .fix_sshd
                .then(|| sshd_repair::fresh_host_dropin(request))
                .flatten(),
            profile: profile.map(|given| profile_word(request, given)),
        })
    }

    /// The key line's options field and the rest (`type data [comment]`), as apply writes
    /// them: the line is split where the key type starts.
    pub fn key_parts(&self) -> (Option<&'a str>, &'a str) {
        let key = self.request.key.as_ref().expect("a fleet has a key");
        let rest_start = self
            .key_line
            .find(&format!("{} {}", key.algorithm, key.data))
            .unwrap_or(0);
        let options = self.key_line[..rest_start].trim_end();
        (
            (!options.is_empty()).then_some(options),
            &self.key_line[rest_start..],
        )
    }

    /// The drop-in's path and exact content, when there is one.
    pub fn dropin_file(&self) -> Option<(String, String)> {
        self.dropin.as_ref().map(|r| {
            (
                r.file.display().to_string(),
                r.lines.iter().map(|l| format!("{l}\n")).collect(),
            )
        })
    }
}

/// Renders an export; `None` for `Text`, which the command line shows itself. `profile` is
/// the `--profile` given, if any.
pub fn render(
    format: Format,
    request: &Request,
    plan: &Plan,
    profile: Option<&str>,
) -> Option<String> {
    if format == Format::Json {
        return Some(json::render(request, plan));
    }
    let fleet = Fleet::new(request, plan, profile)?;
    match format {
        Format::Text | Format::Json => None,
        Format::Shell => Some(shell::render(&fleet)),
        Format::Ansible => Some(ansible::render(&fleet)),
        Format::CloudInit => Some(cloud_init::render(&fleet)),
    }
}

/// The built-in profile's name, which any bastion-wizard resolves; else the profile file,
/// by its absolute path (the fleet host needs the same file there).
fn profile_word(request: &Request, given: &str) -> String {
    if crate::profile::Profile::named(&request.vendor.profile).is_some() {
        return request.vendor.profile.clone();
    }
    std::fs::canonicalize(given)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| given.to_string())
}

/// A YAML scalar that YAML reads back as exactly `text`: a JSON string (JSON strings are
/// YAML double-quoted scalars), so no key comment can start a new key or document.
pub fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

/// One word for `sh`, single-quoted whatever it holds.
pub fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
