//! Performs the wizard's effects. Slow ones (apply, port checks, the proof) run on worker threads
//! and report back through a channel, so the screen never stops answering keys.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::app::{Effect, Message};
use crate::apply::{self, Event};
use crate::inspect;
use crate::key_list;
use crate::keygen;
use crate::ledger::Ledger;
use crate::port;
use crate::revoke;
use crate::state_dir::StateDir;
use crate::undo;
use crate::vendors;
use crate::verify;

const PORT_TIMEOUT: Duration = Duration::from_secs(3);
/// The name of every worker thread, so the panic hook can tell them from the UI thread.
const WORKER: &str = "bastion-worker";

/// Whether the current thread is one of the wizard's workers.
pub fn is_worker() -> bool {
    std::thread::current().name() == Some(WORKER)
}

pub struct Runtime {
    state_dir: StateDir,
    sender: Sender<Message>,
    receiver: Receiver<Message>,
    /// A worker that panicked: its message would never come, so the wizard must end.
    failed: Arc<Mutex<Option<String>>>,
}

impl Runtime {
    pub fn new(state_dir: StateDir) -> Runtime {
        let (sender, receiver) = channel();
        Runtime {
            state_dir,
            sender,
            receiver,
            failed: Arc::default(),
        }
    }

    /// What a worker that panicked said, once one has.
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().ok()?.clone()
    }

    /// Runs `work` on a worker thread; a panic there is recorded for the loop to see.
    pub fn spawn(&self, work: impl FnOnce() + Send + 'static) {
        let failed = self.failed.clone();
        let started = std::thread::Builder::new()
            .name(WORKER.into())
            .spawn(move || {
                if let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(work)) {
                    let why = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a worker thread panicked".into());
                    if let Ok(mut slot) = failed.lock() {
                        slot.get_or_insert(why);
                    }
                }
            });
        if let Err(e) = started {
            if let Ok(mut slot) = self.failed.lock() {
                slot.get_or_insert(format!("cannot start a worker thread: {e}"));
            }
        }
    }

    pub fn next_message(&self) -> Option<Message> {
        self.receiver.try_recv().ok()
    }

    pub fn perform(&mut self, effect: Effect) {
        let sender = self.sender.clone();
        match effect {
            Effect::Inspect(id, request) => {
                // sshd -T and restorecon are processes: keep them off the UI thread too.
                self.spawn(move || {
                    let state = inspect::inspect(&request);
                    let _ = sender.send(Message::Inspected(id, Box::new(state)));
                });
            }
            Effect::Apply(request) => {
                let state_dir = self.state_dir.clone();
                self.spawn(move || {
                    let outcome = apply::apply(&request, &state_dir, &mut |event| {
                        let message = match event {
                            Event::Planned(plan) => Message::Planned(plan.clone()),
                            Event::Running(i) => Message::StepRunning(i),
                            Event::StepDone(i) => Message::StepDone(i),
                            Event::StepFailed(i, e) => Message::StepFailed(i, e),
                        };
                        let _ = sender.send(message);
                    });
                    let _ = sender.send(Message::Applied(outcome));
                });
            }
            Effect::CheckPort(target) => {
                self.spawn(move || {
                    let result = match port::parse_target(&target) {
                        Ok((host, number)) => port::check(&host, number, PORT_TIMEOUT),
                        Err(why) => port::PortCheck::Unreachable(why.to_string()),
                    };
                    let _ = sender.send(Message::PortChecked(target, result));
                });
            }
            Effect::Verify(request) => {
                let state_dir = self.state_dir.clone();
                self.spawn(move || {
                    // As `verify` does without --db: the first database target, if any.
                    let db = request.db_targets().into_iter().next();
                    let proof = verify::run(&request, db.as_ref(), &state_dir);
                    let _ = sender.send(Message::Verified(proof));
                });
            }
            Effect::ReadKeys(request, sources) => {
                let state_dir = self.state_dir.clone();
                self.spawn(move || {
                    let list = key_list::from_parts(
                        &request,
                        crate::inspect::authorized_keys_of(&request.user),
                        &crate::ledger::Ledger::read(&state_dir),
                        &sources.attempts,
                        sources.clock,
                        sources.sshd_version,
                    );
                    let _ = sender.send(Message::Keys(Box::new(list)));
                });
            }
            Effect::ReadVendorUsers(profile) => {
                let state_dir = self.state_dir.clone();
                self.spawn(move || {
                    let users = vendors::managed(&state_dir, &profile);
                    let _ = sender.send(Message::VendorUsers(users));
                });
            }
            Effect::Revoke { user, fingerprints } => {
                let state_dir = self.state_dir.clone();
                self.spawn(move || {
                    let backups = state_dir.path.join("backups");
                    let results = fingerprints
                        .iter()
                        .map(|fp| {
                            let outcome = revoke::revoke(&user, fp, &state_dir);
                            let words = outcome.words(&backups);
                            (outcome, words)
                        })
                        .collect();
                    let _ = sender.send(Message::Revoked(results));
                });
            }
            Effect::PlanRemove(ask) => {
                let state_dir = self.state_dir.clone();
                self.spawn(move || {
                    let ledger = Ledger::read(&state_dir);
                    let facts = undo::gather(&ask.user, &ask.group, &ledger);
                    let plan =
                        undo::plan(&ask.user, &ask.group, &ledger, &facts, ask.delete_account);
                    let _ = sender.send(Message::RemovePlanned(ask, Box::new(plan)));
                });
            }
            Effect::Remove(ask) => {
                let state_dir = self.state_dir.clone();
                self.spawn(move || {
                    let outcome = undo::remove(
                        &ask.user,
                        &ask.group,
                        ask.delete_account,
                        &state_dir,
                        &mut |_, _| {},
                    );
                    let _ = sender.send(Message::Removed(outcome));
                });
            }
            Effect::GenerateKey(user) => {
                let state_dir = self.state_dir.clone();
                self.spawn(move || {
                    let pair = keygen::generate(&state_dir, &user).map_err(|e| format!("{e:#}"));
                    let _ = sender.send(Message::Generated(pair));
                });
            }
            Effect::DiscardPair(pair) => pair.discard(),
            Effect::SaveTicks(json) => {
                // Ticks are a convenience; a read-only state dir must not stop the wizard.
                let _ = self.state_dir.write(super::TICKS_FILE, &json);
            }
            Effect::SaveTarget(target) => {
                let _ = self.state_dir.write(super::TARGET_FILE, &target);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_worker_that_panics_is_reported_to_the_loop() {
        let runtime = Runtime::new(StateDir {
            path: std::env::temp_dir().join("bw-runtime-test"),
        });
        assert_eq!(runtime.failure(), None);
        runtime.spawn(|| panic!("boom in a worker"));
        let deadline = Instant::now() + Duration::from_secs(5);
        while runtime.failure().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(runtime.failure().as_deref(), Some("boom in a worker"));
    }
}
