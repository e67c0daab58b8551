//! Differential tests of `--fix-sshd` against the real sshd: each cause staged in temp
//! files (`sshd -f`), the repair applied, and sshd's own `-T -C` the judge.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use bastion_wizard::sshd_repair::{self, Placement, SshdPaths, Want};
use bastion_wizard::state_dir::StateDir;

mod common;

const SSHD: &str = "/usr/sbin/sshd";
const ADDRS: [&str; 3] = ["34.22.141.3", "34.22.218.65", "35.241.143.126"];

struct Host {
    dir: tempfile::TempDir,
    paths: SshdPaths,
}

impl Host {
    /// A temp ssh dir with a host key; `main` may say `@D@` for the drop-in directory.
    fn new(main: &str, dropins: &[(&str, &str)]) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let (key, _) = common::keygen(dir.path(), "host_key", &["ed25519"]);
        let d = dir.path().join("sshd_config.d");
        std::fs::create_dir(&d).unwrap();
        for (name, text) in dropins {
            std::fs::write(d.join(name), text).unwrap();
        }
        let head = format!(
            "HostKey {}\nPidFile {}\n",
            key.display(),
            dir.path().join("sshd.pid").display()
        );
        let main = main.replace("@D@", &d.display().to_string());
        std::fs::write(dir.path().join("sshd_config"), format!("{head}{main}")).unwrap();
        let paths = SshdPaths {
            config: dir.path().join("sshd_config"),
            ssh_dir: dir.path().to_path_buf(),
            sshd: SSHD.into(),
            systemd_marker: dir.path().join("no-systemd"),
        };
        Host { dir, paths }
    }

    fn effective(&self, user: &str, addr: &str) -> String {
        self.paths.effective(user, addr.parse().unwrap()).unwrap()
    }

    fn value(&self, user: &str, addr: &str, key: &str) -> String {
        self.effective(user, addr)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")).map(String::from))
            .unwrap_or_default()
    }

    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = vec![self.paths.config.clone()];
        let d = self.dir.path().join("sshd_config.d");
        let mut more: Vec<PathBuf> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        more.sort();
        files.extend(more);
        files
            .into_iter()
            .map(|p| (p.clone(), std::fs::read(p).unwrap()))
            .collect()
    }

    fn want(&self) -> Want {
        Want {
            user: "whaly".into(),
            group: "whaly".into(),
            groups: vec!["whaly".into()],
            key_type: Some("ssh-ed25519".into()),
            targets: vec!["10.0.0.5:5432".parse().unwrap()],
            keepalive: None,
            addrs: ADDRS.iter().map(|a| a.parse::<IpAddr>().unwrap()).collect(),
            home: "/home/whaly".into(),
        }
    }

    fn plan(&self, want: &Want) -> Option<sshd_repair::Repair> {
        let files = sshd_repair::read_files_at(self.paths.clone(), true);
        let configs = sshd_repair::effective_all(&self.paths, &want.user, &want.addrs).unwrap();
        sshd_repair::plan_with(&files, &configs, want)
    }

    fn state(&self) -> StateDir {
        StateDir {
            path: self.dir.path().join("state"),
        }
    }

    fn others(&self) -> Vec<String> {
        ADDRS
            .iter()
            .flat_map(|a| ["bwz-other", "alice"].map(|u| self.effective(u, a)))
            .collect()
    }
}

fn sshd_present() -> bool {
    Path::new(SSHD).exists()
}

/// Forwarding switched off in the main file, in a drop-in and in a Match block.
#[test]
fn forwarding_is_repaired_wherever_it_is_switched_off() {
    if !sshd_present() {
        eprintln!("skipped: {SSHD} missing");
        return;
    }
    let stagings: [(&str, &[(&str, &str)]); 4] = [
        ("Include @D@/*.conf\nAllowTcpForwarding no\n", &[]),
        (
            "Include @D@/*.conf\n",
            &[("50-site.conf", "AllowTcpForwarding no\n")],
        ),
        (
            "Include @D@/*.conf\nMatch User wh*\n  AllowTcpForwarding no\n  PermitOpen none\n",
            &[],
        ),
        (
            "AllowTcpForwarding no\nMatch Address 34.22.0.0/16\n  DisableForwarding yes\n",
            &[],
        ),
    ];
    for (main, dropins) in stagings {
        let host = Host::new(main, dropins);
        let want = host.want();
        let before = host.others();
        let repair = host.plan(&want).expect("a repair is planned");
        assert_eq!(repair.blocked, None, "{main}");
        sshd_repair::apply_repair(&repair, &host.state())
            .unwrap_or_else(|e| panic!("{main}: {e:#}"));
        for addr in ADDRS {
            assert_eq!(
                host.value("whaly", addr, "allowtcpforwarding"),
                "local",
                "{main} {addr}"
            );
            assert_eq!(
                host.value("whaly", addr, "disableforwarding"),
                "no",
                "{main} {addr}"
            );
            let open = host.value("whaly", addr, "permitopen");
            assert!(
                open == "any" || open == "10.0.0.5:5432",
                "{main} {addr}: {open}"
            );
        }
        assert_eq!(
            host.others(),
            before,
            "another user's sshd -T -C changed: {main}"
        );
        assert!(
            host.plan(&want).is_none(),
            "a rerun has nothing to do: {main}"
        );
        let backups = std::fs::read_dir(host.dir.path().join("state/backups"))
            .map(|d| d.count())
            .unwrap_or(0);
        let touched_existing = repair.placement != Placement::NewFile;
        assert_eq!(backups > 0, touched_existing, "{main}");
    }
}

#[test]
fn without_dropins_the_block_lands_in_the_main_file_above_its_match_blocks() {
    if !sshd_present() {
        return;
    }
    let host = Host::new(
        "AllowTcpForwarding no\nMatch User whaly\n  AllowTcpForwarding remote\n",
        &[],
    );
    let repair = host.plan(&host.want()).unwrap();
    assert_eq!(repair.file, host.paths.config);
    sshd_repair::apply_repair(&repair, &host.state()).unwrap();
    let text = std::fs::read_to_string(&host.paths.config).unwrap();
    let ours = text
        .find("Match User whaly\n    AllowTcpForwarding local")
        .unwrap();
    assert!(ours < text.find("  AllowTcpForwarding remote").unwrap());
    assert_eq!(host.value("whaly", ADDRS[0], "allowtcpforwarding"), "local");
}

/// A Match block above the Include is read first: the drop-in cannot win. Everything
/// goes back byte for byte, the created drop-in is removed, and the message names the line.
#[test]
fn a_dropin_that_cannot_win_is_rolled_back_byte_for_byte() {
    if !sshd_present() {
        return;
    }
    let main = "Match All\n  AllowTcpForwarding no\nMatch All\nInclude @D@/*.conf\n";
    let host = Host::new(main, &[("50-site.conf", "PasswordAuthentication no\n")]);
    let before = host.snapshot();
    let repair = host.plan(&host.want()).unwrap();
    assert_eq!(repair.placement, Placement::NewFile);
    let error = format!(
        "{:#}",
        sshd_repair::apply_repair(&repair, &host.state()).unwrap_err()
    );
    assert_eq!(
        host.snapshot(),
        before,
        "files restored exactly, drop-in removed"
    );
    let config = host.paths.config.display().to_string();
    assert!(
        error.contains(&format!("{config}:4")),
        "names the winning line: {error}"
    );
    assert!(error.contains("AllowTcpForwarding no"), "{error}");
    assert!(error.contains("first value it obtains"), "{error}");
    assert!(error.contains("restored byte for byte"), "{error}");
}

#[test]
fn allow_users_gets_the_user_and_others_see_only_that() {
    if !sshd_present() {
        return;
    }
    let host = Host::new("Include @D@/*.conf\nAllowUsers alice # admins\n", &[]);
    let before = host.others();
    let repair = host.plan(&host.want()).unwrap();
    assert_eq!(repair.edits.len(), 1);
    sshd_repair::apply_repair(&repair, &host.state()).unwrap();
    assert_eq!(host.value("whaly", ADDRS[0], "allowusers"), "alice");
    let text = std::fs::read_to_string(&host.paths.config).unwrap();
    assert!(
        text.ends_with("AllowUsers alice whaly # admins\n"),
        "{text}"
    );
    let after = host.others();
    for (old, new) in before.iter().zip(&after) {
        let new_without: Vec<&str> = new.lines().filter(|l| *l != "allowusers whaly").collect();
        assert_eq!(old.lines().collect::<Vec<_>>(), new_without);
        assert!(new.contains("allowusers whaly\n"));
    }
}

#[test]
fn a_config_sshd_rejects_is_not_touched() {
    if !sshd_present() {
        return;
    }
    let host = Host::new(
        "Include @D@/*.conf\nAllowTcpForwarding no\n",
        &[("50-bad.conf", "Bogus yes\n")],
    );
    let files = sshd_repair::read_files_at(host.paths.clone(), true);
    assert!(files.rejected.as_deref().unwrap_or("").contains("Bogus"));
    let before = host.snapshot();
    let want = host.want();
    let configs = vec![bastion_wizard::sshd::Effective {
        addr: want.addrs[0],
        local: None,
        config: bastion_wizard::sshd::SshdConfig::parse("allowtcpforwarding no\n"),
    }];
    let repair = sshd_repair::plan_with(&files, &configs, &want).unwrap();
    assert!(repair.blocked.is_some());
    assert!(sshd_repair::apply_repair(&repair, &host.state()).is_err());
    assert_eq!(host.snapshot(), before);
}
