//! Every vendor user this program manages on the host (from the ledger), each with the
//! same verdict `status` gives, so a rerun shows the whole host and not only the vendor at
//! hand. Each user is judged as its last apply asked (the ledger keeps the vendor, region
//! and key options).

use crate::checks::{self, Verdict};
use crate::inspect;
use crate::ledger::{Entry, Ledger};
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
    let ledger = Ledger::read(state_dir);
    ledger
        .users()
        .into_iter()
        .map(|user| judge(&user, ledger.last_applied(&user), fallback))
        .collect()
}

/// As the last apply asked for it; a user from before the ledger said so is judged with
/// the built-in profile that suggests its name (every region), else the one at hand.
fn judge(user: &str, applied: Option<&Entry>, fallback: &Profile) -> VendorUser {
    let guessed =
        || Profile::for_user(user).unwrap_or_else(|| fallback.clone().with_every_region());
    let mut options = Options {
        user: Some(user.to_string()),
        ..Options::default()
    };
    let profile = match applied {
        Some(Entry::Applied {
            vendor,
            allow_shell,
            permit_open,
            from_vendor_ips,
            ..
        }) => {
            options.allow_shell = *allow_shell;
            options.permit_open = permit_open.iter().filter_map(|t| t.parse().ok()).collect();
            options.from_vendor_ips = *from_vendor_ips;
            Profile::named(&vendor.profile)
                .and_then(|p| p.with_region(vendor.region.as_deref()).ok())
                .unwrap_or_else(guessed)
        }
        _ => guessed(),
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
