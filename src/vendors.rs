//! Every vendor user this program manages on the host (from the ledger), each with the
//! same verdict `status` gives, so a rerun shows the whole host and not only the vendor at
//! hand. Each user is judged with the built-in profile that suggests that user name (every
//! region's addresses, since the ledger does not say which region), else with the
//! profile at hand.

use crate::checks::{self, Verdict};
use crate::inspect;
use crate::ledger::Ledger;
use crate::plan;
use crate::profile::Profile;
use crate::setup::{Options, Request};
use crate::state_dir::StateDir;

/// One managed user and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorUser {
    pub user: String,
    pub vendor: String,
    pub ready: bool,
    /// One short line: "ready", or "not ready: 2 check(s) fail".
    pub verdict: String,
}

/// The users the ledger knows, judged one by one (a host read per user; no network).
pub fn managed(state_dir: &StateDir, fallback: &Profile) -> Vec<VendorUser> {
    Ledger::read(state_dir)
        .users()
        .into_iter()
        .map(|user| judge(&user, fallback))
        .collect()
}

fn judge(user: &str, fallback: &Profile) -> VendorUser {
    let profile = Profile::for_user(user).unwrap_or_else(|| fallback.clone().with_every_region());
    let options = Options {
        user: Some(user.to_string()),
        group: None,
        ..Options::default()
    };
    let mut request = Request::new(&profile, options, None);
    // The group is whatever the account has; the profile's name may not be it.
    if let Some(group) = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .and_then(|u| nix::unistd::Group::from_gid(u.gid).ok().flatten())
    {
        request.group = group.name;
    }
    let state = inspect::inspect(&request);
    let plan = plan::plan(&request, &state);
    let report = checks::report(&request, &state, &plan, &profile, &[]);
    VendorUser {
        user: user.to_string(),
        vendor: profile.name.clone(),
        ready: report.ready,
        verdict: short(report.verdict()),
    }
}

pub fn short(verdict: Verdict) -> String {
    match verdict {
        Verdict::Ready => "ready".into(),
        Verdict::NotReady { failing, .. } => format!("not ready: {failing} check(s) fail"),
    }
}
