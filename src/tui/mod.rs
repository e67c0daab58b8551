//! The full-screen wizard: `app` holds state and the pure update step (with `account`,
//! `checklist` and `apply_run` for the parts of the state they name, and `derived` for
//! the plan and report worked out from it), `screens` draw it, `runtime` performs the
//! effects, and this module owns the terminal.

pub mod account;
pub mod app;
pub mod apply_run;
pub mod checklist;
pub mod derived;
pub mod key_actions;
pub mod line_edit;
pub mod runtime;
pub mod screens;
pub mod theme;
pub mod vendor_picker;
pub mod view;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{self, DisableBracketedPaste, EnableBracketedPaste, Event};
use crossterm::execute;

use crate::inspect;
use crate::profile::Profile;
use crate::setup::Request;
use crate::state_dir::StateDir;
use app::{AccountField, AccountForm, App, Checklist};
use runtime::Runtime;
use theme::Theme;

/// How long the loop waits for input before redrawing (spinners, worker messages).
const FRAME: Duration = Duration::from_millis(100);
/// Keys closer together than this came from a machine, not a person: a paste that a
/// terminal, console or serial link types as keystrokes. Such a run is text only.
const BURST_GAP: Duration = Duration::from_millis(30);
/// A run this long is handed over before it ends, so a flood cannot hold the screen.
const MAX_RUN: usize = 4096;
const TICKS_FILE: &str = "checklist.json";
const TARGET_FILE: &str = "database-target";
/// Signals that end the wizard with the terminal restored: kill's default, the SSH
/// session to the bastion dropping, and an interrupt from outside the terminal.
const ENDING_SIGNALS: [i32; 3] = [
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGINT,
];

/// Why the loop ended other than the person quitting.
enum Ending {
    Quit,
    Signal(usize),
    WorkerFailed(String),
}

/// The wizard cannot run without a terminal on both ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoTerminal;

impl std::fmt::Display for NoTerminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the wizard needs a terminal; without one use `bastion-wizard status`, `plan` or `apply`")
    }
}

impl std::error::Error for NoTerminal {}

pub fn ensure_terminal() -> Result<(), NoTerminal> {
    if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        Ok(())
    } else {
        Err(NoTerminal)
    }
}

/// The wizard for `request` (no key yet): its form starts from what was asked.
pub fn run(profile: Profile, request: Request) -> Result<ExitCode, NoTerminal> {
    ensure_terminal()?;
    crate::verify::remove_leftover_probes(&request.user);
    let targets: Vec<String> = request
        .access
        .permit_open
        .iter()
        .map(ToString::to_string)
        .collect();
    let account = AccountForm {
        user: request.user.clone(),
        group: request.group.clone(),
        tunnel_only: !request.access.allow_shell,
        targets: targets.join(" "),
        expires: request
            .access
            .expires
            .map(|e| e.0.to_string())
            .unwrap_or_default(),
        from_vendor_ips: !request.access.from.is_empty(),
        focus: AccountField::User,
    };
    let state_dir = StateDir::locate();
    let ticks = state_dir
        .read(TICKS_FILE)
        .map(|t| Checklist::ticks_from_json(&t))
        .unwrap_or_default();
    // The host is read on a worker: the first screen is drawn at once and filled in.
    let mut app = App::reading(profile, account, inspect::is_root(), ticks);
    if app.checklist.target.is_empty() {
        let saved = request
            .db
            .first()
            .map(ToString::to_string)
            .or_else(|| state_dir.read(TARGET_FILE));
        app.checklist.target = saved.unwrap_or_default().trim().to_string();
    }
    // The target is part of what the plan and the report follow.
    app.refresh_if_changed();
    let first_inspection = app.inspect();
    let theme = Theme::from_env();

    let signal = Arc::new(AtomicUsize::new(0));
    for number in ENDING_SIGNALS {
        // Without the handler the signal's default still ends the program; only the
        // terminal would stay raw, as before.
        let _ = signal_hook::flag::register_usize(number, signal.clone(), number as usize);
    }
    let mut terminal = ratatui::init();
    install_panic_hook();
    let _ = execute!(std::io::stdout(), EnableBracketedPaste);
    let mut runtime = Runtime::new(state_dir);
    // The key list and the other vendor users are read once this inspection arrives.
    runtime.perform(first_inspection);
    let result = event_loop(&mut terminal, &mut app, &theme, runtime, &signal);
    // A pair generated here whose public half was never installed is only a risk.
    if let Some(pair) = app.unused_pair() {
        pair.discard();
    }
    let _ = execute!(std::io::stdout(), DisableBracketedPaste);
    ratatui::restore();
    match result {
        Ok(Ending::Quit) => Ok(ExitCode::SUCCESS),
        Ok(Ending::Signal(number)) => Ok(ExitCode::from(128 + number as u8)),
        Ok(Ending::WorkerFailed(why)) => {
            eprintln!("bastion-wizard: internal error in a background task: {why}");
            eprintln!("The wizard stopped. Run `sudo bastion-wizard status` to see where the host stands.");
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("bastion-wizard: terminal error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// ratatui's own hook restores the screen on panic but leaves bracketed paste on. A
/// worker's panic is reported by the runtime to the loop, which ends the wizard and
/// restores the terminal itself: printing it here would land inside the wizard's screen.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if runtime::is_worker() {
            return;
        }
        let _ = execute!(std::io::stdout(), DisableBracketedPaste);
        previous(info);
    }));
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    theme: &Theme,
    mut runtime: Runtime,
    signal: &AtomicUsize,
) -> std::io::Result<Ending> {
    let mut run: Vec<Event> = Vec::new();
    let mut continued = false;
    let mut last_input = Instant::now();
    while !app.should_quit {
        match signal.load(Ordering::Relaxed) {
            0 => {}
            number => return Ok(Ending::Signal(number)),
        }
        if let Some(why) = runtime.failure() {
            return Ok(Ending::WorkerFailed(why));
        }
        // While keys stream in, nothing changes on screen until the run ends.
        if run.is_empty() {
            terminal.draw(|frame| view::render(app, theme, frame))?;
        }
        let wait = if run.is_empty() {
            FRAME
        } else {
            BURST_GAP.saturating_sub(last_input.elapsed())
        };
        let mut effects = Vec::new();
        if event::poll(wait)? {
            run.push(event::read()?);
            last_input = Instant::now();
            if run.len() >= MAX_RUN {
                effects.extend(app.input(std::mem::take(&mut run), continued));
                continued = true;
            }
        } else if !run.is_empty() {
            effects.extend(app.input(std::mem::take(&mut run), continued));
            continued = false;
        }
        while let Some(message) = runtime.next_message() {
            effects.extend(app.on_message(message));
        }
        for effect in effects {
            runtime.perform(effect);
        }
        app.tick = app.tick.wrapping_add(1);
    }
    Ok(Ending::Quit)
}
