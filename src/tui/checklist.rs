//! The Port access checklist: items the program verifies, and items the person ticks
//! and that are remembered across runs.

use std::collections::BTreeMap;

use crate::port::PortCheck;

/// The checklist's focusable rows, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecklistRow {
    /// The vendor's IPs reach this host's SSH port (ticked).
    VendorIps,
    /// This host reaches the database: the target typed and checked here.
    Database,
    /// The firewall or security group in front of this host lets the vendor in (ticked).
    FirewallInFront,
    /// The database's firewall lets this host in (ticked).
    DatabaseAllowsBastion,
}

impl ChecklistRow {
    pub const ALL: [ChecklistRow; 4] = [
        ChecklistRow::VendorIps,
        ChecklistRow::Database,
        ChecklistRow::FirewallInFront,
        ChecklistRow::DatabaseAllowsBastion,
    ];

    /// The key the row's tick is saved under in checklist.json; `None` for a row the
    /// program checks. Saved files outlive releases, so these never change.
    pub fn tick_id(self) -> Option<&'static str> {
        match self {
            ChecklistRow::VendorIps => Some("vendor_ips"),
            ChecklistRow::Database => None,
            // Named when the item only spoke of AWS; kept so saved ticks still count.
            ChecklistRow::FirewallInFront => Some("aws_security_group"),
            ChecklistRow::DatabaseAllowsBastion => Some("database_allows_bastion"),
        }
    }

    /// The rows the person ticks, in display order.
    pub fn ticked_rows() -> impl Iterator<Item = ChecklistRow> {
        Self::ALL.into_iter().filter(|row| row.tick_id().is_some())
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }

    /// The row below; the last row stays where it is.
    pub fn next(self) -> ChecklistRow {
        Self::ALL[(self.index() + 1).min(Self::ALL.len() - 1)]
    }

    /// The row above; the first row stays where it is.
    pub fn previous(self) -> ChecklistRow {
        Self::ALL[self.index().saturating_sub(1)]
    }
}

#[derive(Debug, Clone)]
pub struct Checklist {
    /// Ticks by `ChecklistRow::tick_id`, as saved in checklist.json.
    pub ticks: BTreeMap<String, bool>,
    pub focus: ChecklistRow,
    pub target: String,
    pub editing_target: bool,
    pub checking: bool,
    pub result: Option<(String, PortCheck)>,
}

impl Checklist {
    pub fn new(ticks: BTreeMap<String, bool>, target: String) -> Checklist {
        Checklist {
            ticks,
            focus: ChecklistRow::VendorIps,
            target,
            editing_target: false,
            checking: false,
            result: None,
        }
    }

    pub fn ticked(&self, row: ChecklistRow) -> bool {
        row.tick_id()
            .and_then(|id| self.ticks.get(id))
            .copied()
            .unwrap_or(false)
    }

    /// Switches the row's tick; a row without one is left alone.
    pub fn toggle(&mut self, row: ChecklistRow) {
        if let Some(id) = row.tick_id() {
            let ticked = !self.ticked(row);
            self.ticks.insert(id.to_string(), ticked);
        }
    }

    pub fn ticked_count(&self) -> usize {
        ChecklistRow::ticked_rows()
            .filter(|row| self.ticked(*row))
            .count()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.ticks).unwrap_or_default()
    }

    pub fn ticks_from_json(text: &str) -> BTreeMap<String, bool> {
        serde_json::from_str(text).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checklist.json as earlier releases wrote it, with every item ticked.
    const SAVED: &str =
        r#"{"aws_security_group":true,"database_allows_bastion":true,"vendor_ips":true}"#;

    #[test]
    fn ticks_saved_by_earlier_runs_still_tick_their_rows() {
        let list = Checklist::new(Checklist::ticks_from_json(SAVED), String::new());
        for row in ChecklistRow::ticked_rows() {
            assert!(list.ticked(row), "{row:?}");
        }
        assert!(!list.ticked(ChecklistRow::Database));
        assert_eq!(list.ticked_count(), 3);
    }

    #[test]
    fn ticking_every_row_saves_the_keys_earlier_runs_wrote() {
        let mut list = Checklist::new(BTreeMap::new(), String::new());
        for row in ChecklistRow::ALL {
            list.toggle(row);
        }
        assert_eq!(list.to_json(), SAVED);
    }

    #[test]
    fn focus_moves_one_row_and_stops_at_the_ends() {
        use ChecklistRow::*;
        assert_eq!(VendorIps.previous(), VendorIps);
        assert_eq!(VendorIps.next(), Database);
        assert_eq!(Database.next(), FirewallInFront);
        assert_eq!(FirewallInFront.next(), DatabaseAllowsBastion);
        assert_eq!(DatabaseAllowsBastion.next(), DatabaseAllowsBastion);
        assert_eq!(DatabaseAllowsBastion.previous(), FirewallInFront);
    }
}
