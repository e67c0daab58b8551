//! `--format cloud-init`: `#cloud-config` for hosts built from an image. cloud-init's
//! `passwd` goes to `useradd --password`, and `lock_passwd: false` keeps it from running
//! `passwd -l` (which would make the field `!*`), so the field is `*` as apply leaves it:
//! no password ever works, keys do, whatever UsePAM says (cloud-init 22.4,
//! distros/__init__.py `create_user`). Values are JSON strings, which YAML reads verbatim.

use super::{yaml_string, Fleet};

pub fn render(fleet: &Fleet) -> String {
    let mut out = String::from("#cloud-config\n");
    out.push_str(&format!(
        "# bastion-wizard {} (plan --format cloud-init): the vendor's tunnel user {}.\n",
        env!("CARGO_PKG_VERSION"),
        fleet.user
    ));
    out.push_str(&format!("groups:\n  - {}\n", yaml_string(fleet.group)));
    out.push_str("users:\n  - default\n");
    out.push_str(&format!("  - name: {}\n", yaml_string(fleet.user)));
    out.push_str(&format!(
        "    primary_group: {}\n    no_user_group: true\n",
        yaml_string(fleet.group)
    ));
    if let Some(shell) = &fleet.new_shell {
        out.push_str(&format!(
            "    shell: {}\n",
            yaml_string(&shell.display().to_string())
        ));
    }
    out.push_str("    passwd: \"*\"\n    lock_passwd: false\n");
    out.push_str(&format!(
        "    ssh_authorized_keys:\n      - {}\n",
        yaml_string(fleet.key_line)
    ));
    if let Some((path, content)) = fleet.dropin_file() {
        out.push_str(&format!(
            "write_files:\n  - path: {}\n    owner: \"root:root\"\n    permissions: \"0644\"\n    content: {}\n",
            yaml_string(&path),
            yaml_string(&content)
        ));
        let script = "if sshd -t; then systemctl reload ssh || systemctl reload sshd; else rm -f -- \"$1\"; echo \"sshd -t rejects $1: removed\" >&2; exit 1; fi";
        out.push_str(&format!(
            "runcmd:\n  - [\"sh\", \"-c\", {}, \"sh\", {}]\n",
            yaml_string(script),
            yaml_string(&path)
        ));
    }
    out
}
