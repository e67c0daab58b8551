//! `keys` and the Welcome screen's list: every key line of the user's authorized_keys with
//! what an auditor asks (which key, added by whom, until when, last used when) and what
//! sshd would make of it (the line that wins, lines it skips, options that stop the
//! tunnel). Pure over the file's bytes, the ledger and the log; `read` gathers them.

use std::net::IpAddr;

use serde::Serialize;

use crate::authorized_keys::{self, KeyOptions, PermitOpen};
use crate::dates::{Clock, ExpiryTime};
use crate::key;
use crate::ledger::Ledger;
use crate::logs::Accepted;
use crate::setup::Request;
use crate::sshd::Version;
use crate::state_dir::StateDir;

/// The user's key lines, or why they could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KeyList {
    pub user: String,
    pub keys: Vec<KeyLine>,
    /// Why the file could not be read (as non-root: another user's ~/.ssh is 0700).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
    /// Why last logins are unknown, when the sshd log could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_unreadable: Option<String>,
}

/// One key line, in `keys --json`'s shape (interface.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyLine {
    /// `SHA256:...` as `ssh-keygen -l` prints it; empty when the data is not a key.
    pub fingerprint: String,
    #[serde(rename = "type")]
    pub key_type: String,
    pub bits: Option<u32>,
    pub comment: String,
    /// The options field as written; empty when there is none.
    pub options: String,
    /// 1-based line number in the file.
    pub line: usize,
    pub added_by_us: bool,
    /// When sshd starts refusing the key (`expiry-time` read in the host's time zone), as
    /// an ISO date and time in UTC.
    pub expires: Option<String>,
    /// Days from today to the key's last day on the host's calendar: 0 on the last day,
    /// negative once it has expired.
    pub days_left: Option<i64>,
    /// When sshd last accepted this key for the user, as the log gives it.
    pub last_login: Option<String>,
    /// What sshd makes of the line, worst first; empty when the line is fine.
    pub flags: Vec<Flag>,
    /// Key data, to revoke the line by key; not printed.
    #[serde(skip)]
    pub data: String,
}

/// Something to know about a line, and how much it matters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    pub kind: FlagKind,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// sshd skips the line (bad options or key data).
    Rejected,
    /// An earlier line holds the same key: this line is never used.
    Shadowed,
    /// The line is used, but its options stop the vendor's tunnel.
    NoTunnel,
    /// The key appears again further down; this line is the one sshd uses.
    Duplicated,
}

impl KeyLine {
    /// The line sshd uses to log in and whose options let the tunnel through.
    pub fn opens_tunnel(&self) -> bool {
        self.flags.iter().all(|f| f.kind == FlagKind::Duplicated)
    }
}

/// What the list is judged against, besides the file.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub user: &'a str,
    pub ledger: &'a Ledger,
    pub logins: &'a [Accepted],
    pub vendor_addrs: &'a [IpAddr],
    pub targets: &'a [PermitOpen],
    /// Now, and the time zone sshd reads `expiry-time` in.
    pub clock: Clock,
    /// The host's sshd release: older ones skip a line whose options they do not know.
    pub sshd_version: Option<Version>,
}

/// Every key line of `content`, in file order.
pub fn list(content: &[u8], ctx: &Context) -> Vec<KeyLine> {
    let entries = authorized_keys::numbered_entries(content);
    let mut out = Vec::with_capacity(entries.len());
    for (i, (number, entry)) in entries.iter().enumerate() {
        let facts = key::facts(&entry.key_type, &entry.data);
        let options = KeyOptions::parse(entry.options.as_deref());
        let fingerprint = facts.fingerprint.clone().unwrap_or_default();
        let mut flags = Vec::new();
        let mut flag = |kind, text: String| flags.push(Flag { kind, text });
        if let Err(why) = &options {
            flag(FlagKind::Rejected, format!("sshd skips this line: {why}"));
        }
        if let Some(why) = &facts.rejected {
            flag(FlagKind::Rejected, format!("sshd skips this line: {why}"));
        }
        let usable = |e: &authorized_keys::Entry| {
            KeyOptions::parse(e.options.as_deref()).is_ok_and(|o| !o.cert_authority)
        };
        let is_ca = options.as_ref().is_ok_and(|o| o.cert_authority);
        let same = |e: &authorized_keys::Entry| authorized_keys::same_key(&e.data, &entry.data);
        if options.is_ok() && !is_ca {
            let earlier = entries[..i]
                .iter()
                .find(|(_, e)| same(e) && usable(e))
                .map(|(n, _)| *n);
            let later: Vec<String> = entries[i + 1..]
                .iter()
                .filter(|(_, e)| same(e) && usable(e))
                .map(|(n, _)| n.to_string())
                .collect();
            match earlier {
                Some(first) => flag(
                    FlagKind::Shadowed,
                    format!(
                        "the same key as line {first}, which sshd uses: this line and its options are ignored"
                    ),
                ),
                None if !later.is_empty() => flag(
                    FlagKind::Duplicated,
                    format!(
                        "the same key is on line {} too: sshd uses this line, the other's options are ignored",
                        later.join(", ")
                    ),
                ),
                None => {}
            }
        }
        if let Some(why) = options
            .as_ref()
            .ok()
            .and_then(|o| o.too_new_for(ctx.sshd_version))
        {
            flag(FlagKind::Rejected, format!("sshd skips this line: {why}"));
        }
        if let Ok(o) = &options {
            if let Some(why) = o.tunnel_problem(ctx.vendor_addrs, ctx.targets, ctx.clock) {
                flag(
                    FlagKind::NoTunnel,
                    format!("no tunnel with this line: {why}"),
                );
            }
        }
        flags.sort_by_key(|f| f.kind as u8);
        let expiry = options
            .as_ref()
            .ok()
            .and_then(|o| o.expiry_time.as_deref())
            .and_then(ExpiryTime::parse);
        let expires = expiry.map(|e| {
            crate::dates::utc_timestamp(u64::try_from(e.instant(&ctx.clock)).unwrap_or(0))
        });
        let days_left = expiry.map(|e| e.days_left(&ctx.clock));
        let last_login = (!fingerprint.is_empty())
            .then(|| {
                ctx.logins
                    .iter()
                    .rev()
                    .find(|l| l.fingerprint.as_deref() == Some(fingerprint.as_str()))
                    .map(|l| l.time.clone())
            })
            .flatten();
        out.push(KeyLine {
            added_by_us: !fingerprint.is_empty() && ctx.ledger.added_key(ctx.user, &fingerprint),
            fingerprint,
            key_type: facts.algorithm,
            bits: facts.bits,
            comment: entry.comment.clone(),
            options: entry.options.clone().unwrap_or_default(),
            line: *number,
            expires,
            days_left,
            last_login,
            flags,
            data: entry.data.clone(),
        });
    }
    out
}

/// Reads the file (no-follow, as sshd finds it), the ledger and the log for the request's
/// user. As non-root another user's file cannot be read: `unreadable` says so.
pub fn read(request: &Request, state_dir: &StateDir) -> KeyList {
    let is_root = crate::inspect::is_root();
    let attempts = crate::logs::read(&request.user, is_root);
    let content = crate::inspect::authorized_keys_of(&request.user);
    let ledger = Ledger::read(state_dir);
    let sshd_version = crate::sshd::read_build().version;
    from_parts(
        request,
        content,
        &ledger,
        &attempts,
        Clock::read(),
        sshd_version,
    )
}

/// The list from what `read` or an inspection gathered.
pub fn from_parts(
    request: &Request,
    content: Result<Option<Vec<u8>>, String>,
    ledger: &Ledger,
    attempts: &crate::logs::Attempts,
    clock: Clock,
    sshd_version: Option<Version>,
) -> KeyList {
    let targets = request.db_targets();
    let ctx = Context {
        user: &request.user,
        ledger,
        logins: &attempts.logins,
        vendor_addrs: &request.vendor_addrs,
        targets: &targets,
        clock,
        sshd_version,
    };
    let (keys, unreadable) = match content {
        Ok(Some(bytes)) => (list(&bytes, &ctx), None),
        Ok(None) => (Vec::new(), None),
        Err(why) => (
            Vec::new(),
            Some(if crate::inspect::is_root() {
                format!("cannot read {}'s authorized_keys: {why}", request.user)
            } else {
                format!(
                    "{}'s authorized_keys is readable by root only ({why}): run as root (sudo) to list its keys",
                    request.user
                )
            }),
        ),
    };
    KeyList {
        user: request.user.clone(),
        keys,
        unreadable,
        log_unreadable: attempts.unreadable.clone(),
    }
}

/// The list as a table a person reads in a terminal, each flag under its line.
pub fn render(list: &KeyList) -> String {
    let mut out = format!("Keys of {}:\n", list.user);
    if let Some(why) = &list.unreadable {
        out.push_str(&format!("  {why}\n"));
        return out;
    }
    if list.keys.is_empty() {
        out.push_str("  (no key lines)\n");
        return out;
    }
    out.push_str(&format!(
        "  {:>4}  {:<11} {:<51} {:<4} {:<20} {:<20} {}\n",
        "line", "type", "fingerprint", "ours", "expires", "last login", "comment"
    ));
    for k in &list.keys {
        let kind = match k.bits {
            Some(bits) => format!("{} {bits}", short_type(&k.key_type)),
            None => short_type(&k.key_type).to_string(),
        };
        out.push_str(&format!(
            "  {:>4}  {:<11} {:<51} {:<4} {:<20} {:<20} {}\n",
            k.line,
            kind,
            if k.fingerprint.is_empty() {
                "(not a key)"
            } else {
                &k.fingerprint
            },
            if k.added_by_us { "yes" } else { "no" },
            k.expires.as_deref().unwrap_or("-"),
            k.last_login.as_deref().unwrap_or("-"),
            crate::key::printable(&k.comment)
        ));
        if !k.options.is_empty() {
            out.push_str(&format!(
                "        options: {}\n",
                crate::key::printable(&k.options)
            ));
        }
        for f in &k.flags {
            out.push_str(&format!("        ! {}\n", f.text));
        }
    }
    if let Some(why) = &list.log_unreadable {
        out.push_str(&format!("Last logins unknown: {why}\n"));
    }
    out
}

/// `ssh-keygen -l`'s short names.
pub fn short_type(algorithm: &str) -> &str {
    match algorithm {
        "ssh-ed25519" => "ED25519",
        "ssh-rsa" => "RSA",
        "ssh-dss" => "DSA",
        "sk-ssh-ed25519@openssh.com" => "ED25519-SK",
        "sk-ecdsa-sha2-nistp256@openssh.com" => "ECDSA-SK",
        a if a.starts_with("ecdsa-sha2-") => "ECDSA",
        other => other,
    }
}
