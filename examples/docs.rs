//! Writes the man page and the shell completions from the real command-line definition,
//! so the packages ship what `--help` says. An example, not part of the binary: the
//! generators stay dev-dependencies and the shipped program carries none of them.
//!
//! `cargo run --example docs -- DIR` writes `DIR/bastion-wizard.1`, `DIR/bastion-wizard.bash`,
//! `DIR/_bastion-wizard` (zsh) and `DIR/bastion-wizard.fish`.

use std::path::{Path, PathBuf};

use bastion_wizard::cli::Cli;
use clap::{Arg, CommandFactory};
use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

const NAME: &str = "bastion-wizard";

fn main() -> std::io::Result<()> {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: cargo run --example docs -- DIR");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("{NAME}.1")), man_page()?)?;
    for (shell, file) in [
        (Shell::Bash, format!("{NAME}.bash")),
        (Shell::Zsh, format!("_{NAME}")),
        (Shell::Fish, format!("{NAME}.fish")),
    ] {
        write_completion(shell, &dir.join(file))?;
    }
    Ok(())
}

fn write_completion(shell: Shell, path: &Path) -> std::io::Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), NAME, &mut out);
    std::fs::write(path, out)
}

/// One page for the whole program: the wizard's own options first, then every command
/// with its usage and only its own options, the way `bastion-wizard COMMAND --help` shows
/// them. One page, because a person on a bastion types `man bastion-wizard`, not a
/// page name per command.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let man = Man::new(root.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;

    let mut roff = Roff::new();
    if let Some(after) = root.get_after_long_help() {
        roff.control("PP", []);
        paragraphs(&mut roff, &after.to_string());
    }
    roff.control("SH", ["COMMANDS"]);
    for command in root.get_subcommands_mut() {
        let usage = command.render_usage().to_string();
        let usage = usage.trim_start_matches("Usage:").trim();
        roff.control("SS", [usage]);
        let about = command
            .get_long_about()
            .or_else(|| command.get_about())
            .map(ToString::to_string)
            .unwrap_or_default();
        paragraphs(&mut roff, &about);
        for arg in command.get_arguments().filter(|a| shown(a)) {
            option(&mut roff, arg);
        }
        if let Some(after) = command.get_after_long_help() {
            roff.control("PP", []);
            paragraphs(&mut roff, &after.to_string());
        }
    }
    roff.to_writer(&mut out)?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

fn shown(arg: &Arg) -> bool {
    !arg.is_hide_set() && !matches!(arg.get_id().as_str(), "help" | "version")
}

fn paragraphs(roff: &mut Roff, text: &str) {
    for (i, paragraph) in text.split("\n\n").enumerate() {
        if i > 0 {
            roff.control("PP", []);
        }
        roff.text([roman(paragraph.replace('\n', " "))]);
    }
}

/// One option as a tagged paragraph: `--name <VALUE>` [default], then its help.
fn option(roff: &mut Roff, arg: &Arg) {
    let values = arg
        .get_value_names()
        .map(|names| names.join(" "))
        .unwrap_or_else(|| arg.get_id().to_string());
    let mut header: Vec<Inline> = match arg.get_long() {
        Some(long) if arg.get_action().takes_values() => {
            vec![bold(format!("--{long}")), roman(" "), italic(values)]
        }
        Some(long) => vec![bold(format!("--{long}"))],
        None => vec![italic(values)],
    };
    let defaults = arg.get_default_values();
    if !defaults.is_empty() && arg.get_action().takes_values() {
        let defaults: Vec<_> = defaults.iter().map(|d| d.to_string_lossy()).collect();
        header.push(roman(format!(" [default: {}]", defaults.join(", "))));
    }
    roff.control("TP", []);
    roff.text(header);
    let help = arg.get_long_help().or_else(|| arg.get_help());
    roff.text([roman(
        help.map(|h| h.to_string().replace('\n', " "))
            .unwrap_or_default(),
    )]);
}
