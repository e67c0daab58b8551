//! Performs the wizard's effects. Slow ones (apply, port checks, the proof) run on worker threads
//! and report back through a channel, so the screen never stops answering keys.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::Duration;

use super::app::{Effect, Message};
use crate::apply::{self, Event};
use crate::inspect;
use crate::port;
use crate::state_dir::StateDir;
use crate::verify;

const PORT_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Runtime {
    state_dir: StateDir,
    sender: Sender<Message>,
    receiver: Receiver<Message>,
}

impl Runtime {
    pub fn new(state_dir: StateDir) -> Runtime {
        let (sender, receiver) = channel();
        Runtime {
            state_dir,
            sender,
            receiver,
        }
    }

    pub fn next_message(&self) -> Option<Message> {
        self.receiver.try_recv().ok()
    }

    pub fn perform(&mut self, effect: Effect) {
        let sender = self.sender.clone();
        match effect {
            Effect::Inspect(request) => {
                // sshd -T and restorecon are processes: keep them off the UI thread too.
                std::thread::spawn(move || {
                    let state = inspect::inspect(&request);
                    let _ = sender.send(Message::Inspected(Box::new(state)));
                });
            }
            Effect::Apply(request) => {
                let state_dir = self.state_dir.clone();
                std::thread::spawn(move || {
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
                std::thread::spawn(move || {
                    let result = match port::parse_target(&target) {
                        Ok((host, number)) => port::check(&host, number, PORT_TIMEOUT),
                        Err(why) => port::PortCheck::Unreachable(why),
                    };
                    let _ = sender.send(Message::PortChecked(target, result));
                });
            }
            Effect::Verify(request) => {
                let state_dir = self.state_dir.clone();
                std::thread::spawn(move || {
                    // As `verify` does without --db: the first database target, if any.
                    let db = request.db_targets().into_iter().next();
                    let proof = verify::run(&request, db.as_ref(), &state_dir);
                    let _ = sender.send(Message::Verified(proof));
                });
            }
            Effect::SaveTicks(json) => {
                // Ticks are a convenience; a read-only state dir must not stop the wizard.
                let _ = self.state_dir.write(super::TICKS_FILE, &json);
            }
        }
    }
}
