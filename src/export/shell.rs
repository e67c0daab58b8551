//! `--format shell`: a POSIX sh script doing what apply does, idempotently, on any host.
//! Every value enters the script once, single-quoted, as a variable; the body only ever
//! uses them in double quotes, so no key comment can become a command.

use super::{sh_quote, Fleet};

/// The fixed part of the script: apply's steps and refusals, in sh.
const BODY: &str = include_str!("shell_body.sh");

pub fn render(fleet: &Fleet) -> String {
    let mut out = String::from("#!/bin/sh\n");
    out.push_str(&format!(
        "# bastion-wizard {} (plan --format shell): set up the tunnel user {} for the vendor's\n",
        env!("CARGO_PKG_VERSION"),
        fleet.user
    ));
    out.push_str("# key on this host, as `bastion-wizard apply` would; a rerun changes nothing.\n");
    out.push_str(
        "# Run as root. Stops at the first error; every path is checked before a write.\n",
    );
    out.push_str("set -eu\n\n");
    let var = |name: &str, value: &str| format!("{name}={}\n", sh_quote(value));
    out.push_str(&var("user", fleet.user));
    out.push_str(&var("group", fleet.group));
    let shell = fleet
        .new_shell
        .as_ref()
        .map(|s| s.display().to_string())
        .unwrap_or_default();
    out.push_str(&var("nologin", &shell));
    out.push_str(&var("key_line", fleet.key_line));
    out.push_str(&var("key_data", fleet.key_data));
    match fleet.dropin_file() {
        Some((path, content)) => {
            out.push_str(&var("dropin", &path));
            out.push_str(&var("dropin_content", &content));
        }
        None => {
            out.push_str("dropin=''\n");
            out.push_str("dropin_content=''\n");
        }
    }
    out.push('\n');
    out.push_str(BODY);
    out
}
