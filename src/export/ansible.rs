//! `--format ansible`: a playbook for a fleet. Every value from the request or the key is
//! a JSON string tagged `!unsafe`, so neither YAML nor Ansible's templating reads into it.

use super::{yaml_string, Fleet};

/// A YAML value Ansible never templates: a key comment holding `{{ ... }}` stays text.
fn lit(text: &str) -> String {
    format!("!unsafe {}", yaml_string(text))
}

/// `ansible.builtin.copy`'s `validate` judges the whole configuration with the candidate
/// in place: a main file made of `Include CANDIDATE` then `Include` of the real main file
/// (a `Match` inside an included file ends with that file), so the drop-in is read first,
/// as its `00-` name makes sshd read it. `sshd -t -f %s` alone would judge the drop-in as
/// if it were the whole configuration.
const VALIDATE: &str = "/bin/sh -c 'echo \"Include $1\" >\"$1.main\" && echo \"Include /etc/ssh/sshd_config\" >>\"$1.main\" && sshd -t -f \"$1.main\"; r=$?; rm -f \"$1.main\"; exit $r' validate %s";

/// Reload, never restart, as apply does: systemd where it runs, else SIGHUP to sshd's pid.
const RELOAD: &str = "if [ -d /run/systemd/system ]; then systemctl reload ssh || systemctl reload sshd; else kill -HUP \"$(cat \"$(sshd -T | awk '$1 == \"pidfile\" { print $2 }')\")\"; fi";

pub fn render(fleet: &Fleet) -> String {
    let user = lit(fleet.user);
    let group = lit(fleet.group);
    let (options, key) = fleet.key_parts();
    let mut out = format!(
        "# bastion-wizard {} (plan --format ansible): the vendor's tunnel user {} on every host.\n",
        env!("CARGO_PKG_VERSION"),
        fleet.user
    );
    out.push_str(
        "# Run: ansible-playbook -i INVENTORY THIS_FILE. A second run reports no changes.\n",
    );
    out.push_str(
        "- name: Tunnel user for the vendor's key\n  hosts: all\n  become: true\n  tasks:\n",
    );
    out.push_str(&format!(
        "    - name: Group\n      ansible.builtin.group:\n        name: {group}\n        state: present\n"
    ));
    out.push_str(&format!(
        "    - name: User, with * as password field so keys work whatever UsePAM says\n      ansible.builtin.user:\n        name: {user}\n        group: {group}\n        create_home: true\n        password: \"*\"\n        update_password: always\n"
    ));
    if let Some(shell) = &fleet.new_shell {
        out.push_str(&format!(
            "        shell: {}\n",
            lit(&shell.display().to_string())
        ));
    }
    out.push_str("      register: bastion_wizard_account\n");
    out.push_str("    - name: Home not writable by group or other (sshd's StrictModes)\n      ansible.builtin.file:\n        path: \"{{ bastion_wizard_account.home }}\"\n        state: directory\n        follow: false\n        mode: go-w\n");
    out.push_str(&format!(
        "    - name: The vendor's key, one line, other keys kept\n      ansible.posix.authorized_key:\n        user: {user}\n        key: {}\n",
        lit(key)
    ));
    if let Some(options) = options {
        out.push_str(&format!("        key_options: {}\n", lit(options)));
    }
    out.push_str("        exclusive: false\n        manage_dir: true\n        follow: false\n        state: present\n");
    if let Some((path, content)) = fleet.dropin_file() {
        out.push_str(&format!(
            "    - name: sshd block for the tunnel user, judged with the whole configuration\n      ansible.builtin.copy:\n        dest: {}\n        content: {}\n        owner: root\n        group: root\n        mode: \"0644\"\n        follow: false\n        validate: {}\n      notify: Reload sshd\n",
            lit(&path),
            lit(&content),
            yaml_string(VALIDATE)
        ));
    }
    out.push_str("    - name: Reload sshd now if its block changed\n      ansible.builtin.meta: flush_handlers\n");
    out.push_str("    - name: Is bastion-wizard installed?\n      ansible.builtin.shell: command -v bastion-wizard\n      register: bastion_wizard_installed\n      changed_when: false\n      failed_when: false\n");
    let mut argv = vec![
        "bastion-wizard".to_string(),
        "status".into(),
        "--json".into(),
        "--user".into(),
        fleet.user.to_string(),
        "--group".into(),
        fleet.group.to_string(),
    ];
    if let Some(profile) = &fleet.profile {
        argv.push("--profile".into());
        argv.push(profile.clone());
    }
    if let Some(region) = &fleet.request.vendor.region {
        argv.push("--region".into());
        argv.push(region.clone());
    }
    if !fleet.tunnel_only {
        argv.push("--allow-shell".into());
    }
    for target in &fleet.request.access.permit_open {
        argv.push("--permit-open".into());
        argv.push(target.to_string());
    }
    for target in &fleet.request.db {
        argv.push("--db".into());
        argv.push(target.to_string());
    }
    out.push_str("    - name: bastion-wizard status says the host is ready\n      ansible.builtin.command:\n        argv:\n");
    for word in &argv {
        out.push_str(&format!("          - {}\n", lit(word)));
    }
    out.push_str("      register: bastion_wizard_status\n      changed_when: false\n      failed_when: bastion_wizard_status.rc not in [0, 1] or not (bastion_wizard_status.stdout | from_json).ready\n      when: bastion_wizard_installed.rc == 0\n");
    out.push_str(&format!(
        "  handlers:\n    - name: Reload sshd\n      ansible.builtin.shell: {}\n",
        yaml_string(RELOAD)
    ));
    out
}
