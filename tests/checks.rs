//! `status` judged from hand-made host states: the required ids, what fails, what warns.

mod fixtures;

use bastion_wizard::authorized_keys::{Access, Expires};
use bastion_wizard::checks::{self, Report, Status};
use bastion_wizard::inspect::HostState;
use bastion_wizard::key;
use bastion_wizard::plan;
use bastion_wizard::port::PortCheck;
use bastion_wizard::profile::Profile;
use bastion_wizard::setup::Request;
use bastion_wizard::sshd::SshdConfig;
use fixtures::*;

fn request(with_key: bool) -> Request {
    Request {
        user: "whaly".into(),
        group: "whaly".into(),
        access: Access::default(),
        key: with_key.then(|| key::parse(ED25519).unwrap()),
        vendor_addrs: vec!["34.22.141.3".parse().unwrap()],
        db: Vec::new(),
        fix_sshd: false,
        keepalive: None,
        vendor: Default::default(),
    }
}

fn report_for(request: &Request, state: &HostState, db: &[(String, PortCheck)]) -> Report {
    let plan = plan::plan(request, state);
    checks::report(request, state, &plan, &Profile::built_in(), db)
}

fn status_of(report: &Report, id: &str) -> Status {
    report
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id}"))
        .status
}

#[test]
fn every_required_id_is_present_once() {
    for state in [fresh_host(), preview_host(), set_up_host("")] {
        let report = report_for(&request(true), &state, &[]);
        for id in REQUIRED_CHECK_IDS {
            assert_eq!(
                report.checks.iter().filter(|c| c.id == id).count(),
                1,
                "{id}"
            );
        }
    }
}

#[test]
fn a_set_up_host_is_ready_and_a_fresh_one_is_not() {
    let installed = format!("restrict,port-forwarding {ED25519}\n");
    let report = report_for(&request(true), &set_up_host(&installed), &[]);
    assert!(report.ready, "{:#?}", report.checks);
    assert_eq!(status_of(&report, "key_installed"), Status::Ok);

    let report = report_for(&request(true), &fresh_host(), &[]);
    assert!(!report.ready);
    for id in [
        "group",
        "user",
        "ssh_dir",
        "authorized_keys",
        "key_installed",
        "account_unlocked",
        "shell",
    ] {
        assert_eq!(status_of(&report, id), Status::Fail, "{id}");
    }
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["ready"], false);
    assert_eq!(json["checks"][0]["status"], "fail");
    assert!(json["checks"][0]["fix"].is_string());
}

#[test]
fn a_key_installed_with_other_options_warns_instead_of_failing() {
    // Installed by hand as the guide does: no options. A plain status run asks tunnel-only.
    let report = report_for(&request(true), &set_up_host(&format!("{ED25519}\n")), &[]);
    assert_eq!(status_of(&report, "key_installed"), Status::Warn);
    assert!(report.ready);

    let report = report_for(
        &request(true),
        &set_up_host(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOtherKeyOthe x\n",
        ),
        &[],
    );
    assert_eq!(
        status_of(&report, "key_installed"),
        Status::Fail,
        "another key is not this key"
    );
}

#[test]
fn without_root_what_cannot_be_read_warns() {
    let report = report_for(&request(false), &preview_host(), &[]);
    for id in [
        "sshd_pubkey",
        "sshd_forwarding",
        "sshd_user_allowed",
        "sshd_key_algorithm",
    ] {
        assert_eq!(status_of(&report, id), Status::Warn, "{id}");
    }
}

#[test]
fn sshd_settings_that_break_tunnels_fail() {
    let mut state = set_up_host(&format!("restrict,port-forwarding {ED25519}\n"));
    state.sshd = Ok(bastion_wizard::sshd::same_everywhere(&SshdConfig::parse("port 2222\nallowtcpforwarding no\nallowusers alice\npubkeyacceptedalgorithms rsa-sha2-512\n"), &Profile::built_in().ips));
    let report = report_for(&request(true), &state, &[]);
    for id in [
        "sshd_forwarding",
        "sshd_user_allowed",
        "sshd_key_algorithm",
        "sshd_listening",
    ] {
        assert_eq!(status_of(&report, id), Status::Fail, "{id}");
    }
    let vendor = report
        .checks
        .iter()
        .find(|c| c.id == "port_vendor_to_ssh")
        .unwrap();
    assert_eq!(vendor.status, Status::Manual);
    assert!(vendor.title.contains("2222") && vendor.detail.contains("35.241.143.126/32"));
}

#[test]
fn database_reachability_comes_from_the_port_checks_given() {
    let state = set_up_host(&format!("restrict,port-forwarding {ED25519}\n"));
    let report = report_for(&request(true), &state, &[]);
    assert_eq!(status_of(&report, "port_ssh_to_db"), Status::Manual);
    let refused = [(
        "db:5432".to_string(),
        PortCheck::Unreachable("connection refused".into()),
    )];
    let report = report_for(&request(true), &state, &refused);
    assert_eq!(status_of(&report, "port_ssh_to_db"), Status::Fail);
    assert!(!report.ready);
}

#[test]
fn on_aws_the_vendor_rule_is_one_security_group_command_per_ip() {
    let mut state = set_up_host(&format!("restrict,port-forwarding {ED25519}\n"));
    state.facts.cloud = Some(bastion_wizard::cloud::Cloud::Aws);
    let report = report_for(&request(true), &state, &[]);
    let vendor = report
        .checks
        .iter()
        .find(|c| c.id == "port_vendor_to_ssh")
        .unwrap();
    assert_eq!(vendor.status, Status::Manual);
    assert!(
        vendor.detail.contains("security group"),
        "{}",
        vendor.detail
    );
    let fix = vendor.fix.as_deref().unwrap();
    for ip in Profile::built_in().ips {
        assert!(
            fix.lines().any(
                |l| l.starts_with("aws ec2 authorize-security-group-ingress")
                    && l.contains(&format!("--cidr {ip}/32"))
                    && l.contains("--port 22")
            ),
            "{fix}"
        );
    }
    assert_eq!(fix.lines().count(), Profile::built_in().ips.len());

    state.facts.cloud = None;
    let report = report_for(&request(true), &state, &[]);
    let vendor = report
        .checks
        .iter()
        .find(|c| c.id == "port_vendor_to_ssh")
        .unwrap();
    assert!(!vendor.fix.as_deref().unwrap().contains("aws ec2"));
}

#[test]
fn a_key_line_whose_permitopen_misses_the_database_says_how_to_widen_it() {
    let installed = format!("restrict,port-forwarding,permitopen=\"localhost:5432\" {ED25519}\n");
    let state = set_up_host(&installed);
    let mut req = request(true);
    req.access.permit_open = vec!["localhost:5432".parse().unwrap()];
    req.db = vec!["127.0.0.1:5432".parse().unwrap()];
    let report = report_for(&req, &state, &[]);
    let key = report
        .checks
        .iter()
        .find(|c| c.id == "key_installed")
        .unwrap();
    assert_eq!(key.status, Status::Fail, "{key:?}");
    assert!(key.detail.contains("127.0.0.1:5432"), "{key:?}");
    let fix = key.fix.as_deref().unwrap();
    assert!(
        !fix.contains(">>"),
        "appending the same line again changes nothing: {fix}"
    );
    assert!(
        fix.contains("--permit-open localhost:5432 --permit-open 127.0.0.1:5432"),
        "{fix}"
    );
}

/// Every check takes its title from its id, each its own: no id falls through to another's.
#[test]
fn every_check_has_its_own_title() {
    let report = report_for(&request(true), &fresh_host(), &[]);
    let titles: Vec<&str> = report.checks.iter().map(|c| c.title.as_str()).collect();
    assert!(titles.iter().all(|t| !t.is_empty()), "{titles:?}");
    let mut unique = titles.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), titles.len(), "{titles:?}");
    let shell = report.checks.iter().find(|c| c.id == "shell").unwrap();
    assert_eq!(shell.title, "Login shell exists");
}

/// Without root a missing group or user is still a failure: looking them up needs no root.
#[test]
fn a_preview_still_fails_what_it_can_see() {
    let report = report_for(&request(false), &preview_host(), &[]);
    assert_eq!(status_of(&report, "group"), Status::Fail);
    assert_eq!(status_of(&report, "user"), Status::Fail);
}

/// A request for the key with these line options, and a host holding exactly its line.
fn installed_as_requested(request: &Request) -> HostState {
    let key = request.key.as_ref().unwrap();
    set_up_host(&format!("{}\n", request.access.line_for(key)))
}

fn expiring(day: &str) -> Request {
    let mut req = request(true);
    let today = bastion_wizard::dates::Clock::utc(NOW).today();
    req.access.expires = Some(Expires::parse(day, today).unwrap());
    req
}

fn key_check(report: &Report) -> &bastion_wizard::checks::Check {
    report
        .checks
        .iter()
        .find(|c| c.id == "key_installed")
        .unwrap()
}

#[test]
fn an_expiry_shows_the_days_left_and_warns_in_its_last_week() {
    // The fixtures' clock says 2026-11-27.
    let req = expiring("2026-12-31");
    let report = report_for(&req, &installed_as_requested(&req), &[]);
    let key = key_check(&report);
    assert_eq!(key.status, Status::Ok, "{key:?}");
    assert!(
        key.detail
            .contains("expires after 2026-12-31 (34 days left)"),
        "{key:?}"
    );
    assert!(report.ready);

    for (day, words) in [
        ("2026-12-04", "expires after 2026-12-04 (7 days left)"),
        ("2026-11-28", "expires after 2026-11-28 (1 day left)"),
        ("2026-11-27", "today (2026-11-27) is its last day"),
    ] {
        let req = expiring(day);
        let report = report_for(&req, &installed_as_requested(&req), &[]);
        let key = key_check(&report);
        assert_eq!(key.status, Status::Warn, "{day}: {key:?}");
        assert!(key.detail.contains(words), "{day}: {key:?}");
        assert!(key.fix.as_deref().unwrap().contains("--expires"), "{key:?}");
        assert!(report.ready, "a warning is not a failure");
    }
    let req = expiring("2026-12-05");
    let report = report_for(&req, &installed_as_requested(&req), &[]);
    assert_eq!(key_check(&report).status, Status::Ok, "8 days left");
}

#[test]
fn an_expired_key_fails_and_the_host_is_not_ready() {
    // Its last day was yesterday, as the fixtures' clock reads it.
    let line = format!("expiry-time=\"20261126235959\",restrict,port-forwarding {ED25519}\n");
    for req in [request(true), request(false)] {
        let report = report_for(&req, &set_up_host(&line), &[]);
        let key = key_check(&report);
        assert_eq!(key.status, Status::Fail, "{key:?}");
        assert!(key.detail.contains("has passed"), "{key:?}");
        assert!(!report.ready);
    }
    let key = key_check(&report_for(&request(true), &set_up_host(&line), &[])).clone();
    assert!(
        key.detail.contains("its last day was 2026-11-26"),
        "{key:?}"
    );
}

#[test]
fn an_expiry_is_read_in_the_hosts_time_zone() {
    // 2026-11-27 12:00 UTC is already 2026-11-28 01:00 at UTC+13: a key whose last
    // day was the 27th (host time) has expired there, and not on a UTC host.
    let line = format!("expiry-time=\"20261127235959\",restrict,port-forwarding {ED25519}\n");
    let mut state = set_up_host(&line);
    let utc = report_for(&request(true), &state, &[]);
    assert_ne!(
        key_check(&utc).status,
        Status::Fail,
        "{:?}",
        key_check(&utc)
    );
    state.clock.utc_offset = 13 * 3600;
    let east = report_for(&request(true), &state, &[]);
    assert_eq!(
        key_check(&east).status,
        Status::Fail,
        "{:?}",
        key_check(&east)
    );
}

/// sshd before 7.7 does not know `expiry-time`, and before 9.1 not its UTC form: it
/// ignores the whole line, so the key does not work there whatever the date.
#[test]
fn an_expiry_older_sshd_does_not_know_fails_the_key() {
    let version = |major, minor| Some(bastion_wizard::sshd::Version { major, minor });
    let local = format!("expiry-time=\"20271231235959\",restrict,port-forwarding {ED25519}\n");
    let utc = format!("expiry-time=\"20271231235959Z\",restrict,port-forwarding {ED25519}\n");
    for (line, sshd, works) in [
        (&local, version(9, 2), true),
        (&local, version(7, 7), true),
        (&local, version(7, 4), false),
        (&utc, version(9, 1), true),
        (&utc, version(9, 0), false),
        (&utc, version(7, 4), false),
        (&utc, None, true),
    ] {
        let mut state = set_up_host(line);
        state.sshd_version = sshd;
        let report = report_for(&request(true), &state, &[]);
        let key = key_check(&report);
        assert_eq!(
            key.status == Status::Fail,
            !works,
            "{sshd:?} {line}: {key:?}"
        );
        if !works {
            assert!(key.detail.contains("ignores the whole line"), "{key:?}");
            assert!(
                key.fix.as_deref().unwrap().contains("without an expiry"),
                "{key:?}"
            );
            assert!(!report.ready);
        }
    }
}

#[test]
fn a_from_list_is_judged_for_every_vendor_address() {
    let mut req = request(true);
    req.vendor_addrs = vec![
        "34.22.141.3".parse().unwrap(),
        "34.22.218.65".parse().unwrap(),
    ];
    req.access.from = req.vendor_addrs.clone();
    let state = installed_as_requested(&req);
    let report = report_for(&req, &state, &[]);
    assert_eq!(
        key_check(&report).status,
        Status::Ok,
        "{:?}",
        key_check(&report)
    );
    assert!(report.ready);

    let missing_one = format!("from=\"34.22.141.3\",restrict,port-forwarding {ED25519}\n");
    let report = report_for(&req, &set_up_host(&missing_one), &[]);
    let key = key_check(&report);
    assert_eq!(key.status, Status::Fail, "{key:?}");
    assert!(
        key.detail.contains("excludes the vendor's 34.22.218.65"),
        "{key:?}"
    );
    assert!(!key.detail.contains("34.22.141.3,"), "{key:?}");
}
