//! The wizard's state and its one `update` step. Pure: input events and worker messages
//! come in, effects go out; the runtime performs them. Tests drive it directly.

use std::cell::Cell;
use std::collections::BTreeMap;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tui_textarea::TextArea;

use crate::apply::Outcome;
use crate::authorized_keys::{Access, PermitOpen};
use crate::checks::{self, Report, Status, Verdict};
use crate::inspect::{HostState, Request};
use crate::key::{self, Key, KeyError};
use crate::plan::{self, Action, Plan, Step, StepState};
use crate::port::{self, PortCheck};
use crate::profile::Profile;
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
    Inspect(Box<Request>),
    Apply(Box<Request>),
    CheckPort(String),
    SaveTicks(String),
    /// The live proof through this host's sshd (`verify`).
    Verify(Box<Request>),
}

/// What comes back from the runtime.
#[derive(Debug)]
pub enum Message {
    Inspected(Box<HostState>),
    Planned(Plan),
    StepRunning(usize),
    StepDone(usize),
    StepFailed(usize, String),
    Applied(Outcome),
    PortChecked(String, PortCheck),
    Verified(Proof),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountField {
    User,
    Group,
    TunnelOnly,
    Targets,
}

impl AccountField {
    const ORDER: [AccountField; 4] = [
        AccountField::User,
        AccountField::Group,
        AccountField::TunnelOnly,
        AccountField::Targets,
    ];

    fn step(self, forward: bool) -> AccountField {
        let i = Self::ORDER.iter().position(|f| *f == self).unwrap_or(0);
        let n = Self::ORDER.len();
        Self::ORDER[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }]
    }
}

#[derive(Debug, Clone)]
pub struct AccountForm {
    pub user: String,
    pub group: String,
    pub tunnel_only: bool,
    /// Database targets for permitopen, separated by blanks or commas.
    pub targets: String,
    pub focus: AccountField,
}

impl AccountForm {
    pub fn user_error(&self) -> Option<String> {
        plan::check_name(&self.user, "user").err().or_else(|| {
            (self.user == "root")
                .then(|| "root cannot be the tunnel user: choose a dedicated account".to_string())
        })
    }

    pub fn group_error(&self) -> Option<String> {
        plan::check_name(&self.group, "group").err()
    }

    pub fn parsed_targets(&self) -> Result<Vec<PermitOpen>, String> {
        self.targets
            .split([' ', ','])
            .filter(|t| !t.is_empty())
            .map(str::parse)
            .collect()
    }

    pub fn is_valid(&self) -> bool {
        self.user_error().is_none() && self.group_error().is_none() && self.parsed_targets().is_ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepProgress {
    Pending,
    Running,
    Done,
    Failed,
}

#[derive(Debug, Default)]
pub struct ApplyRun {
    pub plan: Option<Plan>,
    pub progress: Vec<StepProgress>,
    pub outcome: Option<Outcome>,
    pub running: bool,
    /// The host is being read again after the run: until then the verdict is not known.
    pub reinspecting: bool,
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

/// The port-access checklist: items the program verifies, and items the person ticks.
#[derive(Debug, Clone)]
pub struct Checklist {
    pub ticks: BTreeMap<String, bool>,
    pub focus: usize,
    pub target: String,
    pub editing_target: bool,
    pub checking: bool,
    pub result: Option<(String, PortCheck)>,
}

/// Ids of the items the person ticks, in display order; the rest are verified.
pub const TICKED_ITEMS: [&str; 3] = [
    "vendor_ips",
    "aws_security_group",
    "database_allows_bastion",
];
/// Focusable rows: the ticked items plus the database target row.
pub const CHECKLIST_ROWS: usize = 4;
pub const TARGET_ROW: usize = 1;

impl Checklist {
    pub fn row_item(row: usize) -> Option<&'static str> {
        match row {
            0 => Some(TICKED_ITEMS[0]),
            2 => Some(TICKED_ITEMS[1]),
            3 => Some(TICKED_ITEMS[2]),
            _ => None,
        }
    }

    pub fn ticked(&self, id: &str) -> bool {
        self.ticks.get(id).copied().unwrap_or(false)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.ticks).unwrap_or_default()
    }

    pub fn ticks_from_json(text: &str) -> BTreeMap<String, bool> {
        serde_json::from_str(text).unwrap_or_default()
    }
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
    /// Whether the account in `state` matches the form (else a fresh inspect is due).
    pub inspected_for: (String, String),
}

impl App {
    pub fn new(
        profile: Profile,
        account: AccountForm,
        state: HostState,
        ticks: BTreeMap<String, bool>,
    ) -> App {
        let target = account
            .targets
            .split([' ', ','])
            .find(|t| !t.is_empty())
            .unwrap_or_default()
            .to_string();
        let paste = fresh_textarea();
        App {
            screen: Screen::Welcome,
            inspected_for: (account.user.clone(), account.group.clone()),
            profile,
            state,
            account,
            paste,
            intake: None,
            confirm_apply: false,
            review_scroll: 0,
            scroll: 0,
            checks: CheckList::default(),
            fix_sshd: true,
            proof: ProofRun::default(),
            run: ApplyRun::default(),
            checklist: Checklist {
                ticks,
                focus: 0,
                target,
                editing_target: false,
                checking: false,
                result: None,
            },
            help: false,
            confirm_quit: false,
            should_quit: false,
            notice: None,
            tick: 0,
        }
    }

    pub fn key(&self) -> Option<&Key> {
        self.intake.as_ref().and_then(|r| r.as_ref().ok())
    }

    /// The request as the form stands; invalid targets are left out (the form shows why).
    /// The checklist's database target, when valid, is one to check and prove.
    pub fn request(&self) -> Request {
        let permit_open = self.account.parsed_targets().unwrap_or_default();
        let db = self
            .checklist
            .target
            .parse::<PermitOpen>()
            .ok()
            .filter(|t| !permit_open.contains(t))
            .into_iter()
            .collect();
        Request {
            user: self.account.user.clone(),
            group: self.account.group.clone(),
            access: Access {
                allow_shell: !self.account.tunnel_only,
                permit_open,
            },
            key: self.key().cloned(),
            vendor_addrs: self.profile.ips.clone(),
            db,
            // Only root can repair; a preview plans nothing it could not do.
            fix_sshd: self.fix_sshd && self.is_root(),
            keepalive: self.profile.keepalive,
        }
    }

    pub fn plan(&self) -> Plan {
        plan::plan(&self.request(), &self.state)
    }

    /// The sshd repair step as it would be planned with the repair on, whether or not it
    /// is on: the review screen shows it either way.
    pub fn sshd_repair(&self) -> Option<Step> {
        let mut request = self.request();
        request.fix_sshd = self.is_root();
        plan::plan(&request, &self.state)
            .steps
            .into_iter()
            .find(|s| matches!(s.action, Action::RepairSshd(_)))
    }

    pub fn report(&self) -> Report {
        let request = self.request();
        let results: Vec<(String, PortCheck)> = self.checklist.result.iter().cloned().collect();
        checks::report(
            &request,
            &self.state,
            &plan::plan(&request, &self.state),
            &self.profile,
            &results,
        )
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

    pub fn update(&mut self, event: Event) -> Vec<Effect> {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.on_key(key),
            Event::Paste(text) => self.on_paste(&text),
            _ => Vec::new(),
        }
    }

    pub fn on_message(&mut self, message: Message) -> Vec<Effect> {
        match message {
            Message::Inspected(state) => {
                self.state = *state;
                self.run.reinspecting = false;
            }
            Message::Planned(plan) => {
                self.run.progress = vec![StepProgress::Pending; plan.steps.len()];
                for (i, step) in plan.steps.iter().enumerate() {
                    if step.state == StepState::Done {
                        self.run.progress[i] = StepProgress::Done;
                    }
                }
                self.run.plan = Some(plan);
            }
            Message::StepRunning(i) => self.set_progress(i, StepProgress::Running),
            Message::StepDone(i) => self.set_progress(i, StepProgress::Done),
            Message::StepFailed(i, _) => self.set_progress(i, StepProgress::Failed),
            Message::Applied(outcome) => {
                self.run.running = false;
                self.run.outcome = Some(outcome);
                self.run.reinspecting = true;
                return vec![Effect::Inspect(Box::new(self.request()))];
            }
            Message::PortChecked(target, result) => {
                self.checklist.checking = false;
                self.checklist.result = Some((target, result));
            }
            Message::Verified(proof) => {
                self.proof.running = false;
                self.proof.result = Some(proof);
            }
        }
        Vec::new()
    }

    fn set_progress(&mut self, index: usize, progress: StepProgress) {
        if let Some(slot) = self.run.progress.get_mut(index) {
            *slot = progress;
        }
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

    /// Whether keystrokes are text right now (so `q` is a letter, not quit).
    pub fn typing(&self) -> bool {
        self.screen.takes_text() || self.checklist.editing_target && self.screen == Screen::Ports
    }

    fn go(&mut self, screen: Screen) -> Vec<Effect> {
        self.screen = screen;
        self.confirm_apply = false;
        self.scroll = 0;
        Vec::new()
    }

    fn on_welcome(&mut self, key: KeyEvent) -> Vec<Effect> {
        let last = self.report().checks.len().saturating_sub(1);
        let list = &mut self.checks;
        match key.code {
            KeyCode::Enter => return self.go(Screen::Account),
            KeyCode::Char('c') => return self.go(Screen::Ports),
            KeyCode::Up | KeyCode::Char('k') => list.focus = list.focus.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => list.focus = (list.focus + 1).min(last),
            KeyCode::Home => list.focus = 0,
            KeyCode::End => list.focus = last,
            KeyCode::Char(' ') => list.detail = !list.detail,
            KeyCode::Right => list.detail = true,
            KeyCode::Esc | KeyCode::Left => list.detail = false,
            _ => {}
        }
        Vec::new()
    }

    /// ↑↓ on the screens that show more than fits (Apply and Finish).
    fn scroll_keys(&mut self, code: KeyCode) {
        match code {
            KeyCode::Up => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::Down => self.scroll = self.scroll.saturating_add(1).min(200),
            _ => {}
        }
    }

    fn on_account(&mut self, key: KeyEvent) -> Vec<Effect> {
        let form = &mut self.account;
        match key.code {
            KeyCode::Esc => return self.go(Screen::Welcome),
            KeyCode::Tab | KeyCode::Down => form.focus = form.focus.step(true),
            KeyCode::BackTab | KeyCode::Up => form.focus = form.focus.step(false),
            KeyCode::Enter => {
                if !form.is_valid() {
                    self.notice = Some("Fix the fields marked in red first.".into());
                    return Vec::new();
                }
                let account = (form.user.clone(), form.group.clone());
                self.screen = Screen::Paste;
                if account != self.inspected_for {
                    self.inspected_for = account;
                    return vec![Effect::Inspect(Box::new(self.request()))];
                }
            }
            KeyCode::Char(' ') if form.focus == AccountField::TunnelOnly => {
                form.tunnel_only = !form.tunnel_only
            }
            KeyCode::Char(c) => {
                if let Some(field) = focused_text(form) {
                    field.push(c);
                }
            }
            KeyCode::Backspace => {
                if let Some(field) = focused_text(form) {
                    field.pop();
                }
            }
            _ => {}
        }
        Vec::new()
    }

    fn on_paste_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return self.go(Screen::Account),
            // A complete key moves on; otherwise Enter is a line break (terminals without
            // bracketed paste type a pasted key as keystrokes).
            KeyCode::Enter if self.key().is_some() => return self.go(Screen::Review),
            KeyCode::Char('u') if ctrl => {
                self.paste = fresh_textarea();
                self.intake = None;
            }
            _ => {
                if self.paste.input(key) {
                    self.run_intake();
                }
            }
        }
        Vec::new()
    }

    fn on_paste(&mut self, text: &str) -> Vec<Effect> {
        match self.screen {
            Screen::Paste => {
                // Too much to be a key: refused without holding it in the box.
                let held: usize = self.paste.lines().iter().map(|l| l.len() + 1).sum();
                if held + text.len() > key::MAX_INPUT {
                    self.intake = Some(Err(KeyError::TooLarge));
                    return Vec::new();
                }
                // Terminals send \r between pasted lines; the text area only breaks on \n.
                let text = text.replace("\r\n", "\n").replace('\r', "\n");
                self.paste.insert_str(text);
                self.run_intake();
            }
            Screen::Account => {
                if let Some(field) = focused_text(&mut self.account) {
                    field.extend(text.chars().filter(|c| !c.is_control()));
                }
            }
            Screen::Ports if self.checklist.editing_target => {
                self.checklist
                    .target
                    .extend(text.chars().filter(|c| !c.is_whitespace()));
            }
            _ => {}
        }
        Vec::new()
    }

    /// Runs the engine's intake on what is in the box. A private key is wiped at once,
    /// so it is never drawn.
    fn run_intake(&mut self) {
        let text = self.paste.lines().join("\n");
        if text.trim().is_empty() {
            self.intake = None;
            return;
        }
        let result = key::parse(&text);
        if result == Err(KeyError::PrivateKey) {
            self.paste = fresh_textarea();
        }
        self.intake = Some(result);
    }

    fn on_review(&mut self, key: KeyEvent) -> Vec<Effect> {
        if self.confirm_apply {
            self.confirm_apply = false;
            if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                self.screen = Screen::Apply;
                self.run = ApplyRun {
                    running: true,
                    ..ApplyRun::default()
                };
                return vec![Effect::Apply(Box::new(self.request()))];
            }
            self.notice = Some("Not applied. Nothing has changed.".into());
            return Vec::new();
        }
        match key.code {
            KeyCode::Esc => self.go(Screen::Paste),
            KeyCode::Up => {
                self.review_scroll = self.review_scroll.saturating_sub(1);
                Vec::new()
            }
            KeyCode::Down => {
                self.review_scroll = self.review_scroll.saturating_add(1).min(40);
                Vec::new()
            }
            KeyCode::Char('s') => {
                if self.sshd_repair().is_none() {
                    self.notice = Some(if self.is_root() {
                        "No sshd setting blocks this user: there is nothing to repair.".into()
                    } else {
                        "Preview: the sshd repair needs root (sudo bastion-wizard).".into()
                    });
                } else {
                    self.fix_sshd = !self.fix_sshd;
                    self.notice = Some(if self.fix_sshd {
                        "The sshd repair is on: it is part of the plan.".into()
                    } else {
                        "The sshd repair is off: sshd is left as it is, and the host stays not ready.".into()
                    });
                }
                Vec::new()
            }
            KeyCode::Enter => {
                let plan = self.plan();
                if !self.is_root() {
                    self.notice = Some("Preview: applying needs root. Run `sudo bastion-wizard` to make these changes.".into());
                } else if !plan.blocked().is_empty() {
                    self.notice = Some(
                        "Blocked steps must be resolved by hand first; nothing will be changed."
                            .into(),
                    );
                } else if plan.to_do() == 0 {
                    let report = self.report();
                    self.notice = Some(match report.verdict() {
                        Verdict::Ready => "Nothing to change, and no check fails.".into(),
                        Verdict::NotReady { failing, .. } => format!(
                            "Nothing to change here, but {failing} check(s) still fail: Finish lists each fix."
                        ),
                    });
                    self.go(Screen::Ports);
                } else {
                    self.confirm_apply = true;
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn on_apply(&mut self, key: KeyEvent) -> Vec<Effect> {
        if self.run.running {
            return Vec::new();
        }
        match key.code {
            KeyCode::Enter if matches!(self.run.outcome, Some(Outcome::Done { .. })) => {
                self.go(Screen::Ports)
            }
            KeyCode::Esc | KeyCode::Enter => self.go(Screen::Review),
            code => {
                self.scroll_keys(code);
                Vec::new()
            }
        }
    }

    fn on_ports(&mut self, key: KeyEvent) -> Vec<Effect> {
        let list = &mut self.checklist;
        if list.editing_target {
            match key.code {
                KeyCode::Enter | KeyCode::Esc => list.editing_target = false,
                KeyCode::Backspace => {
                    list.target.pop();
                }
                KeyCode::Char(c) if !c.is_whitespace() => list.target.push(c),
                _ => {}
            }
            return Vec::new();
        }
        match key.code {
            KeyCode::Esc => return self.go(Screen::Welcome),
            KeyCode::Enter => return self.go(Screen::Finish),
            KeyCode::Up => list.focus = list.focus.saturating_sub(1),
            KeyCode::Down | KeyCode::Tab => list.focus = (list.focus + 1).min(CHECKLIST_ROWS - 1),
            KeyCode::Char(' ') | KeyCode::Char('x') => {
                if let Some(id) = Checklist::row_item(list.focus) {
                    let ticked = !list.ticked(id);
                    list.ticks.insert(id.to_string(), ticked);
                    return vec![Effect::SaveTicks(list.to_json())];
                }
            }
            KeyCode::Char('e') => {
                list.focus = TARGET_ROW;
                list.editing_target = true;
            }
            KeyCode::Char('p') => {
                if list.checking {
                    return Vec::new();
                }
                match port::parse_target(&list.target) {
                    Ok(_) => {
                        list.checking = true;
                        return vec![Effect::CheckPort(list.target.clone())];
                    }
                    Err(why) => {
                        self.notice = Some(if list.target.is_empty() {
                            "Press e and type the database's HOST:PORT first.".into()
                        } else {
                            why
                        })
                    }
                }
            }
            _ => {}
        }
        Vec::new()
    }

    fn on_finish(&mut self, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Esc => self.go(Screen::Ports),
            KeyCode::Enter => {
                self.should_quit = true;
                Vec::new()
            }
            KeyCode::Char('p') => {
                if !self.is_root() {
                    self.notice = Some(PROOF_NEEDS_ROOT.into());
                    return Vec::new();
                }
                if self.proof.running {
                    return Vec::new();
                }
                self.proof.running = true;
                vec![Effect::Verify(Box::new(self.request()))]
            }
            code => {
                self.scroll_keys(code);
                Vec::new()
            }
        }
    }
}

/// Why the proof cannot run in a preview; shown on the Finish screen and as its notice.
pub const PROOF_NEEDS_ROOT: &str =
    "The live proof needs root: it adds a probe key for a moment. Run sudo bastion-wizard.";

fn focused_text(form: &mut AccountForm) -> Option<&mut String> {
    match form.focus {
        AccountField::User => Some(&mut form.user),
        AccountField::Group => Some(&mut form.group),
        AccountField::Targets => Some(&mut form.targets),
        AccountField::TunnelOnly => None,
    }
}

pub fn fresh_textarea() -> TextArea<'static> {
    let mut area = TextArea::default();
    area.set_placeholder_text(
        "Paste the vendor's public key here (ssh-ed25519 AAAA… or ssh-rsa AAAA…)",
    );
    area
}
