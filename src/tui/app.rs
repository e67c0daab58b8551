//! The wizard's state and its one `update` step. Pure: input events and worker messages
//! come in, effects go out; the runtime performs them. Tests drive it directly.

use std::cell::Cell;
use std::collections::BTreeMap;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tui_textarea::TextArea;

// Re-exported so callers keep naming them through `app`.
pub use super::account::{AccountField, AccountForm};
pub use super::apply_run::{ApplyRun, StepProgress};
pub use super::checklist::Checklist;
use super::derived::Derived;
pub use super::key_actions::{GeneratedPair, KeyAction, KeysPane};
use super::line_edit;

use crate::apply::Outcome;
use crate::authorized_keys::PermitOpen;
use crate::checks::{Report, Status, Verdict};
use crate::inspect::HostState;
use crate::key::{Key, KeyError};
use crate::key_list::KeyList;
use crate::keygen::Generated;
use crate::plan::{self, Plan};
use crate::port::PortCheck;
use crate::profile::Profile;
use crate::setup::{Options, Request};
use crate::undo::UndoPlan;
use crate::verify::Proof;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Welcome,
    Account,
    Paste,
    Review,
    Apply,
    Ports,
    Finish,
}

impl Screen {
    pub const ALL: [Screen; 7] = [
        Screen::Welcome,
        Screen::Account,
        Screen::Paste,
        Screen::Review,
        Screen::Apply,
        Screen::Ports,
        Screen::Finish,
    ];

    pub fn number(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0) + 1
    }

    pub fn title(self) -> &'static str {
        match self {
            Screen::Welcome => "Where this host stands",
            Screen::Account => "Account",
            Screen::Paste => "Paste the key",
            Screen::Review => "Review",
            Screen::Apply => "Apply",
            Screen::Ports => "Port access",
            Screen::Finish => "Finish",
        }
    }

    /// Screens where letters are text, so `q` cannot be a shortcut there.
    pub fn takes_text(self) -> bool {
        matches!(self, Screen::Account | Screen::Paste)
    }
}

/// What the runtime does on the wizard's behalf, off the UI thread where slow.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Read the host; the answer carries the id back.
    Inspect(u64, Box<Request>),
    Apply(Box<Request>),
    CheckPort(String),
    SaveTicks(String),
    /// The database target typed on Account or Port access, kept for the next run.
    SaveTarget(String),
    /// The live proof through this host's sshd (`verify`).
    Verify(Box<Request>),
    /// The user's key lines, as `keys` lists them.
    /// The key list, from the file and the ledger; the log, the clock and sshd's release
    /// come with it from the inspection just made, so they are not read again.
    ReadKeys(Box<Request>, Box<super::key_actions::KeySources>),
    /// Every vendor user this program manages, each judged (Welcome lists them).
    ReadVendorUsers(Box<Profile>),
    /// `revoke` of each key, in turn.
    Revoke {
        user: String,
        fingerprints: Vec<String>,
    },
    /// `remove`'s plan, as it would run now.
    PlanRemove(RemoveAsk),
    /// `remove` itself.
    Remove(RemoveAsk),
    /// `apply --generate-key`'s pair, for a vendor that wants the customer's key.
    GenerateKey(String),
    /// Deletes a generated pair that was not installed.
    DiscardPair(Box<Generated>),
}

/// Whose setup `remove` undoes, and whether the account goes too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveAsk {
    pub user: String,
    pub group: String,
    pub delete_account: bool,
}

/// What comes back from the runtime.
#[derive(Debug)]
pub enum Message {
    /// The host as read for the `Inspect` with this id.
    Inspected(u64, Box<HostState>),
    Planned(Plan),
    StepRunning(usize),
    StepDone(usize),
    StepFailed(usize, String),
    Applied(Outcome),
    PortChecked(String, PortCheck),
    Verified(Proof),
    Keys(Box<KeyList>),
    VendorUsers(Vec<crate::vendors::VendorUser>),
    /// Each key revoked, with `revoke`'s words for what happened.
    Revoked(Vec<(crate::revoke::Outcome, String)>),
    /// Undo's plan for what was asked.
    RemovePlanned(RemoveAsk, Box<UndoPlan>),
    Removed(Outcome),
    /// The generated pair, or why there is none.
    Generated(Result<Generated, String>),
}

/// The welcome screen's check list: which check has focus and whether its detail is open.
#[derive(Debug, Default)]
pub struct CheckList {
    pub focus: usize,
    pub detail: bool,
    /// First visible row. Only the view knows the list's height, so it keeps this up to
    /// date when drawing, and the list scrolls only when focus would leave it.
    pub offset: Cell<usize>,
}

/// The live proof on the Finish screen.
#[derive(Debug, Default)]
pub struct ProofRun {
    pub running: bool,
    pub result: Option<Proof>,
}

pub struct App {
    pub screen: Screen,
    pub profile: Profile,
    pub state: HostState,
    pub account: AccountForm,
    pub paste: TextArea<'static>,
    pub intake: Option<Result<Key, KeyError>>,
    pub confirm_apply: bool,
    pub review_scroll: u16,
    /// Scroll of the Apply and Finish screens; reset on every screen change.
    pub scroll: u16,
    /// How far the scrolled screen on show can go, as last drawn: Down stops there, so the
    /// first Up after the end moves the text.
    pub scroll_room: std::cell::Cell<u16>,
    /// Where Finish's live proof begins, kept by the view, so that the proof's result is
    /// brought into sight when it arrives.
    pub proof_at: std::cell::Cell<u16>,
    pub checks: CheckList,
    /// Whether the plan repairs sshd; on by default, `s` on the review screen switches it.
    pub fix_sshd: bool,
    pub proof: ProofRun,
    pub run: ApplyRun,
    pub checklist: Checklist,
    pub help: bool,
    pub confirm_quit: bool,
    pub should_quit: bool,
    /// A one-line notice for the current screen (why Enter did nothing, ...).
    pub notice: Option<String>,
    /// Advances every loop turn; drives spinners.
    pub tick: usize,
    /// The account `state` was read for (when the form differs, a fresh inspect is due).
    pub inspected_for: (String, String),
    /// The last inspection id given out; the one whose answer is awaited, if any, and
    /// the account it was asked for.
    inspections: u64,
    awaited: Option<u64>,
    inspecting_for: (String, String),
    /// Counts each new host state taken, so the plan and report know to follow it.
    pub(crate) state_version: u64,
    /// The plan and the report as of the last input or message.
    pub(crate) derived: Option<Derived>,
    pub(crate) derivations: usize,
    /// Account's Enter waits for the host to be read for the new account, then the gate.
    pub awaiting_gate: bool,
    /// Why the gate refused the account, shown on the Account screen.
    pub refusal: Option<plan::Refusal>,
    /// The cursor in the text field being edited (`None`: at its end).
    pub edit_cursor: Option<usize>,
    /// A private key typed in pieces is being discarded until its END line.
    pub swallowing: Option<super::screens::paste::Swallow>,
    /// Every vendor user this program manages here, with its verdict (Welcome lists them).
    pub vendor_users: Vec<crate::vendors::VendorUser>,
    /// The user's keys on Welcome, revoke, remove and rotate (`None` until read).
    pub keys: KeysPane,
    /// A pair generated here for a vendor that wants the customer's key.
    pub generated: Option<GeneratedPair>,
    /// Whether the host has been read at all: the wizard draws before its first
    /// inspection ends, and until then shows the checks as being read.
    pub host_read: bool,
    /// Enter was pressed on Welcome before the host was read: go on once it is.
    pub enter_when_read: bool,
}

impl App {
    pub fn new(
        profile: Profile,
        account: AccountForm,
        state: HostState,
        ticks: BTreeMap<String, bool>,
    ) -> App {
        let target = account.first_target().to_string();
        let paste = fresh_textarea();
        let mut app = App {
            screen: Screen::Welcome,
            inspected_for: (account.user.clone(), account.group.clone()),
            inspections: 0,
            awaited: None,
            inspecting_for: (account.user.clone(), account.group.clone()),
            state_version: 0,
            derived: None,
            derivations: 0,
            profile,
            state,
            account,
            paste,
            intake: None,
            confirm_apply: false,
            review_scroll: 0,
            scroll: 0,
            scroll_room: std::cell::Cell::new(u16::MAX),
            proof_at: std::cell::Cell::new(0),
            checks: CheckList::default(),
            fix_sshd: true,
            proof: ProofRun::default(),
            run: ApplyRun::default(),
            checklist: Checklist::new(ticks, target),
            help: false,
            confirm_quit: false,
            should_quit: false,
            notice: None,
            tick: 0,
            awaiting_gate: false,
            refusal: None,
            edit_cursor: None,
            swallowing: None,
            vendor_users: Vec::new(),
            keys: KeysPane::default(),
            generated: None,
            host_read: true,
            enter_when_read: false,
        };
        app.refresh_if_changed();
        app
    }

    /// The wizard before the host is read: its first screen is drawn at once, and the
    /// runtime's answer to `inspect()` fills the checks in.
    pub fn reading(
        profile: Profile,
        account: AccountForm,
        is_root: bool,
        ticks: BTreeMap<String, bool>,
    ) -> App {
        let state = HostState::not_read(is_root, &account.user);
        let mut app = App::new(profile, account, state, ticks);
        app.host_read = false;
        app
    }

    pub fn key(&self) -> Option<&Key> {
        self.intake.as_ref().and_then(|r| r.as_ref().ok())
    }

    /// The request as the form stands; invalid targets are left out (the form shows why).
    pub fn request(&self) -> Request {
        Request::new(&self.profile, self.options(), self.key().cloned())
    }

    /// The form's options; invalid targets and dates are left out (the form shows why).
    /// The checklist's database target, when valid, is one to check and prove.
    pub fn options(&self) -> Options {
        let permit_open = self.account.parsed_targets().unwrap_or_default();
        let db = self
            .checklist
            .target
            .parse::<PermitOpen>()
            .ok()
            .filter(|t| !permit_open.contains(t))
            .into_iter()
            .collect();
        Options {
            user: Some(self.account.user.clone()),
            group: Some(self.account.group.clone()),
            allow_shell: !self.account.tunnel_only,
            permit_open,
            db,
            // Only root can repair; a preview plans nothing it could not do.
            fix_sshd: self.fix_sshd && self.is_root(),
            expires: self
                .account
                .parsed_expires(self.state.clock.today())
                .ok()
                .flatten(),
            from_vendor_ips: self.account.from_vendor_ips,
        }
    }

    /// Asks for the host to be read again for the request as it stands. Only the answer
    /// to the newest such ask is taken: an older one describes what is no longer asked.
    pub fn inspect(&mut self) -> Effect {
        self.inspections += 1;
        self.awaited = Some(self.inspections);
        self.inspecting_for = (self.account.user.clone(), self.account.group.clone());
        Effect::Inspect(self.inspections, Box::new(self.request()))
    }

    /// The one sentence every screen says about the host: the report's verdict, except
    /// that a normal user cannot call a host ready whose root-only checks went unread.
    pub fn verdict_words(&self, report: &Report) -> String {
        let unread = report.checks.iter().any(|c| c.status == Status::Warn);
        if report.verdict() == Verdict::Ready && !self.is_root() && unread {
            return "Not known to be ready: no check fails, but those marked ! could not be read without root (sudo bastion-wizard)."
                .into();
        }
        report.verdict().to_string()
    }

    pub fn is_root(&self) -> bool {
        self.state.is_root
    }

    /// Changes are pending when a key was accepted and its plan has not been applied.
    pub fn changes_pending(&self) -> bool {
        self.key().is_some() && self.run.outcome.is_none() && self.plan().to_do() > 0
    }

    /// One deliberate key or paste, as a person gives it.
    pub fn update(&mut self, event: Event) -> Vec<Effect> {
        let effects = match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.on_key(key),
            Event::Paste(text) => self.on_paste(&text),
            _ => Vec::new(),
        };
        self.refresh_if_changed();
        effects
    }

    /// Input as the runtime saw it arrive: `run` came faster than a person types (or
    /// `continued` an earlier such run) unless it is one event alone.
    pub fn input(&mut self, run: Vec<Event>, continued: bool) -> Vec<Effect> {
        if run.len() == 1 && !continued {
            let event = run.into_iter().next().expect("one event");
            return self.update(event);
        }
        self.burst(run)
    }

    /// Keys that arrived together, faster than anyone types: a paste typed as keystrokes
    /// by a terminal, a console or a serial link. Text in it is only ever text: it never
    /// presses Enter on a screen, answers a prompt or takes a shortcut. A burst without
    /// text (an arrow held down) is applied key by key.
    pub fn burst(&mut self, events: Vec<Event>) -> Vec<Effect> {
        let effects = self.burst_effects(events);
        self.refresh_if_changed();
        effects
    }

    fn burst_effects(&mut self, events: Vec<Event>) -> Vec<Effect> {
        let mut text = String::new();
        let mut other = Vec::new();
        for event in events {
            match event {
                Event::Key(key) if key.kind == KeyEventKind::Release => {}
                Event::Key(key) => {
                    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
                    let alt = key.modifiers.contains(KeyModifiers::ALT);
                    match key.code {
                        KeyCode::Char('c') if ctrl => {
                            self.should_quit = true;
                            return Vec::new();
                        }
                        // In raw mode a line feed reads as Ctrl-J and a carriage return
                        // as Enter (or Ctrl-M).
                        KeyCode::Char('j' | 'm') if ctrl => text.push('\n'),
                        KeyCode::Char(c) if !ctrl && !alt => text.push(c),
                        KeyCode::Enter => text.push('\n'),
                        KeyCode::Tab => text.push('\t'),
                        _ => other.push(key),
                    }
                }
                Event::Paste(pasted) => text.push_str(&pasted),
                _ => {}
            }
        }
        if text.is_empty() {
            return other.into_iter().flat_map(|key| self.on_key(key)).collect();
        }
        self.typed_text(&text, true)
    }

    /// Text that arrived as a burst of keystrokes or a bracketed paste.
    fn typed_text(&mut self, text: &str, burst: bool) -> Vec<Effect> {
        // Text never answers a question or presses a key.
        if self.help || self.confirm_quit || self.keys.action.is_some() {
            return Vec::new();
        }
        match self.screen {
            Screen::Paste => return self.paste_text(text, burst),
            Screen::Account => {
                self.refusal = None;
                let cursor = &mut self.edit_cursor;
                if let Some(field) = self.account.focused_text() {
                    line_edit::insert(field, cursor, text, |_| true);
                }
            }
            Screen::Ports if self.checklist.editing_target => {
                line_edit::insert(
                    &mut self.checklist.target,
                    &mut self.edit_cursor,
                    text,
                    |c| !c.is_whitespace(),
                );
            }
            _ if burst => {
                self.notice = Some(
                    "Ignored keys that came faster than anyone types (a paste?): here keys are commands, so press them one at a time.".into(),
                );
            }
            _ => {}
        }
        Vec::new()
    }

    pub fn on_message(&mut self, message: Message) -> Vec<Effect> {
        let effects = self.message_effects(message);
        self.refresh_if_changed();
        effects
    }

    fn message_effects(&mut self, message: Message) -> Vec<Effect> {
        match message {
            // An answer to an older ask would overwrite a newer one's.
            Message::Inspected(id, _) if self.awaited != Some(id) => {}
            Message::Inspected(_, state) => {
                self.awaited = None;
                self.host_read = true;
                self.state = *state;
                self.state_version += 1;
                self.inspected_for = self.inspecting_for.clone();
                self.run.reinspecting = false;
                // What the host holds may have changed: the lists follow the inspection.
                let mut effects = self.background_reads();
                if std::mem::take(&mut self.enter_when_read) && self.screen == Screen::Welcome {
                    self.notice = None;
                    effects.extend(self.go(Screen::Account));
                    return effects;
                }
                if self.awaiting_gate {
                    self.awaiting_gate = false;
                    if self.screen == Screen::Account {
                        effects.extend(self.pass_gate());
                    }
                }
                return effects;
            }
            Message::Planned(plan) => self.run.planned(plan),
            Message::StepRunning(i) => self.run.set_progress(i, StepProgress::Running),
            Message::StepDone(i) => self.run.set_progress(i, StepProgress::Done),
            Message::StepFailed(i, _) => self.run.set_progress(i, StepProgress::Failed),
            Message::Applied(outcome) => {
                self.run.running = false;
                self.pair_applied(&outcome);
                self.run.outcome = Some(outcome);
                self.run.reinspecting = true;
                return vec![self.inspect()];
            }
            Message::PortChecked(target, result) => {
                self.checklist.checking = false;
                self.checklist.result = Some((target, result));
            }
            Message::Verified(proof) => {
                self.proof.running = false;
                self.proof.result = Some(proof);
                if self.screen == Screen::Finish {
                    self.scroll = self.proof_at.get();
                }
                // The proof may have met what the checks did not: read the host again.
                return vec![self.inspect()];
            }
            other => return self.on_key_message(other),
        }
        Vec::new()
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            self.should_quit = true;
            return Vec::new();
        }
        if self.confirm_quit {
            match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => self.should_quit = true,
                _ => self.confirm_quit = false,
            }
            return Vec::new();
        }
        if self.help {
            self.help = false;
            return Vec::new();
        }
        if self.keys.action.is_some() {
            return self.on_key_action(key);
        }
        // `?` never occurs in a key, a user name or HOST:PORT, so it is help everywhere.
        if matches!(key.code, KeyCode::F(1) | KeyCode::Char('?')) {
            self.help = true;
            return Vec::new();
        }
        if key.code == KeyCode::Char('q') && !self.typing() && !self.confirm_apply {
            if self.changes_pending() {
                self.confirm_quit = true;
            } else {
                self.should_quit = true;
            }
            return Vec::new();
        }
        self.notice = None;
        match self.screen {
            Screen::Welcome => self.on_welcome(key),
            Screen::Account => self.on_account(key),
            Screen::Paste => self.on_paste_key(key),
            Screen::Review => self.on_review(key),
            Screen::Apply => self.on_apply(key),
            Screen::Ports => self.on_ports(key),
            Screen::Finish => self.on_finish(key),
        }
    }

    fn on_paste(&mut self, text: &str) -> Vec<Effect> {
        self.typed_text(text, false)
    }

    /// Whether keystrokes are text right now (so `q` is a letter, not quit).
    pub fn typing(&self) -> bool {
        self.screen.takes_text() || self.checklist.editing_target && self.screen == Screen::Ports
    }

    pub(crate) fn go(&mut self, screen: Screen) -> Vec<Effect> {
        if screen == Screen::Finish && self.screen != Screen::Finish {
            // A proof is about the host as it was then; coming back, it is taken again.
            self.proof.result = None;
        }
        self.screen = screen;
        self.confirm_apply = false;
        self.scroll = 0;
        self.scroll_room.set(u16::MAX);
        self.edit_cursor = None;
        Vec::new()
    }

    /// The one gate into a plan (`plan::prepare`), passed before the key is asked for:
    /// a request this host must refuse is refused here, not after y.
    pub(crate) fn pass_gate(&mut self) -> Vec<Effect> {
        match plan::prepare(&self.request(), &self.state) {
            Ok(_) => {
                self.refusal = None;
                self.go(Screen::Paste)
            }
            Err(why) => {
                self.refusal = Some(why);
                Vec::new()
            }
        }
    }

    /// ↑↓ on the screens that show more than fits (Apply and Finish).
    pub(crate) fn scroll_keys(&mut self, code: KeyCode) {
        match code {
            KeyCode::Up => self.scroll = self.scroll.min(self.scroll_room.get()).saturating_sub(1),
            KeyCode::Down => {
                self.scroll = self
                    .scroll
                    .saturating_add(1)
                    .min(200)
                    .min(self.scroll_room.get())
            }
            _ => {}
        }
    }
}

/// Why the proof cannot run in a preview; shown on the Finish screen and as its notice.
pub const PROOF_NEEDS_ROOT: &str =
    "The live proof needs root: it adds a probe key for a moment. Run sudo bastion-wizard.";

pub fn fresh_textarea() -> TextArea<'static> {
    let mut area = TextArea::default();
    area.set_placeholder_text(
        "Paste the vendor's public key here (ssh-ed25519 AAAA… or ssh-rsa AAAA…)",
    );
    area
}
