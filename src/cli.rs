//! The command-line face: parses arguments, calls the engine, prints, sets exit codes.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::apply::{self, Event, Outcome};
use crate::authorized_keys::{Expires, PermitOpen};
use crate::checks::{self, Status};
use crate::dates::Clock;
use crate::inspect;
use crate::key::{self, Key};
use crate::key_list;
use crate::keygen;
use crate::plan::{self, Plan, StepState};
use crate::port;
use crate::profile::Profile;
use crate::revoke;
use crate::setup::{Options, Request};
use crate::state_dir::StateDir;
use crate::tui;
use crate::undo;
use crate::verify;

#[derive(Debug, Parser)]
#[command(
    name = "bastion-wizard",
    version,
    about = "Prepare this host as an SSH tunnel bastion for a data vendor (Whaly by default).\nWithout a command, runs the full-screen wizard.",
    after_long_help = "The wizard exits 0 when finished or quit, 1 on a terminal or internal error, \
        2 without a terminal or on bad input, 128+N when ended by signal N. \
        `bastion-wizard COMMAND --help` shows each command's options and exit status."
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
    #[command(after_long_help = "Exit status: 0 ready, 1 not ready, 2 bad input.")]
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
    #[command(after_long_help = "Exit status: 0 the plan was printed, 2 bad input.")]
    Plan {
        /// The vendor's public key, as they sent it ("-" for standard input)
        #[arg(long, value_name = "F")]
        key_file: String,
        /// Also plan the repair of the sshd settings that block this user's tunnel
        #[arg(long)]
        fix_sshd: bool,
        /// text for people; json, or the same setup for other hosts as a shell script,
        /// an Ansible playbook or a cloud-init config
        #[arg(long, value_enum, default_value = "text")]
        format: crate::export::Format,
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// Print the plan, then apply it (needs root)
    #[command(
        after_long_help = "Exit status: 0 done and the host is ready; 1 failed part-way (a rerun is safe) \
        or refused by the host's state before any change; 2 bad input; 3 not root; \
        4 declined at the prompt; 5 applied, but checks outside the account still fail. \
        Only 0, 1 and 5 can have changed anything."
    )]
    Apply {
        /// The vendor's public key, as they sent it ("-" for standard input)
        #[arg(long, value_name = "F", required_unless_present = "generate_key")]
        key_file: Option<String>,
        /// Make an ed25519 pair here instead, for a vendor whose form asks for a private key
        /// (Airbyte, Metabase): the public half is installed, the private half written once
        /// to a root-only file whose path is printed, to paste into the form and then shred
        #[arg(long, conflicts_with = "key_file")]
        generate_key: bool,
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
    ///
    /// The tunnel goes to the first --db target, else the first --permit-open one.
    // The probe never uses the group: --group is accepted, so one set of options serves
    // status and verify alike, but not listed.
    // Nor its own from= and expiry-time: the probe line brings its own.
    #[command(mut_arg("group", |a| a.hide(true)))]
    #[command(mut_arg("expires", |a| a.hide(true)))]
    #[command(mut_arg("from_vendor_ips", |a| a.hide(true)))]
    #[command(
        after_long_help = "Exit status: 0 the tunnel works, 1 it does not, 2 bad input, 3 not root."
    )]
    Verify {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// Every key line of the user's authorized_keys: type, fingerprint, options, whether this
    /// program added it, expiry, last login, and what sshd makes of the line
    // The list is judged against the vendor's addresses and database targets; how a new
    // key would be installed does not apply.
    #[command(mut_arg("group", |a| a.hide(true)))]
    #[command(mut_arg("allow_shell", |a| a.hide(true)))]
    #[command(mut_arg("expires", |a| a.hide(true)))]
    #[command(mut_arg("from_vendor_ips", |a| a.hide(true)))]
    Keys {
        /// Print the list as JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// Remove every line holding this key, keeping every other byte; the old file is backed up
    /// (exit 0 removed, 1 no such key, 2 bad input, 3 not root, 4 declined)
    // Only whose file it is matters (--user, or the profile's user).
    #[command(mut_arg("group", |a| a.hide(true)))]
    #[command(mut_arg("allow_shell", |a| a.hide(true)))]
    #[command(mut_arg("permit_open", |a| a.hide(true)))]
    #[command(mut_arg("db", |a| a.hide(true)))]
    #[command(mut_arg("expires", |a| a.hide(true)))]
    #[command(mut_arg("from_vendor_ips", |a| a.hide(true)))]
    Revoke {
        /// The key's SHA256 fingerprint, as `keys` or `ssh-keygen -l` prints it
        #[arg(value_name = "FINGERPRINT")]
        fingerprint: String,
        /// Revoke without asking
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// Undo what this program set up for the user: its key lines and sshd repair, shown as a
    /// plan first; never what it did not create
    // Whose setup (--user, --group for --delete-account), not how a key would be installed.
    #[command(mut_arg("allow_shell", |a| a.hide(true)))]
    #[command(mut_arg("permit_open", |a| a.hide(true)))]
    #[command(mut_arg("db", |a| a.hide(true)))]
    #[command(mut_arg("expires", |a| a.hide(true)))]
    #[command(mut_arg("from_vendor_ips", |a| a.hide(true)))]
    Remove {
        /// Also delete the user and group, if this program created them
        #[arg(long)]
        delete_account: bool,
        /// Remove without asking
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// Open a TCP connection from this host and report latency or the precise error
    #[command(after_long_help = "Exit status: 0 reachable, 1 not, 2 bad input.")]
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
    ///
    /// Without it the key is tunnel-only: its line gets `restrict,port-forwarding` (plus a
    /// `permitopen` for each --permit-open target) and a new user gets the system's nologin
    /// shell, so the vendor can forward ports and nothing else.
    #[arg(long)]
    pub allow_shell: bool,
    /// The key limits forwarding to this target (repeatable); status judges the host for it
    #[arg(long, value_name = "HOST:PORT")]
    pub permit_open: Vec<String>,
    /// A database target to check and show, without restricting the key (repeatable)
    #[arg(long = "db", value_name = "HOST:PORT")]
    pub db: Vec<String>,
    /// Vendor profile: a built-in name (whaly, fivetran, stitch, dbt-cloud, airbyte,
    /// metabase; any case) or a TOML file's path; Whaly's by default
    #[arg(long, value_name = "NAME|FILE")]
    pub profile: Option<String>,
    /// The vendor's region, for a profile with an IP list per region (required there)
    #[arg(long, value_name = "NAME")]
    pub region: Option<String>,
    /// The key's last day: its line gets expiry-time="YYYYMMDD235959", which sshd reads in
    /// this host's time zone, so the key stops working at the end of that day, host time;
    /// status warns a week before and fails after
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub expires: Option<String>,
    /// The key works only from the profile's vendor addresses: its line gets from="IP,..."
    #[arg(long)]
    pub from_vendor_ips: bool,
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
            region: pick(&self.region, &later.region),
            expires: pick(&self.expires, &later.expires),
            from_vendor_ips: self.from_vendor_ips || later.from_vendor_ips,
        }
    }

    /// Whether any of these options was given at all.
    fn given(&self) -> bool {
        let SetupArgs {
            user,
            group,
            allow_shell,
            permit_open,
            db,
            profile,
            region,
            expires,
            from_vendor_ips,
        } = self;
        user.is_some()
            || group.is_some()
            || *allow_shell
            || !permit_open.is_empty()
            || !db.is_empty()
            || profile.is_some()
            || region.is_some()
            || expires.is_some()
            || *from_vendor_ips
    }

    pub fn profile(&self) -> Result<Profile, BadInput> {
        Profile::resolve(self.profile.as_deref(), self.region.as_deref())
            .map_err(|e| BadInput(format!("{e:#}")))
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
            expires: self
                .expires
                .as_deref()
                .map(|text| Expires::parse(text, Clock::read().today()))
                .transpose()
                .map_err(|e| BadInput(format!("--expires: {e}")))?,
            from_vendor_ips: self.from_vendor_ips,
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
            format,
            setup,
        }) => show_plan(&with(&setup), &key_file, fix_sshd, format),
        Some(Command::Apply {
            key_file,
            generate_key,
            yes,
            fix_sshd,
            setup,
        }) => match (key_file, generate_key) {
            (Some(key_file), false) => {
                run_apply(&with(&setup), KeyInput::File(&key_file), yes, fix_sshd)
            }
            _ => run_apply(&with(&setup), KeyInput::Generate, yes, fix_sshd),
        },
        Some(Command::Verify { json, setup }) => run_verify(&with(&setup), json),
        Some(Command::Keys { json, setup }) => list_keys(&with(&setup), json),
        Some(Command::Revoke {
            fingerprint,
            yes,
            setup,
        }) => run_revoke(&with(&setup), &fingerprint, yes),
        Some(Command::Remove {
            delete_account,
            yes,
            setup,
        }) => run_remove(&with(&setup), delete_account, yes),
        Some(Command::CheckPort { .. }) if root.given() => Err(BadInput(
            "check-port takes no setup options (--user, --profile, ...): it only connects from this host".into(),
        )),
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
    let options = setup.options()?;
    if let Some(why) = options.refusal(&profile) {
        return Err(BadInput(format!("--from-vendor-ips: {why}")));
    }
    let key = key_file.map(read_key).transpose()?;
    let request = Request::new(&profile, options, key);
    Ok((profile, request))
}

/// The wizard, started with what the command line asked for. A missing terminal is said
/// first: it is the one thing no option can fix.
fn wizard(setup: &SetupArgs) -> Result<ExitCode, BadInput> {
    let no_terminal = |e: tui::NoTerminal| BadInput(e.to_string());
    tui::ensure_terminal().map_err(no_terminal)?;
    // The wizard asks for the region on its Account screen: it starts at the first one.
    let profile =
        Profile::resolve_or_first_region(setup.profile.as_deref(), setup.region.as_deref())
            .map_err(|e| BadInput(format!("{e:#}")))?;
    let request = Request::new(&profile, setup.options()?, None);
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
            "Tunnel user {} (group {}) on {}, for {}:",
            report.user, report.group, state.facts.hostname, profile.name
        );
        println!("{}\n", profile.list_origin());
        for c in &report.checks {
            println!("  {:<6} {}  [{}]", status_label(c.status), c.title, c.id);
            println!("  {:<6} {}", "", c.detail);
            if let Some(fix) = &c.fix {
                println!("  {:<6} fix: {fix}", "");
            }
        }
        println!("\n{}", report.verdict());
        print_other_vendors(&report.user, &profile, state.is_root);
    }
    Ok(ExitCode::from(if report.ready { 0 } else { 1 }))
}

/// The other vendor users this program manages here, one line each: a rerun for one vendor
/// still shows the whole host. Text only; the JSON report stays about one user.
fn print_other_vendors(user: &str, profile: &Profile, is_root: bool) {
    if !is_root {
        return;
    }
    let others: Vec<_> = crate::vendors::managed(&StateDir::locate(), profile)
        .into_iter()
        .filter(|v| v.user != user)
        .collect();
    if others.is_empty() {
        return;
    }
    println!("\nOther vendor users this program manages here:");
    for v in others {
        println!(
            "  {:<6} {} ({}): {}",
            if v.ready { "ok" } else { "FAIL" },
            v.user,
            v.vendor,
            v.verdict
        );
    }
}

pub fn status_label(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Fail => "FAIL",
        Status::Warn => "warn",
        Status::Manual => "manual",
    }
}

fn show_plan(
    setup: &SetupArgs,
    key_file: &str,
    fix_sshd: bool,
    format: crate::export::Format,
) -> Result<ExitCode, BadInput> {
    let (profile, mut request) = prepare(setup, Some(key_file))?;
    request.fix_sshd = fix_sshd;
    let state = inspect::inspect(&request);
    let plan = refused(plan::prepare(&request, &state))?;
    if let Some(export) = crate::export::render(format, &request, &plan, setup.profile.as_deref()) {
        print!("{export}");
        return Ok(ExitCode::SUCCESS);
    }
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

/// Where `apply` gets the key: the vendor's file, or a pair made here (`--generate-key`).
enum KeyInput<'a> {
    File(&'a str),
    Generate,
}

fn run_apply(
    setup: &SetupArgs,
    input: KeyInput,
    yes: bool,
    fix_sshd: bool,
) -> Result<ExitCode, BadInput> {
    let key_file = match input {
        KeyInput::File(f) => Some(f),
        KeyInput::Generate => None,
    };
    let (profile, mut request) = prepare(setup, key_file)?;
    request.fix_sshd = fix_sshd;
    if !inspect::is_root() {
        eprintln!("bastion-wizard: apply needs root: run `sudo bastion-wizard apply ...`. Nothing was changed.");
        return Ok(ExitCode::from(3));
    }
    if !yes && (key_file == Some("-") || !std::io::stdin().is_terminal()) {
        return Err(BadInput(
            "apply without a terminal needs --yes; nothing was changed".into(),
        ));
    }
    let generated = match key_file {
        Some(_) => None,
        None => {
            let pair = keygen::generate(&StateDir::locate(), &request.user)
                .map_err(|e| BadInput(format!("cannot generate a key pair: {e:#}")))?;
            request.key = Some(pair.key.clone());
            Some(pair)
        }
    };
    let code = apply_request(&profile, &request, yes);
    if let Some(pair) = generated {
        let installed = matches!(code, Ok(c) if c == ExitCode::SUCCESS || c == ExitCode::from(5));
        if installed {
            println!();
            for line in pair.instructions(&profile.name) {
                println!("{line}");
            }
        } else {
            pair.discard();
        }
    }
    code
}

/// Shows the plan (asking first unless `yes`), applies it, and judges the host.
fn apply_request(profile: &Profile, request: &Request, yes: bool) -> Result<ExitCode, BadInput> {
    let (profile, request) = (profile.clone(), request.clone());
    let mut shown = None;
    if !yes {
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

/// Exit 0 even when the file cannot be read as non-root: the list says so, as status's
/// checks that need root do.
fn list_keys(setup: &SetupArgs, json: bool) -> Result<ExitCode, BadInput> {
    let (_, request) = prepare(setup, None)?;
    let list = key_list::read(&request, &StateDir::locate());
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&list).expect("list serializes")
        );
    } else {
        print!("{}", key_list::render(&list));
    }
    if let Some(why) = &list.unreadable {
        eprintln!("bastion-wizard: {why}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks y/N on the terminal; false without one (callers refuse before asking).
fn confirm(question: &str) -> bool {
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    answer.trim().eq_ignore_ascii_case("y")
}

/// What every command that changes the host checks first: root (else exit 3), and a
/// terminal to ask on unless `--yes` (else bad input); nothing is changed either way.
fn may_change(command: &str, yes: bool) -> Result<Option<ExitCode>, BadInput> {
    if !inspect::is_root() {
        eprintln!("bastion-wizard: {command} needs root: run `sudo bastion-wizard {command} ...`. Nothing was changed.");
        return Ok(Some(ExitCode::from(3)));
    }
    if !yes && !std::io::stdin().is_terminal() {
        return Err(BadInput(format!(
            "{command} without a terminal needs --yes; nothing was changed"
        )));
    }
    Ok(None)
}

fn run_revoke(setup: &SetupArgs, fingerprint: &str, yes: bool) -> Result<ExitCode, BadInput> {
    let fingerprint = revoke::parse_fingerprint(fingerprint).map_err(BadInput)?;
    let (_, request) = prepare(setup, None)?;
    if let Some(code) = may_change("revoke", yes)? {
        return Ok(code);
    }
    let state_dir = StateDir::locate();
    let list = key_list::read(&request, &state_dir);
    let path = inspect::authorized_keys_path_of(&request.user);
    let Some(plan) = revoke::plan(&list, &fingerprint, &path) else {
        eprintln!(
            "bastion-wizard: no line of {}'s authorized_keys holds {fingerprint}; nothing was changed",
            request.user
        );
        return Ok(ExitCode::from(1));
    };
    print!("{}", plan.render());
    if !yes && !confirm("Revoke this key?") {
        println!("Nothing was changed.");
        return Ok(ExitCode::from(4));
    }
    let outcome = revoke::revoke(&request.user, &fingerprint, &state_dir);
    let words = outcome.words(&state_dir.path.join("backups"));
    Ok(match outcome {
        revoke::Outcome::Removed(_) => {
            println!("{words}");
            ExitCode::SUCCESS
        }
        revoke::Outcome::NotRoot => ExitCode::from(3),
        revoke::Outcome::NoSuchKey | revoke::Outcome::Failed(_) => {
            eprintln!("bastion-wizard: {words}");
            ExitCode::from(1)
        }
    })
}

fn run_remove(setup: &SetupArgs, delete_account: bool, yes: bool) -> Result<ExitCode, BadInput> {
    let (_, request) = prepare(setup, None)?;
    if let Some(code) = may_change("remove", yes)? {
        return Ok(code);
    }
    let state_dir = StateDir::locate();
    let (user, group) = (request.user.as_str(), request.group.as_str());
    let mut shown = None;
    if !yes {
        let ledger = crate::ledger::Ledger::read(&state_dir);
        let plan = undo::plan(
            user,
            group,
            &ledger,
            &undo::gather(user, group, &ledger),
            delete_account,
        );
        print!("{}", plan.render());
        if plan.blocked() {
            eprintln!("bastion-wizard: a step cannot run as things stand; nothing was changed");
            return Ok(ExitCode::from(1));
        }
        if plan.to_do() == 0 {
            return Ok(ExitCode::SUCCESS);
        }
        if !confirm(&plan.question()) {
            println!("Nothing was changed.");
            return Ok(ExitCode::from(4));
        }
        shown = Some(plan);
    }
    let mut printed = false;
    let outcome = undo::remove(
        user,
        group,
        delete_account,
        &state_dir,
        &mut |plan, event| {
            if !printed {
                printed = true;
                if shown.as_ref() != Some(plan) {
                    if shown.is_some() {
                        println!("The host changed since the plan was shown; undoing this plan:");
                    }
                    print!("{}", plan.render());
                }
            }
            match event {
                Event::StepDone(i) => println!("  ✓ {}", plan.steps[i].title),
                Event::StepFailed(i, error) => println!("  ✗ {}: {error}", plan.steps[i].title),
                _ => {}
            }
        },
    );
    if !printed && shown.is_none() {
        // Nothing ran: show what was found, so a rerun says why nothing changed.
        let ledger = crate::ledger::Ledger::read(&state_dir);
        let facts = undo::gather(user, group, &ledger);
        print!(
            "{}",
            undo::plan(user, group, &ledger, &facts, delete_account).render()
        );
    }
    let summary = outcome.summary();
    Ok(match outcome {
        Outcome::Done { changed: 0 } => ExitCode::SUCCESS,
        Outcome::Done { .. } => {
            println!("{}", summary.headline);
            ExitCode::SUCCESS
        }
        Outcome::NotRoot => ExitCode::from(3),
        _ => {
            eprintln!("bastion-wizard: {}", summary.headline);
            for line in &summary.lines {
                eprintln!("  {line}");
            }
            ExitCode::from(1)
        }
    })
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

    /// Each command lists the setup options that change what it does, and no other.
    #[test]
    fn each_command_lists_only_the_setup_options_that_apply() {
        let all = [
            "--user",
            "--group",
            "--allow-shell",
            "--permit-open",
            "--db",
            "--profile",
            "--region",
            "--expires",
            "--from-vendor-ips",
        ];
        let listed: &[(&str, &[&str])] = &[
            ("status", &all),
            ("plan", &all),
            ("apply", &all),
            (
                "verify",
                &[
                    "--user",
                    "--allow-shell",
                    "--permit-open",
                    "--db",
                    "--profile",
                    "--region",
                ],
            ),
            (
                "keys",
                &["--user", "--permit-open", "--db", "--profile", "--region"],
            ),
            ("revoke", &["--user", "--profile", "--region"]),
            ("remove", &["--user", "--group", "--profile", "--region"]),
        ];
        let mut root = Cli::command();
        for (name, own) in listed {
            let help = root
                .find_subcommand_mut(name)
                .expect(name)
                .render_long_help()
                .to_string();
            for option in all {
                let shown =
                    help.contains(&format!("{option} ")) || help.contains(&format!("{option}\n"));
                assert_eq!(shown, own.contains(&option), "{name} {option}:\n{help}");
            }
        }
    }

    #[test]
    fn verify_lists_no_group() {
        let mut root = Cli::command();
        let help = root
            .find_subcommand_mut("verify")
            .expect("verify")
            .render_long_help()
            .to_string();
        assert!(!help.contains("--group"), "{help}");
        for own in ["--user", "--allow-shell", "--permit-open", "--db", "--json"] {
            assert!(help.contains(own), "{own} missing in:\n{help}");
        }
        assert!(Cli::try_parse_from(["bw", "verify", "--group", "g"]).is_ok());
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
        // Before the command they parse, but check-port refuses them rather than ignore them.
        let before = Cli::try_parse_from(["bw", "--user", "x", "check-port", "db:5432"]).unwrap();
        assert!(before.setup.given());
        assert_eq!(run(before), ExitCode::from(2));
        assert!(!Cli::try_parse_from(["bw", "check-port", "db:5432"])
            .unwrap()
            .setup
            .given());
    }
}
