//! One run of the plan on the Apply screen: each step's progress and the outcome.

use crate::apply::Outcome;
use crate::plan::{Plan, StepState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepProgress {
    /// Done before this run began: nothing was done to it now.
    AlreadyDone,
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

impl ApplyRun {
    /// The plan the run works through; steps done before it began are not done again.
    pub(crate) fn planned(&mut self, plan: Plan) {
        self.progress = plan
            .steps
            .iter()
            .map(|step| match step.state {
                StepState::Done => StepProgress::AlreadyDone,
                _ => StepProgress::Pending,
            })
            .collect();
        self.plan = Some(plan);
    }

    pub(crate) fn set_progress(&mut self, index: usize, progress: StepProgress) {
        if let Some(slot) = self.progress.get_mut(index) {
            *slot = progress;
        }
    }
}
