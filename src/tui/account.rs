//! The Account screen's form: who the vendor logs in as, and what the login may reach.

use crate::authorized_keys::{Expires, ExpiresError, PermitOpen, TargetError};
use crate::dates::Date;
use crate::plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountField {
    User,
    Group,
    TunnelOnly,
    Targets,
    Expires,
    FromVendorIps,
}

impl AccountField {
    const ORDER: [AccountField; 6] = [
        AccountField::User,
        AccountField::Group,
        AccountField::TunnelOnly,
        AccountField::Targets,
        AccountField::Expires,
        AccountField::FromVendorIps,
    ];

    pub(crate) fn step(self, forward: bool) -> AccountField {
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
    /// The key's last day as typed (`YYYY-MM-DD`); empty: it never expires.
    pub expires: String,
    /// The key works only from the profile's vendor addresses.
    pub from_vendor_ips: bool,
    pub focus: AccountField,
}

impl AccountForm {
    pub fn user_error(&self) -> Option<String> {
        match plan::check_name(&self.user, "user") {
            Err(e) => Some(e.to_string()),
            Ok(()) if self.user == "root" => Some(plan::Refusal::Root.to_string()),
            Ok(()) => None,
        }
    }

    pub fn group_error(&self) -> Option<String> {
        plan::check_name(&self.group, "group")
            .err()
            .map(|e| e.to_string())
    }

    pub fn parsed_targets(&self) -> Result<Vec<PermitOpen>, TargetError> {
        self.targets
            .split([' ', ','])
            .filter(|t| !t.is_empty())
            .map(str::parse)
            .collect()
    }

    /// The first target as typed, valid or not: the one the checklist starts from.
    pub(crate) fn first_target(&self) -> &str {
        self.targets
            .split([' ', ','])
            .find(|t| !t.is_empty())
            .unwrap_or_default()
    }

    /// The expiry as `--expires` reads it, judged against the host's `today`.
    pub fn parsed_expires(&self, today: Date) -> Result<Option<Expires>, ExpiresError> {
        let text = self.expires.trim();
        (!text.is_empty())
            .then(|| Expires::parse(text, today))
            .transpose()
    }

    pub fn is_valid(&self, today: Date) -> bool {
        self.user_error().is_none()
            && self.group_error().is_none()
            && self.parsed_targets().is_ok()
            && self.parsed_expires(today).is_ok()
    }

    /// The text of the focused field, if it is one that takes text.
    pub(crate) fn focused_text(&mut self) -> Option<&mut String> {
        match self.focus {
            AccountField::User => Some(&mut self.user),
            AccountField::Group => Some(&mut self.group),
            AccountField::Targets => Some(&mut self.targets),
            AccountField::Expires => Some(&mut self.expires),
            AccountField::TunnelOnly | AccountField::FromVendorIps => None,
        }
    }
}
