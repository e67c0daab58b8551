//! The vendor picker on the Account screen: every built-in profile, one entry per region
//! where a vendor has several, chosen with PgUp/PgDn (the text fields keep every other
//! key). Choosing a vendor moves the user and group along when they were the old vendor's
//! defaults, and the vendor's addresses everywhere, since the request is built from the
//! profile.

use ratatui::text::{Line, Span};

use crate::profile::Profile;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::wrap_indented;

/// Every choice: each built-in vendor, and each of its regions.
pub fn choices() -> Vec<Profile> {
    Profile::all_built_in()
        .into_iter()
        .flat_map(|p| {
            if p.regions.is_empty() {
                vec![p]
            } else {
                let names: Vec<String> = p.regions.iter().map(|r| r.name.clone()).collect();
                names
                    .iter()
                    .filter_map(|r| p.clone().with_region(Some(r)).ok())
                    .collect()
            }
        })
        .collect()
}

/// "Fivetran · region gcp-us-east4 (GCP us-east4 ...)".
pub fn describe(p: &Profile) -> String {
    match p.region.as_ref() {
        Some(r) => {
            let label = p
                .regions
                .iter()
                .find(|x| &x.name == r)
                .map(|x| format!(" ({})", x.label))
                .unwrap_or_default();
            format!("{} · region {r}{label}", p.name)
        }
        None => p.name.clone(),
    }
}

impl App {
    /// Moves to the next (or previous) vendor choice; a profile from a file is left by
    /// the first press and not offered again.
    pub fn step_vendor(&mut self, forward: bool) {
        let all = choices();
        let at = all
            .iter()
            .position(|p| p.name == self.profile.name && p.region == self.profile.region);
        let n = all.len();
        let next = match (at, forward) {
            (Some(i), true) => (i + 1) % n,
            (Some(i), false) => (i + n - 1) % n,
            (None, _) => 0,
        };
        self.set_profile(all[next].clone());
    }

    /// Takes a new vendor profile: fields still at the old vendor's defaults follow it.
    pub fn set_profile(&mut self, profile: Profile) {
        if self.account.user == self.profile.user {
            self.account.user = profile.user.clone();
        }
        if self.account.group == self.profile.group {
            self.account.group = profile.group.clone();
        }
        self.edit_cursor = None;
        self.profile = profile;
    }
}

/// The picker's lines on the Account screen: the choice, then where its list came from.
pub fn lines(app: &App, theme: &Theme, label_width: usize, width: usize) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{:<label_width$}", "Vendor"), theme.strong()),
        Span::styled(
            format!(
                "◂ {}{} ▸",
                app.profile.name,
                app.profile
                    .region
                    .as_ref()
                    .map(|r| format!(" · region {r}"))
                    .unwrap_or_default()
            ),
            theme.focus(),
        ),
        Span::styled("  PgUp/PgDn", theme.dim()),
    ])];
    lines.extend(
        wrap_indented(
            &" ".repeat(label_width),
            &app.profile.list_origin(),
            label_width,
            width,
        )
        .into_iter()
        .map(|l| Line::styled(l, theme.dim())),
    );
    lines
}
