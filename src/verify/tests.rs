use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::authorized_keys::{parse_line, Access};
use crate::sshd::SshdConfig;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/verify/");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}{name}")).unwrap()
}

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const VENDOR: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBc2yoOHRkbm0GnKKZ5Bv6YFFR2tAuWN4IE4I9wLvXcA";

fn tunnel_only() -> Access {
    Access {
        allow_shell: false,
        permit_open: vec!["db.internal:5432".parse().unwrap()],
        ..Access::default()
    }
}

fn probe() -> String {
    probe_line(
        tunnel_only().options().as_deref(),
        "127.0.0.1,::1",
        "202611242234",
        KEY,
    )
}

#[test]
fn probe_line_carries_the_vendors_options_loopback_and_expiry() {
    assert_eq!(
        probe(),
        format!("from=\"127.0.0.1,::1\",expiry-time=\"202611242234\",restrict,port-forwarding,permitopen=\"db.internal:5432\" {KEY} bastion-wizard-probe")
    );
    let open = Access {
        allow_shell: true,
        permit_open: Vec::new(),
        ..Access::default()
    };
    assert_eq!(
        probe_line(open.options().as_deref(), "10.0.0.5", "202611242234Z", KEY),
        format!("from=\"10.0.0.5\",expiry-time=\"202611242234Z\" {KEY} bastion-wizard-probe")
    );
}

#[test]
fn expiry_is_minutes_on_the_hosts_clock_without_z() {
    let at = UNIX_EPOCH + Duration::from_secs(1_795_559_355);
    assert_eq!(expiry_stamp(at, &Clock::utc(0)), "202611242229");
    assert_eq!(expiry_stamp(UNIX_EPOCH, &Clock::utc(0)), "197001010000");
    let paris = Clock {
        now: 0,
        utc_offset: 3600,
    };
    assert_eq!(
        expiry_stamp(at, &paris),
        "202611242329",
        "sshd reads it in local time"
    );
}

#[test]
fn a_probe_line_from_an_earlier_release_with_z_is_still_ours() {
    assert!(is_probe(
        &parse_line(&format!(
            "from=\"127.0.0.1\",expiry-time=\"202611242234Z\" {KEY} {MARKER}"
        ))
        .unwrap()
    ));
}

#[test]
fn a_probe_line_is_recognised_and_a_vendors_line_never() {
    assert!(is_probe(&parse_line(&probe()).unwrap()));
    assert!(is_probe(
        &parse_line(&format!(
            "from=\"10.0.0.5\",expiry-time=\"202611242234Z\" {KEY} {MARKER}"
        ))
        .unwrap()
    ));
    let not_probes = [
        // The vendor's own line, even with a loopback from= and an expiry.
        format!("from=\"127.0.0.1,::1\",expiry-time=\"202611242234Z\",restrict,port-forwarding {VENDOR} whaly"),
        // Our marker without the options.
        format!("restrict,port-forwarding {KEY} {MARKER}"),
        format!("{KEY} {MARKER}"),
        // Options in another order, a pattern instead of addresses, a day-only expiry.
        format!("expiry-time=\"202611242234Z\",from=\"127.0.0.1\" {KEY} {MARKER}"),
        format!("from=\"10.0.0.0/8\",expiry-time=\"202611242234Z\" {KEY} {MARKER}"),
        format!("from=\"*\",expiry-time=\"202611242234Z\" {KEY} {MARKER}"),
        format!("from=\"127.0.0.1\",expiry-time=\"20261124\" {KEY} {MARKER}"),
        format!("from=\"127.0.0.1\",expiry-time=\"20261124Z\" {KEY} {MARKER}"),
        // The marker as part of a longer comment, or another key type.
        format!("from=\"127.0.0.1\",expiry-time=\"202611242234Z\" {KEY} {MARKER} of whaly"),
        format!("from=\"127.0.0.1\",expiry-time=\"202611242234Z\" ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBA== {MARKER}"),
    ];
    for line in &not_probes {
        let entry = parse_line(line).unwrap();
        assert!(!is_probe(&entry), "taken for a probe: {line}");
    }
}

/// Files as people leave them: no final newline, CRLF, comments, blank lines, a
/// Latin-1 comment, a lookalike vendor line.
fn originals() -> Vec<Vec<u8>> {
    let mut latin1 = format!("restrict,port-forwarding {VENDOR} caf").into_bytes();
    latin1.extend_from_slice(b"\xe9\n");
    vec![
        Vec::new(),
        b"\n".to_vec(),
        format!("{VENDOR} whaly").into_bytes(),
        format!("# vendor\r\n\r\nrestrict,port-forwarding {VENDOR} whaly\r\n").into_bytes(),
        latin1,
        format!("from=\"127.0.0.1\",expiry-time=\"202611242234Z\" {VENDOR} {MARKER}-not\n\n\n")
            .into_bytes(),
    ]
}

#[test]
fn removing_the_probe_gives_back_every_byte() {
    for original in originals() {
        let with = with_probe(&original, &probe());
        assert!(with.starts_with(probe().as_bytes()));
        // Our own run removes by key data; a later run by the probe's shape.
        let data = parse_line(&probe()).unwrap().data;
        assert_eq!(
            without_lines(&with, |e| e.data == data).as_deref(),
            Some(original.as_slice())
        );
        assert_eq!(
            without_lines(&with, is_probe).as_deref(),
            Some(original.as_slice()),
            "{:?}",
            String::from_utf8_lossy(&original)
        );
        assert_eq!(
            without_lines(&original, is_probe),
            None,
            "nothing to remove"
        );
    }
}

#[test]
fn leftover_removal_keeps_someone_elses_later_edit() {
    let original = format!("{VENDOR} whaly\n").into_bytes();
    let mut edited = with_probe(&original, &probe());
    edited.extend_from_slice(b"# added by an admin meanwhile");
    let mut expected = original.clone();
    expected.extend_from_slice(b"# added by an admin meanwhile");
    assert_eq!(without_lines(&edited, is_probe), Some(expected));
}

fn config(name: &str) -> SshdConfig {
    SshdConfig::parse(&fixture(name))
}

#[test]
fn reaches_sshd_on_loopback_when_it_listens_on_a_wildcard() {
    let endpoint = choose_endpoint(&listeners(&config("sshd_T_default.txt"))).unwrap();
    assert_eq!(
        endpoint.connect,
        "127.0.0.1:22".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(endpoint.from, "127.0.0.1,::1");

    let endpoint = choose_endpoint(&listeners(&config("sshd_T_loopback.txt"))).unwrap();
    assert_eq!(
        endpoint.connect,
        "127.0.0.1:2222".parse::<SocketAddr>().unwrap()
    );

    let v6_only = ["[::]:22".parse().unwrap()];
    let endpoint = choose_endpoint(&v6_only).unwrap();
    assert_eq!(endpoint.connect, "[::1]:22".parse::<SocketAddr>().unwrap());
    assert_eq!(socket_text(endpoint.connect), "[::1]:22");
}

#[test]
fn a_listener_on_one_address_is_reached_from_that_address() {
    let endpoint = choose_endpoint(&listeners(&config("sshd_T_one_address.txt"))).unwrap();
    assert_eq!(
        endpoint.connect,
        "192.0.2.10:2200".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(endpoint.from, "192.0.2.10");
    assert_eq!(choose_endpoint(&[]), None);
}

#[test]
fn reads_the_channel_from_ssh_stderr() {
    assert_eq!(
        channel_state(&fixture("ssh_forward_opened.txt")),
        ChannelState::Opened
    );
    assert_eq!(
        channel_state(&fixture("ssh_prohibited.txt")),
        ChannelState::Failed(
            "channel 1: open failed: administratively prohibited: open failed".into()
        )
    );
    assert_eq!(
        channel_state(&fixture("ssh_connect_refused.txt")),
        ChannelState::Failed("channel 1: open failed: connect failed: Connection refused".into())
    );
    let before_login: String = fixture("ssh_forward_opened.txt")
        .lines()
        .take(70)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(channel_state(&before_login), ChannelState::Pending);
}

#[test]
fn ssh_message_is_its_own_words_without_chatter() {
    assert_eq!(
        ssh_message(&fixture("ssh_prohibited.txt")).as_deref(),
        Some("channel 1: open failed: administratively prohibited: open failed")
    );
    assert_eq!(ssh_message(&fixture("ssh_forward_opened.txt")), None);
}

/// The sandbox sshd's real lines, tagged as syslog writes them to auth.log.
fn auth_log() -> String {
    fixture("sshd_log.txt")
        .lines()
        .map(|l| format!("2026-05-02T10:00:00.000000+00:00 bastion sshd[4242]: {l}\n"))
        .chain(std::iter::once(
            "2026-05-02T10:00:01.000000+00:00 bastion sudo: probeu : TTY=pts/0 ; COMMAND=/bin/true\n".to_string(),
        ))
        .collect()
}

#[test]
fn finds_sshds_reason_in_its_log() {
    let lines = relevant_lines(
        &auth_log(),
        "probeu",
        "SHA256:nbfc+1073IWCRGsThxdtBQwrgDBLFSt/5I8VGtU+RF8",
        "127.0.0.1",
    );
    assert!(lines.iter().all(|l| l.contains("sshd[4242]")), "{lines:#?}");
    assert!(lines
        .iter()
        .any(|l| l.contains("Accepted publickey for probeu")));
    assert!(!lines.iter().any(|l| l.contains("Server listening")));
    assert_eq!(
        sshd_reason(&lines).as_deref(),
        Some("2026-05-02T10:00:00.000000+00:00 bastion sshd[4242]: connect_to 127.0.0.1 port 7: failed.")
    );
    let denied: Vec<String> = lines
        .iter()
        .filter(|l| !l.contains("connect_to"))
        .cloned()
        .collect();
    assert!(sshd_reason(&denied)
        .unwrap()
        .ends_with("Received request from 127.0.0.1 port 42404 to connect to host 127.0.0.1 port 2222, but the request was denied."));
}

#[test]
fn reads_sshds_own_log_file_too() {
    let lines = relevant_lines(&fixture("sshd_log.txt"), "probeu", "SHA256:x", "127.0.0.1");
    assert!(lines
        .iter()
        .any(|l| l.starts_with("Accepted publickey for probeu")));
}
