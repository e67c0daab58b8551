//! The wizard's face of `keys`, `revoke`, `remove` and `apply --generate-key`: which key
//! is selected, the question on screen and what came back. Every plan, change and word is
//! the engine's; this only asks for them through effects and shows them.

use std::cell::Cell;

use crossterm::event::{KeyCode, KeyEvent};

use super::app::{App, Effect, Message, RemoveAsk};
use crate::apply::Outcome;
use crate::key_list::{KeyLine, KeyList};
use crate::keygen::Generated;
use crate::profile::KeySource;
use crate::revoke::{self, RevokePlan};
use crate::undo::UndoPlan;

/// The Welcome screen's key list and the question open about it.
/// What the key list takes from the inspection it follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySources {
    pub attempts: crate::logs::Attempts,
    pub clock: crate::dates::Clock,
    pub sshd_version: Option<crate::sshd::Version>,
}

#[derive(Debug, Default)]
pub struct KeysPane {
    /// The user's key lines as `keys` lists them; `None` until the first read is back.
    pub list: Option<KeyList>,
    /// Tab on Welcome moves ↑↓ from the checks to the keys.
    pub focused: bool,
    pub selected: usize,
    /// First visible row; kept by the view, as the check list's is.
    pub offset: Cell<usize>,
    pub action: Option<KeyAction>,
    /// A pair is being generated (Paste screen).
    pub generating: bool,
}

/// A question or answer over the screen, until a key closes it.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyAction {
    /// Revoke's plan for each key, awaiting y/n; `rotate`: the old keys after a new one.
    ConfirmRevoke {
        plans: Vec<RevokePlan>,
        rotate: bool,
    },
    Revoking,
    /// Undo's plan is being read.
    PlanningRemove,
    /// Undo's plan, awaiting y/n (and d, to plan deleting the account as well).
    ConfirmRemove(Box<UndoPlan>, bool),
    Removing,
    /// What happened, in the command line's words.
    Outcome {
        ok: bool,
        text: String,
    },
}

/// A pair made here, and whether apply installed its public half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedPair {
    pub pair: Generated,
    pub installed: bool,
}

pub const NEEDS_ROOT: &str = "Changing keys needs root: run sudo bastion-wizard.";

impl KeyAction {
    /// The pop-up's title, text and hint.
    pub fn popup(&self) -> (&'static str, String, &'static str) {
        match self {
            KeyAction::ConfirmRevoke { plans, rotate } => {
                let mut text = String::new();
                if *rotate {
                    text.push_str("The new key's line got through the live proof (a throwaway key with its options, not the vendor's own key). Revoke the old key once the vendor uses the new one: Welcome's key list shows each key's last login. The older key(s) this program added still open this host:\n");
                }
                for plan in plans {
                    text.push_str(&plan.render());
                }
                text.push_str(if plans.len() == 1 {
                    "Revoke this key? y/n"
                } else {
                    "Revoke these keys? y/n"
                });
                ("Revoke?", text, "y revokes · any other key keeps it")
            }
            KeyAction::Revoking => ("Revoke", "Revoking…".into(), "please wait"),
            KeyAction::PlanningRemove => (
                "Undo",
                "Reading what this program set up here…".into(),
                "please wait",
            ),
            KeyAction::ConfirmRemove(plan, delete_account) => {
                let mut text = plan.render();
                let hint = if plan.blocked() {
                    text.push_str("A step cannot run as things stand; nothing was changed.");
                    "any key closes"
                } else if plan.to_do() == 0 && (*delete_account || !plan.account_ours) {
                    "any key closes"
                } else if plan.to_do() == 0 {
                    text.push_str("d plans deleting the account and group too.");
                    "d plans deleting the account · any other key closes"
                } else if *delete_account {
                    text.push_str(&format!("{} y/n", plan.question()));
                    "y undoes and deletes the account · any other key keeps everything"
                } else if !plan.account_ours {
                    text.push_str(&format!("{} y/n", plan.question()));
                    "y undoes · any other key keeps everything"
                } else {
                    text.push_str(&format!(
                        "{} y/n (d plans deleting the account and group too)",
                        plan.question()
                    ));
                    "y undoes · d also the account · any other key keeps everything"
                };
                ("Undo?", text, hint)
            }
            KeyAction::Removing => ("Undo", "Undoing…".into(), "please wait"),
            KeyAction::Outcome { ok, text } => (
                if *ok { "Done" } else { "Not done" },
                text.clone(),
                "any key closes",
            ),
        }
    }
}

impl App {
    /// What is read beside each inspection, off the UI thread: the key list and, as root,
    /// every managed vendor user.
    pub fn background_reads(&self) -> Vec<Effect> {
        let sources = KeySources {
            attempts: self.state.attempts.clone(),
            clock: self.state.clock,
            sshd_version: self.state.sshd_version,
        };
        let mut effects = vec![Effect::ReadKeys(
            Box::new(self.request()),
            Box::new(sources),
        )];
        if self.is_root() {
            effects.push(Effect::ReadVendorUsers(Box::new(self.profile.clone())));
        }
        effects
    }

    /// The key line selected on Welcome.
    pub fn selected_key(&self) -> Option<&KeyLine> {
        let list = self.keys.list.as_ref()?;
        list.keys
            .get(self.keys.selected.min(list.keys.len().saturating_sub(1)))
    }

    /// Tab on Welcome: ↑↓ move through the keys instead of the checks, and back.
    pub(crate) fn toggle_key_focus(&mut self) {
        let has_keys = self.keys.list.as_ref().is_some_and(|l| !l.keys.is_empty());
        if !has_keys && !self.keys.focused {
            self.notice = Some(match &self.keys.list {
                None => "The key list is still being read.".into(),
                Some(_) => "There is no key line to choose.".into(),
            });
            return;
        }
        self.keys.focused = !self.keys.focused;
    }

    /// ↑↓ in the key list; false for any other key.
    pub(crate) fn move_key_selection(&mut self, code: KeyCode) -> bool {
        let last = self
            .keys
            .list
            .as_ref()
            .map_or(0, |l| l.keys.len().saturating_sub(1));
        let selected = &mut self.keys.selected;
        match code {
            KeyCode::Up | KeyCode::Char('k') => *selected = selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => *selected = (*selected + 1).min(last),
            KeyCode::Home => *selected = 0,
            KeyCode::End => *selected = last,
            _ => return false,
        }
        true
    }

    /// `r` on Welcome: revoke's plan for the selected key, as a question.
    pub(crate) fn ask_revoke(&mut self) -> Vec<Effect> {
        if !self.is_root() {
            self.notice = Some(NEEDS_ROOT.into());
            return Vec::new();
        }
        if !self.keys.focused {
            self.notice =
                Some("Tab moves to the key list: choose a key there, then r revokes it.".into());
            return Vec::new();
        }
        let Some(line) = self.selected_key() else {
            return Vec::new();
        };
        let list = self.keys.list.as_ref().expect("a selected key is listed");
        match revoke::plan(list, &line.fingerprint, &self.authorized_keys_path()) {
            Some(plan) if !line.fingerprint.is_empty() => {
                self.keys.action = Some(KeyAction::ConfirmRevoke {
                    plans: vec![plan],
                    rotate: false,
                });
            }
            _ => {
                self.notice = Some(format!(
                    "Line {} holds no key sshd can read, so there is no fingerprint to revoke.",
                    line.line
                ))
            }
        }
        Vec::new()
    }

    /// `x` on Welcome: undo's plan for the user, as a question.
    pub(crate) fn ask_remove(&mut self) -> Vec<Effect> {
        if !self.is_root() {
            self.notice = Some(NEEDS_ROOT.into());
            return Vec::new();
        }
        self.keys.action = Some(KeyAction::PlanningRemove);
        vec![Effect::PlanRemove(self.remove_ask(false))]
    }

    fn remove_ask(&self, delete_account: bool) -> RemoveAsk {
        RemoveAsk {
            user: self.account.user.clone(),
            group: self.account.group.clone(),
            delete_account,
        }
    }

    fn authorized_keys_path(&self) -> std::path::PathBuf {
        self.state.home_path.join(".ssh/authorized_keys")
    }

    /// The older keys of ours that a rotation would revoke: offered only once the live
    /// proof got through, and only when the new key is installed as ours.
    pub fn old_keys_of_ours(&self) -> Vec<&KeyLine> {
        if !self.proof.result.as_ref().is_some_and(|p| p.ok) {
            return Vec::new();
        }
        let (Some(new), Some(list)) = (self.key(), self.keys.list.as_ref()) else {
            return Vec::new();
        };
        let ours = |k: &&KeyLine| k.added_by_us && !k.fingerprint.is_empty();
        if !list
            .keys
            .iter()
            .filter(ours)
            .any(|k| k.fingerprint == new.fingerprint)
        {
            return Vec::new();
        }
        let mut old: Vec<&KeyLine> = Vec::new();
        for k in list.keys.iter().filter(ours) {
            if k.fingerprint != new.fingerprint
                && !old.iter().any(|o| o.fingerprint == k.fingerprint)
            {
                old.push(k);
            }
        }
        old
    }

    /// `r` on Finish: revoke's plan for every older key of ours, as one question.
    pub(crate) fn ask_rotate(&mut self) -> Vec<Effect> {
        let old: Vec<String> = self
            .old_keys_of_ours()
            .iter()
            .map(|k| k.fingerprint.clone())
            .collect();
        if old.is_empty() {
            self.notice = Some(
                "Revoking the old key is offered once the new one is installed and the live proof (p) got through."
                    .into(),
            );
            return Vec::new();
        }
        let list = self.keys.list.as_ref().expect("old keys are listed");
        let path = self.authorized_keys_path();
        let plans = old
            .iter()
            .filter_map(|fp| revoke::plan(list, fp, &path))
            .collect();
        self.keys.action = Some(KeyAction::ConfirmRevoke {
            plans,
            rotate: true,
        });
        Vec::new()
    }

    /// Ctrl-G on Paste: a pair made here, for a vendor that wants the customer's key.
    pub(crate) fn ask_generate(&mut self) -> Vec<Effect> {
        if self.profile.key_source != KeySource::Customer {
            self.notice = Some(format!(
                "{} sends its own public key: paste it here. (Ctrl-G is for vendors that ask for your private key.)",
                self.profile.name
            ));
            return Vec::new();
        }
        if !self.is_root() {
            self.notice = Some("Generating a key pair needs root: run sudo bastion-wizard.".into());
            return Vec::new();
        }
        if self.keys.generating {
            return Vec::new();
        }
        self.keys.generating = true;
        vec![Effect::GenerateKey(self.account.user.clone())]
    }

    /// A pair whose public half apply did not install: deleted when the wizard ends.
    pub fn unused_pair(&self) -> Option<&Generated> {
        self.generated
            .as_ref()
            .filter(|g| !g.installed)
            .map(|g| &g.pair)
    }

    /// The generated pair when the key on screen is its public half.
    pub fn pair_in_use(&self) -> Option<&GeneratedPair> {
        let key = self.key()?;
        self.generated
            .as_ref()
            .filter(|g| g.pair.key.fingerprint == key.fingerprint)
    }

    pub(crate) fn pair_applied(&mut self, outcome: &Outcome) {
        let done = matches!(outcome, Outcome::Done { .. });
        let in_use = self.pair_in_use().is_some();
        if let Some(g) = &mut self.generated {
            g.installed |= done && in_use;
        }
    }

    pub(crate) fn on_key_action(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(action) = self.keys.action.take() else {
            return Vec::new();
        };
        let yes = matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y'));
        match action {
            KeyAction::ConfirmRevoke { plans, .. } if yes => {
                self.keys.action = Some(KeyAction::Revoking);
                let user = plans
                    .first()
                    .map(|p| p.user.clone())
                    .unwrap_or_else(|| self.account.user.clone());
                vec![Effect::Revoke {
                    user,
                    fingerprints: plans.into_iter().map(|p| p.fingerprint).collect(),
                }]
            }
            KeyAction::ConfirmRemove(plan, delete_account)
                if yes && !plan.blocked() && plan.to_do() > 0 =>
            {
                self.keys.action = Some(KeyAction::Removing);
                vec![Effect::Remove(self.remove_ask(delete_account))]
            }
            KeyAction::ConfirmRemove(plan, false)
                if key.code == KeyCode::Char('d') && !plan.blocked() && plan.account_ours =>
            {
                self.keys.action = Some(KeyAction::PlanningRemove);
                vec![Effect::PlanRemove(self.remove_ask(true))]
            }
            KeyAction::ConfirmRevoke { .. } | KeyAction::ConfirmRemove(..) => {
                self.notice = Some("Nothing was changed.".into());
                Vec::new()
            }
            // Waiting for the engine: keys do nothing until it answers.
            waiting @ (KeyAction::Revoking | KeyAction::Removing | KeyAction::PlanningRemove) => {
                self.keys.action = Some(waiting);
                Vec::new()
            }
            KeyAction::Outcome { .. } => Vec::new(),
        }
    }

    /// The answers to the effects above.
    pub(crate) fn on_key_message(&mut self, message: Message) -> Vec<Effect> {
        match message {
            // A list for an account the form no longer names would mislead.
            Message::Keys(list) if list.user == self.account.user => {
                let last = list.keys.len().saturating_sub(1);
                self.keys.selected = self.keys.selected.min(last);
                if list.keys.is_empty() {
                    self.keys.focused = false;
                }
                self.keys.list = Some(*list);
            }
            Message::VendorUsers(users) => self.vendor_users = users,
            Message::Revoked(results) => {
                let ok = results.iter().all(|(o, _)| o.ok());
                let text = results
                    .into_iter()
                    .map(|(_, words)| words)
                    .collect::<Vec<_>>()
                    .join("\n");
                self.keys.action = Some(KeyAction::Outcome { ok, text });
                return vec![self.inspect()];
            }
            // Only an answer to the question on screen is taken.
            Message::RemovePlanned(ask, plan)
                if self.keys.action == Some(KeyAction::PlanningRemove) =>
            {
                self.keys.action = Some(KeyAction::ConfirmRemove(plan, ask.delete_account));
            }
            Message::Removed(outcome) => {
                let summary = outcome.summary();
                let mut text = summary.headline;
                for line in summary.lines {
                    text.push('\n');
                    text.push_str(&line);
                }
                self.keys.action = Some(KeyAction::Outcome {
                    ok: matches!(outcome, Outcome::Done { .. }),
                    text,
                });
                return vec![self.inspect()];
            }
            Message::Generated(result) => {
                self.keys.generating = false;
                match result {
                    Ok(pair) => {
                        let mut effects = Vec::new();
                        if let Some(old) = self.unused_pair() {
                            effects.push(Effect::DiscardPair(Box::new(old.clone())));
                        }
                        self.paste = super::app::fresh_textarea();
                        self.paste.insert_str(pair.key.canonical());
                        self.run_intake();
                        self.generated = Some(GeneratedPair {
                            pair,
                            installed: false,
                        });
                        return effects;
                    }
                    Err(why) => {
                        self.notice = Some(format!("✗ cannot generate a key pair: {why}"));
                    }
                }
            }
            _ => {}
        }
        Vec::new()
    }
}
