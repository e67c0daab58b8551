//! The README's Troubleshooting table names checks as `status` prints them
//! (`FAIL  title  [id]`): every id must be one `status` reports, under that very title,
//! so the table cannot drift from the program. Its Security section names the tests that
//! prove each guarantee: each must exist where it says.

mod fixtures;

use std::collections::BTreeMap;

use fixtures::{app, fresh_host};

/// The Troubleshooting section of the README, up to the next heading.
fn section(readme: &str) -> &str {
    named_section(readme, "Troubleshooting")
}

fn named_section<'a>(readme: &'a str, name: &str) -> &'a str {
    let start = readme
        .find(&format!("\n## {name}\n"))
        .unwrap_or_else(|| panic!("README.md has a {name} section"));
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

/// Every `` `LABEL  title  [id]` `` in the table's rows, as (label, title, id).
fn named_checks(section: &str) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| ")) {
        for quoted in row.split('`').skip(1).step_by(2) {
            let Some((rest, id)) = quoted.strip_suffix(']').and_then(|q| q.rsplit_once("  ["))
            else {
                continue;
            };
            let (label, title) = rest.split_once("  ").unwrap_or(("", rest));
            found.push((label.to_string(), title.trim().to_string(), id.to_string()));
        }
    }
    found
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// Every (file, test) the text names: a `` `path.rs` `` token, then the identifiers
/// quoted after it in the same bullet or paragraph.
fn named_tests(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut file: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("- ") || line.trim().is_empty() {
            file = None;
        }
        for quoted in line.split('`').skip(1).step_by(2) {
            if quoted.ends_with(".rs") && !quoted.contains(' ') {
                file = Some(quoted.to_string());
            } else if let Some(f) = &file {
                let identifier = !quoted.is_empty()
                    && quoted
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if identifier {
                    found.push((f.clone(), quoted.to_string()));
                }
            }
        }
    }
    found
}

#[test]
fn every_test_the_security_section_names_exists_in_its_file() {
    let readme = readme();
    let named = named_tests(named_section(&readme, "Security"));
    assert!(
        named.len() >= 30,
        "the Security section names its tests: {named:?}"
    );
    for (file, name) in named {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(&file);
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("README Security names {file}, which cannot be read: {e}"));
        assert!(
            source.contains(&format!("fn {name}(")),
            "README Security names `{name}` in {file}, which has no such function"
        );
    }
}

#[test]
fn every_check_the_troubleshooting_table_names_is_one_status_prints() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let named = named_checks(section(&readme));
    assert!(named.len() >= 15, "the table names the checks: {named:?}");

    // The titles as `status` prints them for the default profile (user and group whaly).
    let app = app(fresh_host());
    let titles: BTreeMap<String, String> = app
        .report()
        .checks
        .iter()
        .map(|c| (c.id.to_string(), c.title.clone()))
        .collect();
    for (label, title, id) in &named {
        let Some(real) = titles.get(id) else {
            panic!("the Troubleshooting table names the check `{id}`, which status does not have");
        };
        assert_eq!(title, real, "README Troubleshooting: the title of `{id}`");
        assert!(
            ["ok", "FAIL", "warn", "manual"].contains(&label.as_str()),
            "README Troubleshooting: `{label}` is not a status label (`{id}`)"
        );
    }
}

#[test]
fn the_table_reader_finds_what_status_prints() {
    let table = "\n## Troubleshooting\n\n| a | b | `FAIL  Login shell exists  [shell]`, `manual  X  [y]` | `apply` |\n";
    assert_eq!(
        named_checks(section(table)),
        vec![
            ("FAIL".into(), "Login shell exists".into(), "shell".into()),
            ("manual".into(), "X".into(), "y".into()),
        ]
    );
}
