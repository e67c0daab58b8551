//! The command-line face: parses arguments, calls the engine, prints, sets exit codes.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::apply::{self, Event, Outcome};
use crate::authorized_keys::PermitOpen;
use crate::checks::{self, Status};
use crate::inspect;
use crate::key::{self, Key};
use crate::plan::{self, Plan, StepState};
use crate::port;
use crate::profile::Profile;
use crate::setup::{Options, Request};
use crate::state_dir::StateDir;
use crate::tui;
use crate::verify;

#[derive(Debug, Parser)]
#[command(
    name = "bastion-wizard",
    version,
    about = "Prepare this host as an SSH tunnel bastion for a data vendor (Whaly by default).\nWithout a command, runs the full-screen wizard."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub setup: SetupArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read-only inspection of every step and known failure cause (exit 0 ready, 1 not)
    Status {
        /// Print the report as JSON, for scripts (each check with its id and status)
        #[arg(long)]
        json: bool,
        /// Also check that this key is installed ("-" for standard input)
        #[arg(long, value_name = "F")]
        key_file: Option<String>,
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// Print the planned changes with their shell commands; changes nothing
    Plan {
        /// The vendor's public key, as they sent it ("-" for standard input)
        #[arg(long, value_name = "F")]
        key_file: String,
        /// Also plan the repair of the sshd settings that block this user's tunnel
        #[arg(long)]
        fix_sshd: bool,
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// Print the plan, then apply it (needs root)
    Apply {
        /// The vendor's public key, as they sent it ("-" for standard input)
        #[arg(long, value_name = "F")]
        key_file: String,
        /// Apply without asking
        #[arg(long)]
        yes: bool,
        /// Also repair the sshd settings that block this user's tunnel (a Match User block)
        #[arg(long)]
        fix_sshd: bool,
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// Prove the tunnel live through this host's sshd with a throwaway key (needs root)
    /// The tunnel goes to the first --db target, else the first --permit-open one.
    Verify {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// Open a TCP connection from this host and report latency or the precise error
    CheckPort {
        /// Where to connect, e.g. db.internal:5432 or [2001:db8::5]:5432
        #[arg(value_name = "HOST:PORT")]
        target: String,
        /// Give up after this many milliseconds
        #[arg(long, default_value_t = 3000, value_name = "N")]
        timeout_ms: u64,
    },
}

/// Options shared by the wizard, status, plan, apply and verify. Given before the command
/// or after it; after it wins.
#[derive(Debug, Clone, Default, Args)]
pub struct SetupArgs {
    /// Tunnel user (default from the profile: whaly)
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Tunnel user's group (default from the profile: whaly)
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// The key is (to be) installed without restrictions, with a login shell, as the guide
    /// does; status judges the host for that setup
    #[arg(long)]
    pub allow_shell: bool,
    /// The key limits forwarding to this target (repeatable); status judges the host for it
    #[arg(long, value_name = "HOST:PORT")]
    pub permit_open: Vec<String>,
    /// A database target to check and show, without restricting the key (repeatable)
    #[arg(long = "db", value_name = "HOST:PORT")]
    pub db: Vec<String>,
    /// Vendor profile (TOML); Whaly's is built in
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

/// Bad input: one clear sentence, exit 2, nothing changed.
pub struct BadInput(pub String);

impl SetupArgs {
    /// These options with `later`'s (given after the command) taking precedence.
    pub fn merged(&self, later: &SetupArgs) -> SetupArgs {
        let pick = |a: &Option<String>, b: &Option<String>| b.clone().or_else(|| a.clone());
        let list = |a: &Vec<String>, b: &Vec<String>| {
            if b.is_empty() {
                a.clone()
            } else {
                b.clone()
            }
        };
        SetupArgs {
            user: pick(&self.user, &later.user),
            group: pick(&self.group, &later.group),
            allow_shell: self.allow_shell || later.allow_shell,
            permit_open: list(&self.permit_open, &later.permit_open),
            db: list(&self.db, &later.db),
            profile: later.profile.clone().or_else(|| self.profile.clone()),
        }
    }

    pub fn profile(&self) -> Result<Profile, BadInput> {
        match &self.profile {
            Some(path) => Profile::load(path).map_err(|e| BadInput(format!("{e:#}"))),
            None => Ok(Profile::built_in()),
        }
    }

    /// The options resolved and checked: each target parsed, named by its flag when bad.
    pub fn options(&self) -> Result<Options, BadInput> {
        let targets = |list: &[String], flag: &str| {
            list.iter()
                .map(|t| {
                    t.parse::<PermitOpen>()
                        .map_err(|e| BadInput(format!("{flag}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Options {
            user: self.user.clone(),
            group: self.group.clone(),
            allow_shell: self.allow_shell,
            permit_open: targets(&self.permit_open, "--permit-open")?,
            db: targets(&self.db, "--db")?,
            fix_sshd: false,
        })
    }

    /// Removes what an interrupted `verify` left for the user these options name. Before
    /// anything else, so even a command that then refuses its input cleans up.
    fn remove_leftover_probes(&self) {
        if let Ok(profile) = self.profile() {
            verify::remove_leftover_probes(self.user.as_deref().unwrap_or(&profile.user));
        }
    }
}

/// Reads and checks a key from a file or `-` (stdin), never echoing what was read.
pub fn read_key(source: &str) -> Result<Key, BadInput> {
    let read = if source == "-" {
        key::read_input(std::io::stdin().lock())
    } else {
        match std::fs::File::open(source) {
            Ok(file) => key::read_input(file),
            Err(e) => return Err(BadInput(format!("cannot read key file {source}: {e}"))),
        }
    };
    let text = read
        .map_err(|e| BadInput(format!("cannot read key file {source}: {e}")))?
        .map_err(|e| BadInput(e.to_string()))?;
    key::parse(&text).map_err(|e| BadInput(e.to_string()))
}

pub fn run(cli: Cli) -> ExitCode {
    let root = cli.setup;
    let with = |setup: &SetupArgs| {
        let setup = root.merged(setup);
        setup.remove_leftover_probes();
        setup
    };
    let result = match cli.command {
        Some(Command::Status {
            json,
            key_file,
            setup,
        }) => status(&with(&setup), json, key_file.as_deref()),
        Some(Command::Plan {
            key_file,
            fix_sshd,
            setup,
        }) => show_plan(&with(&setup), &key_file, fix_sshd),
        Some(Command::Apply {
            key_file,
            yes,
            fix_sshd,
            setup,
        }) => run_apply(&with(&setup), &key_file, yes, fix_sshd),
        Some(Command::Verify { json, setup }) => run_verify(&with(&setup), json),
        Some(Command::CheckPort { target, timeout_ms }) => check_port(&target, timeout_ms),
        None => wizard(&root),
    };
    result.unwrap_or_else(|BadInput(message)| {
        eprintln!("bastion-wizard: {message}");
        ExitCode::from(2)
    })
}

/// The command line resolved into the request every front end builds the same way.
fn prepare(setup: &SetupArgs, key_file: Option<&str>) -> Result<(Profile, Request), BadInput> {
    let profile = setup.profile()?;
    let key = key_file.map(read_key).transpose()?;
    let request = Request::new(&profile, setup.options()?, key);
    Ok((profile, request))
}

/// The wizard, started with what the command line asked for. A missing terminal is said
/// first: it is the one thing no option can fix.
fn wizard(setup: &SetupArgs) -> Result<ExitCode, BadInput> {
    let no_terminal = |e: tui::NoTerminal| BadInput(e.to_string());
    tui::ensure_terminal().map_err(no_terminal)?;
    let (profile, request) = prepare(setup, None)?;
    tui::run(profile, request).map_err(no_terminal)
}

fn status(setup: &SetupArgs, json: bool, key_file: Option<&str>) -> Result<ExitCode, BadInput> {
    let (profile, request) = prepare(setup, key_file)?;
    let state = inspect::inspect(&request);
    let plan = plan::plan(&request, &state);
    let db_results = checks::check_targets(&request);
    let report = checks::report(&request, &state, &plan, &profile, &db_results);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        );
    } else {
        if !state.is_root {
            println!("Preview as a normal user: checks that need root say so. Run `sudo bastion-wizard status` for the full picture.\n");
        }
        println!(
            "Tunnel user {} (group {}) on {}:",
            report.user, report.group, state.facts.hostname
        );
        for c in &report.checks {
            println!("  {:<6} {}  [{}]", status_label(c.status), c.title, c.id);
            println!("  {:<6} {}", "", c.detail);
            if let Some(fix) = &c.fix {
                println!("  {:<6} fix: {fix}", "");
            }
        }
        println!("\n{}", report.verdict());
    }
    Ok(ExitCode::from(if report.ready { 0 } else { 1 }))
}

pub fn status_label(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Fail => "FAIL",
        Status::Warn => "warn",
        Status::Manual => "manual",
    }
}

fn show_plan(setup: &SetupArgs, key_file: &str, fix_sshd: bool) -> Result<ExitCode, BadInput> {
    let (profile, mut request) = prepare(setup, Some(key_file))?;
    request.fix_sshd = fix_sshd;
    let state = inspect::inspect(&request);
    let plan = refused(plan::prepare(&request, &state))?;
    if !state.is_root {
        println!("Preview as a normal user: some steps can only be judged as root.\n");
    }
    print!("{}", render_plan(&plan, request.key.as_ref()));
    // The plan covers what apply changes; the verdict covers the whole host.
    if plan.to_do() == 0 && plan.blocking().is_empty() {
        print_verdict(&report_for(&request, &state, &profile));
    }
    Ok(ExitCode::SUCCESS)
}

/// A refusal is bad input here: one sentence, exit 2, nothing changed.
fn refused(plan: Result<Plan, plan::Refusal>) -> Result<Plan, BadInput> {
    plan.map_err(|why| BadInput(format!("{why}. Nothing was changed.")))
}

pub fn step_label(state: StepState) -> &'static str {
    match state {
        StepState::Done => "done",
        StepState::ToDo => "to do",
        StepState::Blocked => "BLOCKED",
        StepState::Waiting { .. } => "waiting",
    }
}

/// Options pasted before the key, which the installed line replaces; said aloud because
/// they can change what the vendor meant (`from=` limits where the key is used from).
pub fn dropped_options(key: &Key) -> Option<String> {
    key.pasted_options.as_ref().map(|options| {
        format!(
            "The options that came before the key ({options}) are not installed: the line gets this program's options instead (tunnel-only unless --allow-shell)."
        )
    })
}

pub fn render_plan(plan: &Plan, key: Option<&Key>) -> String {
    let mut out = format!(
        "Plan for user {} (group {}), home {}:\n",
        plan.user,
        plan.group,
        plan.home.display()
    );
    for step in &plan.steps {
        out.push_str(&format!(
            "  [{:<7}] {}  ({})\n",
            step_label(step.state),
            step.title,
            step.guide
        ));
        out.push_str(&format!("            $ {}\n", step.command));
        out.push_str(&format!("            {}\n", plan.detail_of(step)));
    }
    if let Some(key) = key {
        out.push_str(&format!(
            "Key: {} {} {}{}\n",
            key.describe(),
            key.fingerprint,
            if key.comment.is_empty() {
                "(no comment)".to_string()
            } else {
                format!("\"{}\"", key.comment)
            },
            match key.line_breaks_removed {
                0 => String::new(),
                n => format!(", removed {n} line break(s)"),
            }
        ));
    }
    if let Some(note) = key.and_then(dropped_options) {
        out.push_str(&format!("{note}\n"));
    }
    if let Some(line) = &plan.key_line {
        out.push_str(&format!("Line: {line}\n"));
    }
    let blocked = plan.blocking().len();
    out.push_str(&match (plan.to_do(), blocked) {
        (_, b) if b > 0 => {
            format!("{b} step(s) blocked: nothing will be changed until they are resolved.\n")
        }
        (0, _) => "Nothing to change.\n".into(),
        (n, _) => format!("{n} step(s) to do.\n"),
    });
    out
}

fn run_apply(
    setup: &SetupArgs,
    key_file: &str,
    yes: bool,
    fix_sshd: bool,
) -> Result<ExitCode, BadInput> {
    let (profile, mut request) = prepare(setup, Some(key_file))?;
    request.fix_sshd = fix_sshd;
    if !inspect::is_root() {
        eprintln!("bastion-wizard: apply needs root: run `sudo bastion-wizard apply ...`. Nothing was changed.");
        return Ok(ExitCode::from(3));
    }
    let mut shown = None;
    if !yes {
        if key_file == "-" || !std::io::stdin().is_terminal() {
            return Err(BadInput(
                "apply without a terminal needs --yes; nothing was changed".into(),
            ));
        }
        let state = inspect::inspect(&request);
        let plan = refused(plan::prepare(&request, &state))?;
        print!("{}", render_plan(&plan, request.key.as_ref()));
        if plan.to_do() == 0 {
            return Ok(verdict_after_apply(&request, &profile, state));
        }
        shown = Some(plan);

        print!("Apply these changes? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !answer.trim().eq_ignore_ascii_case("y") {
            println!("Nothing was changed.");
            return Ok(ExitCode::from(4));
        }
    }
    // Without --fix-sshd the steps change nothing around the account: that is read while
    // they run, and the verdict joins it with the account as applied.
    let around = (!request.fix_sshd).then(|| {
        let request = request.clone();
        std::thread::spawn(move || inspect::Surroundings::read(&request, true))
    });
    let mut steps = Vec::new();
    let outcome = apply::apply(&request, &StateDir::locate(), &mut |event| match event {
        Event::Planned(plan) => {
            steps = plan.steps.iter().map(|s| s.title.clone()).collect();
            // Applied is what was inspected under the lock; show it unless it is exactly
            // what the person already approved.
            if shown.as_ref() != Some(plan) {
                if shown.is_some() {
                    println!("The host changed since the plan was shown; applying this plan:");
                }
                print!("{}", render_plan(plan, request.key.as_ref()));
            }
        }
        Event::Running(_) => {}
        Event::StepDone(i) => println!("  ✓ {}", steps[i]),
        Event::StepFailed(i, error) => println!("  ✗ {}: {error}", steps[i]),
    });
    let summary = outcome.summary();
    let around = around.and_then(|reading| reading.join().ok());
    let state = || match around {
        Some(around) => inspect::complete(&request, around),
        None => inspect::inspect(&request),
    };
    Ok(match outcome {
        // The plan printed above already says there was nothing to do.
        Outcome::Done { changed: 0 } => verdict_after_apply(&request, &profile, state()),
        Outcome::Done { .. } => {
            println!("{}", summary.headline);
            verdict_after_apply(&request, &profile, state())
        }
        Outcome::Refused(why) => return Err(BadInput(format!("{why}. Nothing was changed."))),
        Outcome::Blocked(_) | Outcome::Failed { .. } | Outcome::NotRoot => {
            eprintln!("bastion-wizard: {}", summary.headline);
            for line in &summary.lines {
                eprintln!("  {line}");
            }
            ExitCode::from(if matches!(outcome, Outcome::NotRoot) {
                3
            } else {
                1
            })
        }
    })
}

/// After the account is done, the host is judged whole: exit 0 only when no check fails,
/// else 5 with each failing check and its fix.
fn verdict_after_apply(
    request: &Request,
    profile: &Profile,
    state: inspect::HostState,
) -> ExitCode {
    let report = report_for(request, &state, profile);
    print_verdict(&report);
    ExitCode::from(if report.ready { 0 } else { 5 })
}

fn report_for(request: &Request, state: &inspect::HostState, profile: &Profile) -> checks::Report {
    let plan = plan::plan(request, state);
    let db_results = checks::check_targets(request);
    checks::report(request, state, &plan, profile, &db_results)
}

/// The one verdict, and each failing check with its fix.
fn print_verdict(report: &checks::Report) {
    println!("{}", report.verdict());
    for c in report.failing() {
        println!("  ✗ {}: {}", c.title, c.detail);
        if let Some(fix) = &c.fix {
            println!("    fix: {fix}");
        }
    }
}

fn run_verify(setup: &SetupArgs, json: bool) -> Result<ExitCode, BadInput> {
    let (_, request) = prepare(setup, None)?;
    let db = request
        .db
        .first()
        .cloned()
        .or_else(|| request.db_targets().into_iter().next());
    if !inspect::is_root() {
        eprintln!("bastion-wizard: verify needs root: run `sudo bastion-wizard verify`.");
        return Ok(ExitCode::from(3));
    }
    let proof = verify::run(&request, db.as_ref(), &StateDir::locate());
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&proof).expect("proof serializes")
        );
    } else {
        println!("{}", proof.summary);
        if let Some(error) = &proof.ssh_error {
            println!("  ssh said: {error}");
        }
        if let Some(reason) = &proof.sshd_reason {
            println!("  sshd said: {reason}");
        }
        for gap in &proof.not_proven {
            println!("  not proven from here: {gap}");
        }
    }
    Ok(ExitCode::from(if proof.ok { 0 } else { 1 }))
}

fn check_port(target: &str, timeout_ms: u64) -> Result<ExitCode, BadInput> {
    let (host, port_number) = port::parse_target(target).map_err(|e| BadInput(e.to_string()))?;
    if timeout_ms == 0 {
        return Err(BadInput("--timeout-ms must be above 0".into()));
    }
    let result = port::check(&host, port_number, Duration::from_millis(timeout_ms));
    println!("{}", result.summary(target));
    Ok(ExitCode::from(if result.is_reachable() { 0 } else { 1 }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_option_and_argument_says_what_it_is_for() {
        let root = Cli::command();
        let mut missing = Vec::new();
        for command in std::iter::once(&root).chain(root.get_subcommands()) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() {
                    missing.push(format!("{} {id}", command.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "without help text: {missing:?}");
    }

    #[test]
    fn check_port_lists_only_its_own_options() {
        let mut root = Cli::command();
        let help = root
            .find_subcommand_mut("check-port")
            .expect("check-port")
            .render_long_help()
            .to_string();
        for foreign in [
            "--user",
            "--group",
            "--allow-shell",
            "--permit-open",
            "--db",
            "--profile",
        ] {
            assert!(!help.contains(foreign), "{foreign} in:\n{help}");
        }
        assert!(help.contains("--timeout-ms"), "{help}");
    }

    #[test]
    fn setup_options_work_before_and_after_the_command() {
        let cli = Cli::try_parse_from(["bw", "--user", "a", "status", "--group", "b"]).unwrap();
        let Some(Command::Status { setup, .. }) = &cli.command else {
            panic!("status");
        };
        let merged = cli.setup.merged(setup);
        assert_eq!(merged.user.as_deref(), Some("a"));
        assert_eq!(merged.group.as_deref(), Some("b"));
        assert!(Cli::try_parse_from(["bw", "check-port", "db:5432", "--user", "x"]).is_err());
    }
}
