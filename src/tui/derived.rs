//! What the screens show that follows from the host state and the form: the plan, the
//! sshd repair and the report. Worked out again after an input or a message that changed
//! what it follows from, never while drawing, which happens every 100 ms.

use crate::checks::{self, CheckId, Report, Status};
use crate::plan::{self, Action, Plan, Step};
use crate::port::PortCheck;
use crate::profile::Profile;
use crate::setup::Request;

use super::app::App;
use super::checklist::ChecklistRow;

/// The plan, the sshd repair and the report, as of `inputs`.
#[derive(Debug)]
pub struct Derived {
    inputs: Inputs,
    pub plan: Plan,
    /// The sshd repair step as it would be planned with the repair on, whether or not it
    /// is on: the review screen shows it either way.
    pub sshd_repair: Option<Step>,
    pub report: Report,
}

/// Everything the plan and the report depend on. The host state is too large to compare:
/// its version counts each time a new one was taken.
#[derive(Debug, Clone, PartialEq)]
struct Inputs {
    request: Request,
    state_version: u64,
    profile: Profile,
    /// The port result for the target asked about now (one for another says nothing).
    port_results: Vec<(String, PortCheck)>,
    vendor_ips_ticked: bool,
}

impl App {
    fn derived_inputs(&self) -> Inputs {
        Inputs {
            request: self.request(),
            state_version: self.state_version,
            profile: self.profile.clone(),
            port_results: self
                .checklist
                .result
                .iter()
                .filter(|(t, _)| *t == self.checklist.target)
                .cloned()
                .collect(),
            vendor_ips_ticked: self.checklist.ticked(ChecklistRow::VendorIps),
        }
    }

    /// Works the plan and the report out again if what they depend on changed. The
    /// wizard's input and message handlers call it; drawing only reads the result.
    pub(crate) fn refresh_if_changed(&mut self) {
        let inputs = self.derived_inputs();
        if self.derived.as_ref().is_none_or(|d| d.inputs != inputs) {
            self.derived = Some(self.derive(inputs));
        }
    }

    /// Works the plan and the report out again, for a caller that changed the host state
    /// or the form directly rather than through an input or a message.
    pub fn refresh(&mut self) {
        self.state_version += 1;
        self.refresh_if_changed();
    }

    fn derive(&mut self, inputs: Inputs) -> Derived {
        self.derivations += 1;
        let request = &inputs.request;
        let plan = plan::plan(request, &self.state);
        let mut with_repair = request.clone();
        with_repair.fix_sshd = self.is_root();
        let sshd_repair = plan::plan(&with_repair, &self.state)
            .steps
            .into_iter()
            .find(|s| matches!(s.action, Action::RepairSshd(_)));
        let mut report = checks::report(
            request,
            &self.state,
            &plan,
            &inputs.profile,
            &inputs.port_results,
        );
        // What the person ticked on the checklist is what they checked by hand.
        for check in &mut report.checks {
            let ticked = match check.id {
                CheckId::PortVendorToSsh => inputs.vendor_ips_ticked,
                _ => false,
            };
            if ticked && check.status == Status::Manual {
                check.status = Status::Ok;
                check.detail = format!(
                    "you ticked it on the port checklist (it cannot be seen from inside the host): {}",
                    check.detail
                );
                check.fix = None;
            }
        }
        Derived {
            inputs,
            plan,
            sshd_repair,
            report,
        }
    }

    fn derived(&self) -> &Derived {
        self.derived
            .as_ref()
            .expect("App::new works the plan and the report out")
    }

    pub fn plan(&self) -> &Plan {
        &self.derived().plan
    }

    pub fn sshd_repair(&self) -> Option<&Step> {
        self.derived().sshd_repair.as_ref()
    }

    pub fn report(&self) -> &Report {
        &self.derived().report
    }

    /// How many times the plan and the report were worked out: drawing must not add any.
    pub fn derivations(&self) -> usize {
        self.derivations
    }
}
