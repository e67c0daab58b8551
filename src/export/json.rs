//! `--format json`: the plan as data, for scripts. The steps are this host's (with their
//! states); `fleet` is what the other exports write on any host.

use serde_json::{json, Value};

use super::Fleet;
use crate::plan::{Action, Plan, StepState};
use crate::setup::Request;

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::CreateGroup => "create_group",
        Action::CreateUser { .. } => "create_user",
        Action::Unlock => "unlock",
        Action::ClearAging { .. } => "clear_aging",
        Action::SetShell { .. } => "set_shell",
        Action::SecureHome => "secure_home",
        Action::SshDir => "ssh_dir",
        Action::AuthorizedKeys => "authorized_keys",
        Action::InstallKey { .. } => "install_key",
        Action::RestoreLabels => "restore_labels",
        Action::RepairSshd(_) => "repair_sshd",
    }
}

fn state_name(state: StepState) -> &'static str {
    match state {
        StepState::Done => "done",
        StepState::ToDo => "to_do",
        StepState::Blocked => "blocked",
        StepState::Waiting { .. } => "waiting",
    }
}

pub fn render(request: &Request, plan: &Plan) -> String {
    let steps: Vec<Value> = plan
        .steps
        .iter()
        .map(|step| {
            let mut value = json!({
                "action": action_name(&step.action),
                "title": step.title,
                "guide": step.guide,
                "state": state_name(step.state),
                "command": step.command,
                "detail": plan.detail_of(step),
            });
            if let StepState::Waiting { on } = step.state {
                value["waits_for"] = json!(on);
            }
            match &step.action {
                Action::InstallKey { line, .. } => value["line"] = json!(line),
                Action::RepairSshd(repair) => {
                    value["file"] = json!(repair.file.display().to_string());
                    value["lines"] = json!(repair.lines);
                }
                _ => {}
            }
            value
        })
        .collect();
    let fleet = Fleet::new(request, plan, None).map(|f| {
        let dropin = f
            .dropin_file()
            .map(|(path, content)| json!({"path": path, "content": content}));
        json!({
            "user": f.user,
            "group": f.group,
            "tunnel_only": f.tunnel_only,
            "new_user_shell": f.new_shell.as_ref().map(|s| s.display().to_string()),
            "password_field": "*",
            "key_line": f.key_line,
            "sshd_dropin": dropin,
        })
    });
    let value = json!({
        "user": plan.user,
        "group": plan.group,
        "home": plan.home.display().to_string(),
        "key_line": plan.key_line,
        "to_do": plan.to_do(),
        "blocked": plan.blocking().len(),
        "steps": steps,
        "fleet": fleet,
    });
    let mut out = serde_json::to_string_pretty(&value).expect("plan serializes");
    out.push('\n');
    out
}
