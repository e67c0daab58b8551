//! sshd's configuration files as sshd reads them: the main file, each `Include` expanded
//! where it stands (globs sorted, relative paths under the ssh directory), and every line
//! with the `Match` block it falls under. Observed with OpenSSH 9.2: a `Match` inside an
//! included file ends with that file, and an `Include` inside a `Match` block puts the
//! included lines under that block.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where sshd and its configuration live; tests point these at temporary files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshdPaths {
    /// The main file (`sshd -f`).
    pub config: PathBuf,
    /// Where relative `Include` paths resolve (sshd's compiled-in /etc/ssh).
    pub ssh_dir: PathBuf,
    pub sshd: PathBuf,
    /// Exists when systemd runs the host (then reload goes through systemctl).
    pub systemd_marker: PathBuf,
}

impl Default for SshdPaths {
    /// The real places, unless `BASTION_WIZARD_SSHD_CONFIG` / `BASTION_WIZARD_SSHD` say otherwise.
    fn default() -> SshdPaths {
        SshdPaths {
            config: std::env::var_os("BASTION_WIZARD_SSHD_CONFIG")
                .map(PathBuf::from)
                .unwrap_or_else(|| "/etc/ssh/sshd_config".into()),
            ssh_dir: "/etc/ssh".into(),
            sshd: std::env::var_os("BASTION_WIZARD_SSHD")
                .map(PathBuf::from)
                .unwrap_or_else(|| "/usr/sbin/sshd".into()),
            systemd_marker: "/run/systemd/system".into(),
        }
    }
}

impl SshdPaths {
    /// `sshd -f CONFIG`, so the file judged is the file edited.
    pub fn sshd(&self) -> Command {
        let mut command = Command::new(&self.sshd);
        command.arg("-f").arg(&self.config);
        command
    }

    /// `sshd -t`: the error sshd prints, if it rejects the configuration.
    pub fn test(&self) -> Result<(), String> {
        let output = self
            .sshd()
            .arg("-t")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.sshd.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`sshd -t` rejects the configuration: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// `sshd -T -C user=U,host=vendor,addr=A`, as sshd prints it.
    pub fn effective(&self, user: &str, addr: IpAddr) -> Result<String, String> {
        let output = self
            .sshd()
            .arg("-T")
            .arg("-C")
            .arg(crate::sshd::connection_spec(
                user,
                addr,
                crate::sshd::Local::ANY,
            ))
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.sshd.display()))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "`sshd -T -C user={user},addr={addr}` failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

/// One file sshd reads, with its exact bytes (restored byte for byte on rollback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// Where a line stands: file and 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: PathBuf,
    pub number: usize,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.number)
    }
}

/// The `Match` line a setting falls under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchLine {
    pub place: Place,
    /// Criteria words after `Match`, as written.
    pub criteria: Vec<String>,
}

/// One keyword line, in the order sshd reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub place: Place,
    /// Lower case, as sshd compares it.
    pub keyword: String,
    pub args: Vec<String>,
    /// The line as written, without its line ending.
    pub text: String,
    pub under: Option<MatchLine>,
}

/// The configuration tree, in reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub files: Vec<ConfigFile>,
    pub lines: Vec<Line>,
}

impl Tree {
    /// Reads the main file and everything it includes (depth limited as sshd limits it).
    pub fn read(paths: &SshdPaths) -> Result<Tree, String> {
        let mut tree = Tree {
            files: Vec::new(),
            lines: Vec::new(),
        };
        tree.read_file(&paths.config, &paths.ssh_dir, None, 0)?;
        Ok(tree)
    }

    /// Parses texts given directly (tests): `files[0]` is the main file.
    pub fn from_texts(files: &[(&str, &str)], ssh_dir: &Path) -> Tree {
        let mut tree = Tree {
            files: files
                .iter()
                .map(|(p, t)| ConfigFile {
                    path: p.into(),
                    bytes: t.as_bytes().to_vec(),
                })
                .collect(),
            lines: Vec::new(),
        };
        let lookup = |path: &Path| {
            files
                .iter()
                .find(|(p, _)| Path::new(p) == path)
                .map(|(_, t)| t.to_string())
        };
        let list = |pattern: &Path| {
            let mut found: Vec<PathBuf> = files
                .iter()
                .map(|(p, _)| PathBuf::from(p))
                .filter(|p| glob_match(pattern, p))
                .collect();
            found.sort();
            found
        };
        let mut lines = Vec::new();
        let source = Source {
            list: &list,
            read: &lookup,
        };
        walk(
            Path::new(files[0].0),
            files[0].1,
            ssh_dir,
            None,
            0,
            &source,
            &mut |_, _| {},
            &mut lines,
        );
        tree.lines = lines;
        tree
    }

    fn read_file(
        &mut self,
        path: &Path,
        ssh_dir: &Path,
        under: Option<MatchLine>,
        depth: usize,
    ) -> Result<(), String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        self.files.push(ConfigFile {
            path: path.to_path_buf(),
            bytes,
        });
        let mut read = Vec::new();
        let lookup = |p: &Path| {
            std::fs::read(p)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let mut seen = |p: &Path, t: &str| read.push((p.to_path_buf(), t.to_string()));
        let mut lines = Vec::new();
        let source = Source {
            list: &expand,
            read: &lookup,
        };
        walk(
            path, &text, ssh_dir, under, depth, &source, &mut seen, &mut lines,
        );
        for (p, t) in read {
            self.files.push(ConfigFile {
                path: p,
                bytes: t.into_bytes(),
            });
        }
        self.lines = lines;
        Ok(())
    }

    pub fn file(&self, path: &Path) -> Option<&ConfigFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// The `Include` line that reads `<ssh_dir>/sshd_config.d`, with the Match it stands under.
    pub fn dropin_include(&self, ssh_dir: &Path) -> Option<(&Line, PathBuf)> {
        self.lines
            .iter()
            .filter(|l| l.keyword == "include")
            .find_map(|l| {
                l.args.iter().find_map(|pattern| {
                    let full = resolve(pattern, ssh_dir);
                    let dir = full.parent()?;
                    let glob = full.file_name()?.to_str()?;
                    let is_dropins =
                        dir.file_name()? == "sshd_config.d" && (glob == "*.conf" || glob == "*");
                    is_dropins.then(|| (l, dir.to_path_buf()))
                })
            })
    }
}

pub fn resolve(pattern: &str, ssh_dir: &Path) -> PathBuf {
    if pattern.starts_with('/') {
        PathBuf::from(pattern)
    } else if let Some(rest) = pattern.strip_prefix("~/") {
        PathBuf::from(rest)
    } else {
        ssh_dir.join(pattern)
    }
}

/// Where included files come from: the disk, or texts given by a test.
struct Source<'a> {
    list: &'a dyn Fn(&Path) -> Vec<PathBuf>,
    read: &'a dyn Fn(&Path) -> Option<String>,
}

/// A pattern whose last component may hold wildcards, against one path.
fn glob_match(pattern: &Path, path: &Path) -> bool {
    let name = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string()
    };
    pattern.parent() == path.parent()
        && crate::patterns::wildcard_match(&name(pattern), &name(path))
}

/// sshd gives up past this depth of nested Includes.
const MAX_DEPTH: usize = 16;

#[allow(clippy::too_many_arguments)]
fn walk(
    path: &Path,
    text: &str,
    ssh_dir: &Path,
    inherited: Option<MatchLine>,
    depth: usize,
    source: &Source,
    seen: &mut dyn FnMut(&Path, &str),
    out: &mut Vec<Line>,
) {
    let mut under = inherited;
    for (index, raw) in text.lines().enumerate() {
        let Some((keyword, args)) = split_line(raw) else {
            continue;
        };
        let place = Place {
            file: path.to_path_buf(),
            number: index + 1,
        };
        if keyword == "match" {
            under = Some(MatchLine {
                place,
                criteria: args,
            });
            continue;
        }
        out.push(Line {
            place,
            keyword: keyword.clone(),
            args: args.clone(),
            text: raw.trim_end_matches('\r').to_string(),
            under: under.clone(),
        });
        if keyword == "include" && depth < MAX_DEPTH {
            for pattern in &args {
                for file in (source.list)(&resolve(pattern, ssh_dir)) {
                    if let Some(included) = (source.read)(&file) {
                        seen(&file, &included);
                        walk(
                            &file,
                            &included,
                            ssh_dir,
                            under.clone(),
                            depth + 1,
                            source,
                            seen,
                            out,
                        );
                    }
                }
            }
        }
    }
}

/// The files a pattern names, sorted as glob(3) sorts them. Only the last component
/// may hold wildcards (sshd_config.d/*.conf and the like).
fn expand(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !name.contains(['*', '?']) {
        return if pattern.is_file() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let Some(dir) = pattern.parent() else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name().to_str().is_some_and(|n| {
                        !n.starts_with('.') && crate::patterns::wildcard_match(name, n)
                    })
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Keyword (lower case) and arguments, as sshd splits a line: `#` starts a comment,
/// `keyword=value` is allowed, double quotes group words.
pub fn split_line(raw: &str) -> Option<(String, Vec<String>)> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let cut = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let keyword = line[..cut].to_ascii_lowercase();
    let rest = line[cut..]
        .trim_start()
        .trim_start_matches('=')
        .trim_start();
    let mut args = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut in_word = false;
    for c in rest.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '#' if !quoted && !in_word => break,
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    args.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        args.push(word);
    }
    Some((keyword, args))
}

/// Whether a Match block applies to the connection, as far as the files alone can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    Yes,
    No,
    /// A criterion (LocalPort, LocalAddress, RDomain, …) only sshd can judge.
    Maybe,
}

/// Judges `Match` criteria for the tunnel user from one vendor address (host=vendor, as
/// the checks ask sshd).
pub fn applies(criteria: &[String], user: &str, groups: &[String], addr: IpAddr) -> Applies {
    let mut verdict = Applies::Yes;
    let mut words = criteria.iter();
    while let Some(attr) = words.next() {
        let attr = attr.to_ascii_lowercase();
        if attr == "all" {
            continue;
        }
        let Some(value) = words.next() else {
            return Applies::Maybe;
        };
        let one = match attr.as_str() {
            "user" => pattern_list(value, |p| crate::patterns::wildcard_match(p, user)),
            "group" => pattern_list(value, |p| {
                groups.iter().any(|g| crate::patterns::wildcard_match(p, g))
            }),
            "host" => pattern_list(value, |p| crate::patterns::wildcard_match(p, "vendor")),
            "address" => pattern_list(value, |p| address_match(p, addr)),
            _ => Applies::Maybe,
        };
        verdict = match (verdict, one) {
            (_, Applies::No) | (Applies::No, _) => Applies::No,
            (Applies::Maybe, _) | (_, Applies::Maybe) => Applies::Maybe,
            _ => Applies::Yes,
        };
    }
    verdict
}

/// sshd's comma list: a negated entry that matches refuses, else any plain match admits.
fn pattern_list(list: &str, matches: impl Fn(&str) -> bool) -> Applies {
    let mut found = false;
    for entry in list.split(',') {
        if let Some(negated) = entry.strip_prefix('!') {
            if matches(negated) {
                return Applies::No;
            }
        } else if matches(entry) {
            found = true;
        }
    }
    if found {
        Applies::Yes
    } else {
        Applies::No
    }
}

fn address_match(pattern: &str, addr: IpAddr) -> bool {
    let Some((net, bits)) = pattern.split_once('/') else {
        return crate::patterns::wildcard_match(pattern, &addr.to_string());
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}
