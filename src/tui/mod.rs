//! The full-screen wizard: `app` holds state and the pure update step, `screens` draw it,
//! `runtime` performs the effects, and this module owns the terminal.

pub mod app;
pub mod runtime;
pub mod screens;
pub mod theme;
pub mod view;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use crossterm::event::{self, DisableBracketedPaste, EnableBracketedPaste};
use crossterm::execute;

use crate::cli::{BadInput, SetupArgs};
use crate::inspect;
use crate::state_dir::StateDir;
use app::{AccountField, AccountForm, App, Checklist};
use runtime::Runtime;
use theme::Theme;

/// How long the loop waits for input before redrawing (spinners, worker messages).
const FRAME: Duration = Duration::from_millis(100);
const TICKS_FILE: &str = "checklist.json";

pub fn run(setup: &SetupArgs) -> Result<ExitCode, BadInput> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(BadInput(
            "the wizard needs a terminal; without one use `bastion-wizard status`, `plan` or `apply`".into(),
        ));
    }
    let profile = setup.profile()?;
    let request = setup.request(&profile, None)?;
    crate::verify::remove_leftover_probes(&request.user);
    let account = AccountForm {
        user: request.user.clone(),
        group: request.group.clone(),
        tunnel_only: !setup.allow_shell,
        targets: setup.permit_open.join(" "),
        focus: AccountField::User,
    };
    let state_dir = StateDir::locate();
    let ticks = state_dir
        .read(TICKS_FILE)
        .map(|t| Checklist::ticks_from_json(&t))
        .unwrap_or_default();
    let state = inspect::inspect(&request);
    let mut app = App::new(profile, account, state, ticks);
    let theme = Theme::from_env();

    let mut terminal = ratatui::init();
    install_paste_restore_on_panic();
    let _ = execute!(std::io::stdout(), EnableBracketedPaste);
    let result = event_loop(&mut terminal, &mut app, &theme, Runtime::new(state_dir));
    let _ = execute!(std::io::stdout(), DisableBracketedPaste);
    ratatui::restore();
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("bastion-wizard: terminal error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// ratatui's own hook restores the screen on panic but leaves bracketed paste on.
fn install_paste_restore_on_panic() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(std::io::stdout(), DisableBracketedPaste);
        previous(info);
    }));
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    theme: &Theme,
    mut runtime: Runtime,
) -> std::io::Result<()> {
    while !app.should_quit {
        terminal.draw(|frame| view::render(app, theme, frame))?;
        let mut effects = Vec::new();
        if event::poll(FRAME)? {
            effects.extend(app.update(event::read()?));
        }
        while let Some(message) = runtime.next_message() {
            effects.extend(app.on_message(message));
        }
        for effect in effects {
            runtime.perform(effect);
        }
        app.tick = app.tick.wrapping_add(1);
    }
    Ok(())
}
