//! bastion-wizard: prepare a Linux host as an SSH tunnel bastion for a data vendor.
//!
//! The flow is inspect → plan → apply. `inspect` only reads, `plan` is a pure function
//! of what it read, `apply` (with `safe_fs`) is the one place that changes the host.
//! The command line (`cli`) and the wizard (`tui`) only show plans and trigger them.

#![forbid(unsafe_code)]

pub mod apply;
pub mod authorized_keys;
pub mod checks;
pub mod cli;
pub mod cloud;
pub mod connection;
pub mod dates;
pub mod export;
pub mod firewall;
pub mod inspect;
pub mod key;
pub mod key_list;
pub mod keygen;
pub mod ledger;
pub mod login;
pub mod logs;
pub mod pam_access;
pub mod patterns;
pub mod plan;
pub mod port;
pub mod profile;
pub mod revoke;
pub mod safe_fs;
pub mod setup;
pub mod sshd;
pub mod sshd_paths;
pub mod sshd_repair;
pub mod state_dir;
pub mod tool;
pub mod tui;
pub mod undo;
pub mod vendors;
pub mod verify;
