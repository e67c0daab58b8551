//! Key intake (`key::parse`, `key::read_input`) against every form the contract accepts
//! ("The key input" in docs/interface.md) and every refusal it promises.
//!
//! Keys are generated at test time with `ssh-keygen` in a temporary directory; only their
//! text is kept in memory. Fingerprints are compared with what `ssh-keygen -lf` prints.
//! Keys that newer OpenSSH may refuse to generate (DSA, RSA 1024) are built by hand.

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use bastion_wizard::key::{self, Key, KeyError, MAX_INPUT};

mod common;
use common::{base64_decode, base64_encode as base64, keygen_export, keygen_list, wrap_with};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const COMMENT: &str = "vendor@example.com";

/// One generated key pair, kept as text only (the temp dir is gone once generated).
struct Generated {
    /// `ssh-keygen -t` value, for messages.
    kind: String,
    /// What `Key::bits` must say.
    bits: Option<u32>,
    /// The `.pub` line, without its newline.
    public: String,
    /// `SHA256:...` as printed by `ssh-keygen -lf key.pub`.
    fingerprint: String,
    /// `ssh-keygen -e -f key.pub` (RFC4716).
    rfc4716: String,
    /// `ssh-keygen -e -m PKCS8 -f key.pub` (PEM public key), where supported.
    pem_public: Option<String>,
    /// The private key file as written by ssh-keygen (OpenSSH format).
    private: String,
}

impl Generated {
    fn key_type(&self) -> &str {
        self.public.split(' ').next().unwrap()
    }

    fn data(&self) -> &str {
        self.public.split(' ').nth(1).unwrap()
    }
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `ssh-keygen -t kind [-b bits] extra...` into `dir/key` with [`COMMENT`]; whether this
/// OpenSSH made one.
fn keygen(dir: &Path, kind: &str, bits: Option<u32>, extra: &[&str]) -> bool {
    let bits = bits.map(|b| b.to_string());
    let mut type_args = vec![kind];
    if let Some(bits) = &bits {
        type_args.extend(["-b", bits]);
    }
    type_args.extend(extra);
    common::try_keygen(dir, "key", COMMENT, &type_args).is_ok()
}

fn generate(kind: &str, bits: Option<u32>) -> Generated {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        keygen(dir.path(), kind, bits, &[]),
        "ssh-keygen -t {kind} {bits:?} failed"
    );
    let pub_path = dir.path().join("key.pub");
    let public = std::fs::read_to_string(&pub_path)
        .unwrap()
        .trim_end()
        .to_string();
    let rfc4716 = keygen_export(&pub_path, "RFC4716").unwrap();
    let pem_public = keygen_export(&pub_path, "PKCS8").ok();
    Generated {
        kind: kind.to_string(),
        bits: match kind {
            "ed25519" => None,
            "ecdsa" => Some(bits.unwrap_or(256)),
            _ => Some(bits.unwrap_or(3072)),
        },
        fingerprint: common::fingerprints(&pub_path, "sha256").remove(0),
        public,
        rfc4716,
        pem_public,
        private: std::fs::read_to_string(dir.path().join("key")).unwrap(),
    }
}

const ED25519: usize = 0;
const ECDSA256: usize = 1;
const ECDSA384: usize = 2;
const ECDSA521: usize = 3;
const RSA2048: usize = 4;
const RSA3072: usize = 5;
const RSA4096: usize = 6;
const SPECS: [(&str, Option<u32>); 7] = [
    ("ed25519", None),
    ("ecdsa", Some(256)),
    ("ecdsa", Some(384)),
    ("ecdsa", Some(521)),
    ("rsa", Some(2048)),
    ("rsa", Some(3072)),
    ("rsa", Some(4096)),
];

/// Keys are generated once per test binary, lazily, and shared between tests.
fn gen(which: usize) -> &'static Generated {
    static KEYS: [OnceLock<Generated>; 7] = [const { OnceLock::new() }; 7];
    KEYS[which].get_or_init(|| generate(SPECS[which].0, SPECS[which].1))
}

fn parse_ok(input: &str) -> Key {
    match key::parse(input) {
        Ok(k) => k,
        Err(e) => panic!("refused ({e:?}: {e}) input:\n{input:?}"),
    }
}

/// The parsed key is the same key as the `.pub` file: same type, same base64 (so the
/// canonical line is the OpenSSH one), same fingerprint as ssh-keygen computes.
fn assert_same_key(k: &Key, g: &Generated, input: &str) {
    assert_eq!(k.algorithm, g.key_type(), "type, input {input:?}");
    assert_eq!(k.data, g.data(), "base64, input {input:?}");
    assert_eq!(k.fingerprint, g.fingerprint, "fingerprint, input {input:?}");
    assert_eq!(k.bits, g.bits, "bits of {} key", g.kind);
}

/// Refused with exactly `expected`, with a message that is one sentence.
fn assert_refused(input: &str, expected: KeyError) -> String {
    let err = match key::parse(input) {
        Ok(k) => panic!("accepted {k:?}, expected {expected:?}; input {input:?}"),
        Err(e) => e,
    };
    assert_eq!(err, expected, "input {:?}", shorten(input));
    let msg = err.to_string();
    assert_one_sentence(&msg);
    msg
}

fn shorten(s: &str) -> String {
    s.chars().take(200).collect()
}

/// One sentence: one line, starts with a capital letter (or a quoted word), ends with a
/// full stop, and has no sentence boundary (". X", "! X", "? X") inside.
fn assert_one_sentence(msg: &str) {
    assert!(!msg.is_empty(), "empty message");
    assert!(
        !msg.contains('\n') && !msg.contains('\r'),
        "more than one line: {msg:?}"
    );
    assert!(
        msg.starts_with(|c: char| c.is_uppercase() || c == '"'),
        "does not start like a sentence: {msg:?}"
    );
    assert!(msg.ends_with('.'), "does not end with a full stop: {msg:?}");
    let chars: Vec<char> = msg.chars().collect();
    for w in chars.windows(3) {
        assert!(
            !(matches!(w[0], '.' | '!' | '?') && w[1] == ' ' && w[2].is_uppercase()),
            "more than one sentence: {msg:?}"
        );
    }
}

/// The base64 body of a private key file: every line that is not armour or a header.
fn private_body(private: &str) -> String {
    private
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.contains(':'))
        .collect()
}

/// No run of 12 characters of the message occurs in the secret (so no piece of it was
/// echoed), neither in Display nor in Debug.
fn assert_not_echoed(err: &KeyError, secret_body: &str) {
    assert!(secret_body.len() > 100, "secret body too short to be a key");
    for text in [err.to_string(), format!("{err:?}")] {
        let chars: Vec<char> = text.chars().collect();
        for w in chars.windows(12) {
            let piece: String = w.iter().collect();
            assert!(
                !secret_body.contains(&piece),
                "message echoes private key material {piece:?}: {text}"
            );
        }
    }
}

fn refuse_private(input: &str, body: &str) {
    let err = key::parse(input).expect_err("a private key was accepted");
    assert_eq!(err, KeyError::PrivateKey, "input {:?}", shorten(input));
    assert_one_sentence(&err.to_string());
    assert!(
        err.to_string().contains("PRIVATE") || err.to_string().contains("private"),
        "the message must say it is a private key: {err}"
    );
    assert_not_echoed(&err, body);
}

/// Inserts `sep` every `n` characters; returns the text and the number of breaks.
fn wrap(s: &str, n: usize, sep: &str) -> (String, usize) {
    let lines = common::wrap_lines(s, n);
    (lines.join(sep), lines.len() - 1)
}

/// SSH wire `string`: u32 big-endian length, then the bytes.
fn wire_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A positive mpint of `len` bytes with the high bit set (so prefixed with 0x00).
fn mpint_high(len: usize, fill: u8) -> Vec<u8> {
    let mut v = vec![0u8];
    v.push(0x80 | fill);
    v.extend(std::iter::repeat_n(fill, len - 2));
    v.push(fill | 1);
    v
}

/// An RSA public key blob with a modulus of exactly `bits` bits (multiple of 8).
fn rsa_blob(bits: usize) -> Vec<u8> {
    let mut blob = Vec::new();
    wire_string(&mut blob, b"ssh-rsa");
    wire_string(&mut blob, &[0x01, 0x00, 0x01]);
    wire_string(&mut blob, &mpint_high(bits / 8, 0xc5));
    blob
}

/// A DSA public key blob: "ssh-dss", p, q, g, y.
fn dsa_blob() -> Vec<u8> {
    let mut blob = Vec::new();
    wire_string(&mut blob, b"ssh-dss");
    wire_string(&mut blob, &mpint_high(128, 0xa7));
    wire_string(&mut blob, &mpint_high(20, 0x9b));
    wire_string(&mut blob, &mpint_high(128, 0x3d));
    wire_string(&mut blob, &mpint_high(128, 0x51));
    blob
}

// ---------------------------------------------------------------------------------------
// Accepted forms
// ---------------------------------------------------------------------------------------

#[test]
fn plain_one_liner_of_every_type_gives_openssh_line_bits_and_fingerprint() {
    let expected_describe = [
        "ED25519",
        "ECDSA 256",
        "ECDSA 384",
        "ECDSA 521",
        "RSA 2048",
        "RSA 3072",
        "RSA 4096",
    ];
    for (which, describe) in expected_describe.iter().enumerate() {
        let g = gen(which);
        for input in [g.public.clone(), format!("{}\n", g.public)] {
            let k = parse_ok(&input);
            assert_same_key(&k, g, &input);
            assert_eq!(k.comment, COMMENT);
            assert_eq!(k.canonical(), g.public, "canonical line of {}", g.kind);
            assert_eq!(k.line_breaks_removed, 0, "{input:?}");
            assert_eq!(k.pasted_options, None);
            assert!(!k.was_rfc4716);
            assert_eq!(k.describe(), *describe);
        }
    }
    // Bits, spelled out for the record.
    assert_eq!(parse_ok(&gen(ED25519).public).bits, None);
    assert_eq!(parse_ok(&gen(ECDSA256).public).bits, Some(256));
    assert_eq!(parse_ok(&gen(ECDSA384).public).bits, Some(384));
    assert_eq!(parse_ok(&gen(ECDSA521).public).bits, Some(521));
    assert_eq!(parse_ok(&gen(RSA2048).public).bits, Some(2048));
    assert_eq!(parse_ok(&gen(RSA3072).public).bits, Some(3072));
    assert_eq!(parse_ok(&gen(RSA4096).public).bits, Some(4096));
}

#[test]
fn key_without_comment_has_canonical_line_without_trailing_blank() {
    let g = gen(ED25519);
    let bare = format!("{} {}", g.key_type(), g.data());
    let k = parse_ok(&bare);
    assert_same_key(&k, g, &bare);
    assert_eq!(k.comment, "");
    assert_eq!(k.canonical(), bare);
}

#[test]
fn comment_with_inner_blanks_is_kept() {
    let g = gen(ECDSA256);
    let input = format!("{} {} Jane  Doe\t(vendor) laptop", g.key_type(), g.data());
    let k = parse_ok(&input);
    assert_same_key(&k, g, &input);
    assert_eq!(k.comment, "Jane Doe (vendor) laptop");
}

#[test]
fn leading_authorized_keys_options_are_recorded_and_the_key_accepted() {
    let g = gen(ED25519);
    let cases = [
        r#"restrict,command="echo a, b""#,
        r#"command="echo a # b, c""#,
        r#"from="10.0.0.0/8,192.168.1.1",no-pty"#,
        r#"command="echo \"quoted words\" here",restrict"#,
        "no-pty",
        "restrict",
        r#"permitopen="db:5432""#,
    ];
    for options in cases {
        let input = format!("{options} {}", g.public);
        let k = parse_ok(&input);
        assert_same_key(&k, g, &input);
        assert_eq!(
            k.pasted_options.as_deref(),
            Some(options),
            "input {input:?}"
        );
        assert_eq!(k.comment, COMMENT);
        // The canonical line never carries the pasted options.
        assert_eq!(k.canonical(), g.public);
    }
    // Options, then the key wrapped right after the type.
    let input = format!(
        "restrict,command=\"echo a, b\" {}\n{} {}",
        g.key_type(),
        g.data(),
        COMMENT
    );
    let k = parse_ok(&input);
    assert_same_key(&k, g, &input);
    assert_eq!(
        k.pasted_options.as_deref(),
        Some(r#"restrict,command="echo a, b""#)
    );
    assert_eq!(k.line_breaks_removed, 1);
}

#[test]
fn wrapped_every_n_chars_comes_back_whole() {
    for which in [ED25519, ECDSA521, RSA2048, RSA4096] {
        let g = gen(which);
        for n in [7, 13, 30, 64, 70, 76] {
            for sep in ["\n", "\r\n", "\r"] {
                let (input, breaks) = wrap(&g.public, n, sep);
                let k = parse_ok(&input);
                assert_same_key(&k, g, &input);
                assert_eq!(k.canonical(), g.public, "n={n} sep={sep:?} {input:?}");
                assert_eq!(k.line_breaks_removed, breaks, "n={n} sep={sep:?}");
            }
        }
    }
}

#[test]
fn wrapped_with_trailing_newline_counts_only_inner_breaks() {
    let g = gen(RSA3072);
    let (wrapped, breaks) = wrap(&g.public, 64, "\r\n");
    let input = format!("{wrapped}\r\n");
    let k = parse_ok(&input);
    assert_same_key(&k, g, &input);
    assert_eq!(k.canonical(), g.public);
    assert_eq!(k.line_breaks_removed, breaks);
}

#[test]
fn break_right_after_the_type_and_inside_the_comment() {
    let g = gen(ED25519);
    let (t, d) = (g.key_type(), g.data());
    let cases = [
        // after the type
        (format!("{t}\n{d} {COMMENT}"), 1),
        (format!("{t} \n{d} {COMMENT}"), 1),
        (format!("{t}\n\n{d} {COMMENT}"), 2),
        // inside the comment
        (format!("{t} {d} vendor@exa\nmple.com"), 1),
        (format!("{t} {d} vendor@exa\r\nmple.com"), 1),
        (format!("{t} {d} vendor@exa\rmple.com"), 1),
        // between the base64 and the comment
        (format!("{t} {d}\n{COMMENT}"), 1),
        // all of it at once
        (
            format!(
                "{t}\r\n{}\r\n{}\r\n{} vendor@\r\nexample.com",
                &d[..20],
                &d[20..41],
                &d[41..]
            ),
            4,
        ),
    ];
    for (input, breaks) in cases {
        let k = parse_ok(&input);
        assert_same_key(&k, g, &input);
        assert_eq!(k.canonical(), g.public, "input {input:?}");
        assert_eq!(k.line_breaks_removed, breaks, "input {input:?}");
    }
}

#[test]
fn stray_blanks_and_blank_lines_around_and_between() {
    let g = gen(RSA2048);
    let (t, d) = (g.key_type(), g.data());
    let inputs = [
        format!("\n\n  \t{t} {d} {COMMENT}  \t\n\n\n"),
        format!("\r\n \r\n{t}\t\t{d}\t {COMMENT}\t\r\n  \r\n"),
        format!("   {t}    {d}    {COMMENT}   "),
        format!(
            "  {t}\n    {}\n    {}\n    {COMMENT}\n",
            &d[..150],
            &d[150..]
        ),
    ];
    for input in inputs {
        let k = parse_ok(&input);
        assert_same_key(&k, g, &input);
        assert_eq!(k.canonical(), g.public, "input {input:?}");
    }
}

#[test]
fn rfc4716_from_ssh_keygen_gives_the_openssh_key() {
    for which in [ED25519, ECDSA256, ECDSA384, ECDSA521, RSA2048, RSA4096] {
        let g = gen(which);
        assert!(g.rfc4716.starts_with("---- BEGIN SSH2 PUBLIC KEY ----"));
        let header_comment = g
            .rfc4716
            .lines()
            .find_map(|l| l.strip_prefix("Comment: "))
            .expect("ssh-keygen -e writes a Comment header")
            .trim_matches('"')
            .to_string();
        for input in [g.rfc4716.clone(), g.rfc4716.replace('\n', "\r\n")] {
            let k = parse_ok(&input);
            assert_same_key(&k, g, &input);
            assert!(k.was_rfc4716);
            assert_eq!(k.comment, header_comment);
            assert_eq!(
                k.canonical(),
                format!("{} {} {}", g.key_type(), g.data(), header_comment)
            );
            // Every line break between BEGIN and END was removed (the final one is trimmed).
            let lines = g.rfc4716.trim_end().lines().count();
            assert_eq!(k.line_breaks_removed, lines - 1, "{input:?}");
        }
    }
}

#[test]
fn rfc4716_by_hand_with_continued_comment_and_other_headers() {
    let g = gen(RSA3072);
    let body = wrap_with(g.data(), 70, "\n");
    let input = format!(
        "---- BEGIN SSH2 PUBLIC KEY ----\n\
         Subject: jane\n\
         Comment: \"Whaly tunnel key, \\\n\
         issued 2024\"\n\
         x-private-header: a:b\n\
         {body}\n\
         ---- END SSH2 PUBLIC KEY ----\n"
    );
    let k = parse_ok(&input);
    assert_same_key(&k, g, &input);
    assert!(k.was_rfc4716);
    assert_eq!(k.comment, "Whaly tunnel key, issued 2024");
    assert_eq!(
        k.canonical(),
        format!(
            "{} {} Whaly tunnel key, issued 2024",
            g.key_type(),
            g.data()
        )
    );
    assert_eq!(
        k.line_breaks_removed,
        input.trim_end().matches('\n').count()
    );

    // Indented and with CRLF, as pasted from a mail client; no Comment header at all.
    let input = format!(
        "  ---- BEGIN SSH2 PUBLIC KEY ----\r\n  {}\r\n  ---- END SSH2 PUBLIC KEY ----  \r\n",
        wrap_with(g.data(), 64, "\r\n  ")
    );
    let k = parse_ok(&input);
    assert_same_key(&k, g, &input);
    assert_eq!(k.comment, "");
    assert_eq!(k.canonical(), format!("{} {}", g.key_type(), g.data()));
}

#[test]
fn every_single_line_break_position_gives_the_same_key() {
    // Comment with a blank, so a break next to it shows how comments are joined.
    for which in [ED25519, RSA4096] {
        let g = gen(which);
        let line = format!("{} {} vendor tunnel@example.com", g.key_type(), g.data());
        let squeeze = |s: &str| s.split_whitespace().collect::<String>();
        let seps: &[&str] = if which == ED25519 {
            &["\n", "\r\n", "\r"]
        } else {
            &["\n"]
        };
        for sep in seps {
            for (pos, _) in line.char_indices().chain([(line.len(), ' ')]) {
                let input = format!("{}{sep}{}", &line[..pos], &line[pos..]);
                let k = match key::parse(&input) {
                    Ok(k) => k,
                    Err(e) => panic!("break at {pos} ({sep:?}) refused: {e:?} — {e}"),
                };
                assert_eq!(k.algorithm, g.key_type(), "break at {pos}");
                assert_eq!(k.data, g.data(), "break at {pos}");
                assert_eq!(k.fingerprint, g.fingerprint, "break at {pos}");
                // The comment may differ only in how the two halves were joined.
                assert_eq!(
                    squeeze(&k.comment),
                    "vendortunnel@example.com",
                    "break at {pos}"
                );
                let inner = pos > 0 && pos < line.len();
                assert_eq!(k.line_breaks_removed, usize::from(inner), "break at {pos}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Refusals: private keys
// ---------------------------------------------------------------------------------------

#[test]
fn openssh_private_keys_are_refused_and_never_echoed() {
    for which in [ED25519, ECDSA256, RSA2048] {
        let g = gen(which);
        assert!(g.private.contains("BEGIN OPENSSH PRIVATE KEY"));
        let body = private_body(&g.private);
        refuse_private(&g.private, &body);
        refuse_private(&g.private.replace('\n', "\r\n"), &body);
        // Pasted together with the public key, in either order.
        refuse_private(&format!("{}\n{}", g.public, g.private), &body);
        refuse_private(&format!("{}\n{}", g.private, g.public), &body);
    }
}

#[test]
fn bare_openssh_private_body_without_armour_is_refused() {
    let g = gen(ED25519);
    let body = private_body(&g.private);
    let lines: Vec<&str> = g
        .private
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    // As in the file (wrapped at 70), joined on one line, and rewrapped at 64 with CRLF.
    refuse_private(&lines.join("\n"), &body);
    refuse_private(&body, &body);
    refuse_private(&wrap_with(&body, 64, "\r\n"), &body);
    refuse_private(&format!("  {}  ", wrap_with(&body, 7, "\n \t")), &body);
}

#[test]
fn pem_and_pkcs8_private_keys_are_refused_and_never_echoed() {
    // RSA in PEM (PKCS#1) at generation.
    let dir = tempfile::tempdir().unwrap();
    assert!(keygen(dir.path(), "rsa", Some(2048), &["-m", "PEM"]));
    let pem = std::fs::read_to_string(dir.path().join("key")).unwrap();
    assert!(
        pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"),
        "{}",
        &pem[..40]
    );
    refuse_private(&pem, &private_body(&pem));

    // ECDSA converted to PEM (SEC1) and to PKCS#8.
    for (format, armour) in [
        ("PEM", "-----BEGIN EC PRIVATE KEY-----"),
        ("PKCS8", "-----BEGIN PRIVATE KEY-----"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        assert!(keygen(dir.path(), "ecdsa", Some(256), &[]));
        let path = dir.path().join("key");
        run(Command::new("ssh-keygen")
            .args(["-q", "-p", "-N", "", "-P", "", "-m", format, "-f"])
            .arg(&path));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(armour), "{format}: {}", &text[..40]);
        let body = private_body(&text);
        refuse_private(&text, &body);
        refuse_private(&text.replace('\n', "\r\n"), &body);
        refuse_private(&format!("\n\n   {}", text.replace('\n', "\n   ")), &body);
    }

    // RSA in PKCS#8 (the "BEGIN PRIVATE KEY" most tools export).
    let dir = tempfile::tempdir().unwrap();
    assert!(keygen(dir.path(), "rsa", Some(2048), &[]));
    let path = dir.path().join("key");
    run(Command::new("ssh-keygen")
        .args(["-q", "-p", "-N", "", "-P", "", "-m", "PKCS8", "-f"])
        .arg(&path));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
    refuse_private(&text, &private_body(&text));
}

#[test]
fn putty_private_key_is_refused() {
    let g = gen(ED25519);
    let fake_private = base64(&[0x5au8; 48]);
    let ppk = format!(
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: {COMMENT}\n\
         Public-Lines: 2\n{}\n{}\nPrivate-Lines: 1\n{fake_private}\n\
         Private-MAC: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
        &g.data()[..40],
        &g.data()[40..]
    );
    let err = assert_refused(&ppk, KeyError::PrivateKey);
    assert!(!err.contains(&fake_private[..16]));
}

// ---------------------------------------------------------------------------------------
// Refusals: everything else
// ---------------------------------------------------------------------------------------

#[test]
fn pem_public_key_is_refused_with_conversion_hint() {
    for which in [RSA2048, ECDSA256] {
        let g = gen(which);
        let pem = g.pem_public.as_ref().expect("ssh-keygen -e -m PKCS8 works");
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let msg = assert_refused(pem, KeyError::PemPublicKey);
        assert!(msg.contains("ssh-keygen -i"), "{msg}");
        assert_refused(&pem.replace('\n', "\r\n"), KeyError::PemPublicKey);
    }
}

#[test]
fn two_keys_are_refused() {
    let a = gen(ED25519);
    let b = gen(ECDSA256);
    let same_a = format!("{} {} other-comment", a.key_type(), a.data());
    let inputs = [
        format!("{}\n{}", a.public, b.public),
        format!("{}\r\n{}\r\n", a.public, b.public),
        format!("{}\n\n{}\n", a.public, a.public),
        format!("{}\n{}", a.public, same_a),
        // on one line
        format!("{} {}", a.public, b.public),
        format!("{} {} {}", a.key_type(), a.data(), b.public),
        format!("{} {}", a.public, same_a),
        // the second one with options
        format!("{}\nrestrict {}", a.public, b.public),
        // two RFC4716 blocks
        format!("{}{}", a.rfc4716, b.rfc4716),
    ];
    for input in inputs {
        assert_refused(&input, KeyError::MultipleKeys);
    }
}

/// A second key whose type we do not install (a certificate, say) is still a second key,
/// not comment text: a key type word followed by base64 that starts like a key blob.
#[test]
fn a_second_key_of_a_type_we_do_not_install_is_refused() {
    let a = gen(ED25519);
    let b = gen(ECDSA256);
    let cert = "ssh-ed25519-cert-v01@openssh.com";
    let inputs = [
        format!("{} {cert} AAAA foo", a.public),
        format!(
            "{} {} vendor\n{cert} {} foo",
            a.key_type(),
            a.data(),
            b.data()
        ),
        format!("{}\nrestrict {cert} {}", a.public, b.data()),
        format!("{} rsa-sha2-512 {}", a.public, b.data()),
        format!("{} ecdsa-sha2-nistp999 {}", a.public, b.data()),
        format!(
            "{} sk-ecdsa-sha2-nistp256-cert-v01@openssh.com AAAAI x",
            a.public
        ),
    ];
    for input in inputs {
        assert_refused(&input, KeyError::MultipleKeys);
    }
}

/// Words that look like key types but are followed by no key data stay in the comment.
#[test]
fn key_type_words_without_key_data_stay_in_the_comment() {
    let g = gen(ED25519);
    for comment in [
        "ssh-key-for-whaly",
        "deploy ssh-rsa",
        "ssh-rsa",
        "ssh-ed25519 key for bob",
        "old ecdsa-sha2-nistp256 key replaced",
        "was ssh-ed25519-cert-v01@openssh.com",
    ] {
        let input = format!("{} {} {comment}", g.key_type(), g.data());
        let k = parse_ok(&input);
        assert_same_key(&k, g, &input);
        assert_eq!(k.comment, comment);
    }
}

#[test]
fn looks_like_key_type_knows_type_names_and_not_comment_words() {
    for word in [
        "ssh-ed25519",
        "ssh-rsa",
        "ssh-dss",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "rsa-sha2-512",
        "ssh-ed25519-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        "sk-ssh-ed25519-cert-v01@openssh.com",
    ] {
        assert!(key::looks_like_key_type(word), "{word}");
    }
    for word in [
        "",
        "ssh",
        "ssh-",
        "sk-",
        "ssh-foo",
        "ssh-key-for-whaly",
        "restrict",
        "ED25519",
        "SSH-ED25519",
        "ssh-ed25519,restrict",
        "ssh-rsa\u{e9}",
        "vendor@openssh.com",
        "AAAAC3NzaC1lZDI1NTE5",
    ] {
        assert!(!key::looks_like_key_type(word), "{word:?}");
    }
    // What we install is still our own list.
    assert!(!key::is_key_type("ssh-ed25519-cert-v01@openssh.com"));
    assert!(!key::is_key_type("rsa-sha2-512"));
}

/// Control characters in the comment (or in pasted options) would be echoed to terminals
/// and written into authorized_keys: refused, with a message that repeats none of it.
/// Tabs are blanks and become spaces.
#[test]
fn control_characters_in_comment_or_options_are_refused_without_echo() {
    let g = gen(ED25519);
    let (t, d) = (g.key_type(), g.data());
    let inputs = [
        format!("{t} {d} a\x1b]0;pwn\x07b"),
        format!("{t} {d} vendor\x1b[2J"),
        format!("{t} {d} \x1b[31mred"),
        format!("{t} {d} bell\x07"),
        format!("{t} {d} nul\0x"),
        format!("{t} {d} del\x7fx"),
        format!("{t} {d} csi\u{9b}31m"),
        format!("{t} {d} vt\x0bff\x0cx"),
        format!("{t}\n{d}\nvendor\x1b]0;pwn\x07\n"),
        format!("command=\"printf '\x1b]0;pwn\x07'\" {t} {d} {COMMENT}"),
        format!("restrict,command=\"x\x1by\" {}", g.public),
        format!(
            "---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"a\x1b]0;pwn\x07b\"\n{}\n---- END SSH2 PUBLIC KEY ----\n",
            wrap_with(d, 70, "\n")
        ),
    ];
    for input in &inputs {
        let msg = assert_refused(input, KeyError::ControlCharacters);
        assert!(msg.contains("control characters"), "{msg}");
        for text in [msg, format!("{:?}", KeyError::ControlCharacters)] {
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert!(!text.contains("pwn"), "{text:?}");
        }
    }
    let k = parse_ok(&format!("{t} {d} Jane\tDoe\t\tlaptop"));
    assert_eq!(k.comment, "Jane Doe laptop");
    let input = format!(
        "---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"Jane\tDoe laptop\"\n{}\n---- END SSH2 PUBLIC KEY ----\n",
        wrap_with(d, 70, "\n")
    );
    let k = parse_ok(&input);
    assert_same_key(&k, g, &input);
    assert_eq!(k.comment, "Jane Doe laptop");
}

#[test]
fn rfc4716_block_followed_by_another_key_is_refused() {
    let a = gen(ED25519);
    let b = gen(ECDSA256);
    for input in [
        format!("{}{}\n", a.rfc4716, b.public),
        format!("{}\n{}", b.public, a.rfc4716),
    ] {
        assert_refused(&input, KeyError::MultipleKeys);
    }
}

#[test]
fn dsa_keys_are_refused() {
    let blob = dsa_blob();
    let line = format!("ssh-dss {} old@host", base64(&blob));
    let msg = assert_refused(&line, KeyError::Dsa);
    assert!(msg.contains("DSA"), "{msg}");
    assert_refused(&wrap_with(&line, 60, "\r\n"), KeyError::Dsa);
    assert_refused(&format!("no-pty {line}"), KeyError::Dsa);
    let rfc = format!(
        "---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"old\"\n{}\n---- END SSH2 PUBLIC KEY ----\n",
        wrap_with(&base64(&blob), 70, "\n")
    );
    assert_refused(&rfc, KeyError::Dsa);

    // A real one too, where this OpenSSH still generates them.
    let dir = tempfile::tempdir().unwrap();
    if keygen(dir.path(), "dsa", None, &[]) {
        let real = std::fs::read_to_string(dir.path().join("key.pub")).unwrap();
        assert_refused(&real, KeyError::Dsa);
    }
}

#[test]
fn rsa_under_2048_bits_is_refused() {
    for bits in [1024usize, 2040] {
        let line = format!("ssh-rsa {} small@host", base64(&rsa_blob(bits)));
        let msg = assert_refused(&line, KeyError::RsaTooSmall(bits as u32));
        assert!(msg.contains(&bits.to_string()), "{msg}");
        assert!(msg.contains("2048"), "{msg}");
    }
    // Exactly 2048 bits built the same way is accepted: the refusal above is about size.
    let line = format!("ssh-rsa {} ok@host", base64(&rsa_blob(2048)));
    assert_eq!(parse_ok(&line).bits, Some(2048));

    let dir = tempfile::tempdir().unwrap();
    if keygen(dir.path(), "rsa", Some(1024), &[]) {
        let real = std::fs::read_to_string(dir.path().join("key.pub")).unwrap();
        assert_refused(&real, KeyError::RsaTooSmall(1024));
    }
}

#[test]
fn truncated_or_damaged_base64_is_malformed() {
    for which in [ED25519, RSA2048] {
        let g = gen(which);
        let d = g.data();
        let cuts = [d.len() / 2, d.len() - 4, d.len() - 1, 12];
        for cut in cuts {
            let input = format!("{} {} {COMMENT}", g.key_type(), &d[..cut]);
            let err = key::parse(&input).expect_err("a truncated key was accepted");
            assert!(
                matches!(err, KeyError::Malformed(_)),
                "cut at {cut}: {err:?}"
            );
            assert_one_sentence(&err.to_string());
        }
        // Type present, data missing.
        let err = key::parse(g.key_type()).unwrap_err();
        assert!(matches!(err, KeyError::Malformed(_)), "{err:?}");
        assert_one_sentence(&err.to_string());
    }
    // The type word does not match the type inside the data.
    let ed = gen(ED25519);
    let msg = assert_refused(
        &format!("ssh-rsa {} x", ed.data()),
        KeyError::TypeMismatch {
            word: "ssh-rsa".into(),
            data: "ssh-ed25519".into(),
        },
    );
    assert!(
        msg.contains("ssh-rsa") && msg.contains("ssh-ed25519"),
        "{msg}"
    );
}

#[test]
fn unknown_key_type_is_refused() {
    let msg = assert_refused("ssh-foo AAAA", KeyError::UnknownType("ssh-foo".into()));
    assert!(msg.contains("ssh-foo"), "{msg}");
    for input in [
        "hello, this is my key",
        "Hello there",
        "AAAAC3NzaC1lZDI1NTE5",
    ] {
        let err = key::parse(input).unwrap_err();
        assert!(matches!(err, KeyError::UnknownType(_)), "{input}: {err:?}");
        assert_one_sentence(&err.to_string());
    }
    // A long garbage word is never repeated at length.
    let long = "x".repeat(500);
    let err = key::parse(&long).unwrap_err();
    assert!(matches!(err, KeyError::UnknownType(_)), "{err:?}");
    let msg = err.to_string();
    assert_one_sentence(&msg);
    assert!(msg.len() < 300, "{msg}");
}

/// A private key's base64 body without its armour lines (PEM or PKCS#8, which carry no
/// "openssh-key-v1" marker) must be refused without repeating any of it, neither in the
/// message nor in the error value (which callers may log).
#[test]
fn bare_pem_private_body_is_refused_without_echo() {
    let dir = tempfile::tempdir().unwrap();
    assert!(keygen(dir.path(), "rsa", Some(2048), &["-m", "PEM"]));
    let pem = std::fs::read_to_string(dir.path().join("key")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert!(keygen(dir.path(), "ecdsa", Some(256), &[]));
    let path = dir.path().join("key");
    run(Command::new("ssh-keygen")
        .args(["-q", "-p", "-N", "", "-P", "", "-m", "PKCS8", "-f"])
        .arg(&path));
    let pkcs8 = std::fs::read_to_string(&path).unwrap();
    for text in [pem, pkcs8] {
        let body = private_body(&text);
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("-----")).collect();
        for input in [lines.join("\n"), body.clone(), format!("ssh-rsa {body}")] {
            let err = key::parse(&input).expect_err("a private key body was accepted");
            assert_one_sentence(&err.to_string());
            assert_not_echoed(&err, &body);
        }
    }
}

#[test]
fn empty_and_blank_input_is_refused() {
    for input in ["", " ", "\n", "\r\n\r\n", " \t \n\t\r ", "\r"] {
        assert_refused(input, KeyError::Empty);
    }
}

#[test]
fn input_over_64_kib_is_refused() {
    let g = gen(ED25519);
    assert_eq!(MAX_INPUT, 64 * 1024);
    assert_refused(&"a".repeat(70 * 1024), KeyError::TooLarge);
    // A real key buried in blanks is still too large.
    let padded = format!("{}{}", g.public, " ".repeat(MAX_INPUT));
    assert_refused(&padded, KeyError::TooLarge);
    // At the limit it is judged on its content.
    let at_limit = format!("{}{}", g.public, " ".repeat(MAX_INPUT - g.public.len()));
    assert_eq!(at_limit.len(), MAX_INPUT);
    assert_same_key(&parse_ok(&at_limit), g, "64 KiB");
}

#[test]
fn read_input_stops_at_the_limit() {
    let huge = std::io::repeat(b'a').take(200_000_000);
    assert_eq!(read_ok(huge), Err(KeyError::TooLarge));
    let just_over = std::io::repeat(b' ').take(MAX_INPUT as u64 + 1);
    assert_eq!(read_ok(just_over), Err(KeyError::TooLarge));
    let at_limit = std::io::repeat(b' ').take(MAX_INPUT as u64);
    assert_eq!(read_ok(at_limit), Ok(" ".repeat(MAX_INPUT)));

    let g = gen(ED25519);
    let text = format!("{}\r\n", g.public);
    assert_eq!(read_ok(text.as_bytes()), Ok(text.clone()));
}

#[test]
fn read_input_refuses_non_utf8() {
    let g = gen(ED25519);
    assert_eq!(
        read_ok(&[0x7f, 0x45, 0x4c, 0x46, 0x00, 0x01, 0x80, 0x41][..]),
        Err(KeyError::NotText)
    );
    let _ = g;
    assert_one_sentence(&KeyError::NotText.to_string());
    assert_one_sentence(&KeyError::TooLarge.to_string());
}

fn read_ok(reader: impl Read) -> Result<String, KeyError> {
    key::read_input(reader).expect("reading from memory cannot fail")
}

/// Counts what the intake pulls from an endless stream: it must stop at the limit, which
/// bounds its memory whatever the stream's size.
#[test]
fn read_input_pulls_at_most_the_limit_from_an_endless_stream() {
    struct Counting {
        pulled: usize,
    }
    impl Read for Counting {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            buf.fill(b'a');
            self.pulled += buf.len();
            Ok(buf.len())
        }
    }
    let mut endless = Counting { pulled: 0 };
    assert_eq!(read_ok(&mut endless), Err(KeyError::TooLarge));
    assert!(
        endless.pulled <= MAX_INPUT + 1,
        "read {} bytes from the stream, limit {}",
        endless.pulled,
        MAX_INPUT + 1
    );
}

#[test]
fn bidirectional_overrides_in_the_comment_are_refused() {
    let g = gen(ED25519);
    let line = format!("{} {} vendor\u{202E}moc.elpmaxe", g.key_type(), g.data());
    assert_eq!(key::parse(&line), Err(KeyError::ControlCharacters));
}

#[test]
fn words_around_an_rfc4716_block_are_not_a_second_key() {
    let g = gen(ED25519);
    let text = format!(
        "Here is my ssh-rsa key:\n{}\nThanks, ssh-ed25519 fan\n",
        g.rfc4716
    );
    let k = parse_ok(&text);
    assert_eq!(k.data, g.data(), "prose around the block is ignored");
}

// ---------------------------------------------------------------------------------------
// Agreement with OpenSSH (issue 7): what ssh-keygen accepts, rejects, and how we say it
// ---------------------------------------------------------------------------------------

/// `ssh-keygen -l -f` on `text` (written to a file): whether it accepts, and its output.
fn keygen_reads(text: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.pub");
    std::fs::write(&path, text).unwrap();
    keygen_list(&path, "sha256")
        .ok()
        .map(|lines| lines.join("\n"))
}

#[test]
fn ecdsa_point_off_the_curve_is_refused_as_ssh_keygen_does() {
    for which in [ECDSA256, ECDSA384, ECDSA521] {
        let g = gen(which);
        let mut blob = base64_decode(g.data());
        // Flip a bit of the point's last coordinate byte: a one-character typo.
        let last = blob.len() - 1;
        blob[last] ^= 0x04;
        let line = format!("{} {} {COMMENT}", g.key_type(), base64(&blob));
        assert!(
            keygen_reads(line.as_bytes()).is_none(),
            "ssh-keygen took it"
        );
        let err = key::parse(&line).unwrap_err();
        assert!(
            matches!(&err, KeyError::Malformed(why) if why.contains("not on the curve")),
            "{}: {err:?}",
            g.kind
        );
        assert_one_sentence(&err.to_string());
    }
}

#[test]
fn compressed_ecdsa_point_is_refused_as_ssh_keygen_does() {
    let g = gen(ECDSA256);
    let blob = base64_decode(g.data());
    // type, curve, then the 65-byte point 04 || x || y: keep x, tag by y's parity.
    let point_at = blob.len() - 65;
    let (x, y) = (&blob[point_at + 1..point_at + 33], &blob[point_at + 33..]);
    let mut compressed = blob[..point_at - 4].to_vec();
    let mut point = vec![2 + (y[31] & 1)];
    point.extend_from_slice(x);
    wire_string(&mut compressed, &point);
    let line = format!("{} {}", g.key_type(), base64(&compressed));
    assert!(
        keygen_reads(line.as_bytes()).is_none(),
        "ssh-keygen took it"
    );
    let err = key::parse(&line).unwrap_err();
    assert!(
        matches!(&err, KeyError::Malformed(why) if why.contains("compressed")),
        "{err:?}"
    );
}

#[test]
fn rsa_over_16384_bits_is_refused_as_ssh_keygen_does() {
    let line = format!("ssh-rsa {}", base64(&rsa_blob(16384 + 8)));
    assert!(
        keygen_reads(line.as_bytes()).is_none(),
        "ssh-keygen took it"
    );
    let msg = assert_refused(&line, KeyError::RsaTooLarge(16384 + 8));
    assert!(msg.contains("16384"), "{msg}");
    // The largest OpenSSH reads is still a key.
    let line = format!("ssh-rsa {}", base64(&rsa_blob(16384)));
    assert!(keygen_reads(line.as_bytes()).is_some());
    assert_eq!(parse_ok(&line).bits, Some(16384));
}

#[test]
fn rsa_sha2_type_words_and_upper_case_options_are_read_as_sshd_reads_them() {
    let g = gen(RSA2048);
    for word in ["rsa-sha2-512", "rsa-sha2-256"] {
        let line = format!("{word} {} {COMMENT}", g.data());
        assert!(
            keygen_reads(line.as_bytes()).is_some(),
            "ssh-keygen refused {word}"
        );
        let k = parse_ok(&line);
        assert_same_key(&k, g, &line);
        assert_eq!(k.canonical(), g.public);
    }
    let e = gen(ED25519);
    for options in ["NO-PTY", "Restrict,Port-Forwarding", "RESTRICT"] {
        let k = parse_ok(&format!("{options} {}", e.public));
        assert_eq!(k.pasted_options.as_deref(), Some(options));
        assert_eq!(k.canonical(), e.public);
    }
}

#[test]
fn latin1_comment_is_read_as_ssh_keygen_reads_it() {
    let g = gen(ED25519);
    let mut bytes = g.public.as_bytes().to_vec();
    bytes.extend_from_slice(b" caf\xe9");
    let listed = keygen_reads(&bytes).expect("ssh-keygen refused a Latin-1 comment");
    assert!(listed.contains(&g.fingerprint));
    let text = read_ok(&bytes[..]).expect("refused a Latin-1 comment");
    let k = parse_ok(&text);
    assert_same_key(&k, g, &text);
    assert_eq!(k.comment, "vendor@example.com café");
    assert!(keygen_reads(k.canonical().as_bytes()).is_some());
}

#[test]
fn certificates_are_named_with_what_to_ask_for() {
    let dir = tempfile::tempdir().unwrap();
    assert!(keygen(dir.path(), "ed25519", None, &[]));
    run(Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(dir.path().join("key"))
        .args(["-I", "vendor", "-n", "whaly"])
        .arg(dir.path().join("key.pub")));
    let cert = std::fs::read_to_string(dir.path().join("key-cert.pub")).unwrap();
    let msg = assert_refused(&cert, KeyError::Certificate("ssh-ed25519".into()));
    assert!(
        msg.contains("certificate") && msg.contains("ssh-ed25519"),
        "{msg}"
    );
    assert!(msg.contains("plain public key"), "{msg}");
    // Even with only the type word and a scrap of data.
    assert_refused(
        "ssh-rsa-cert-v01@openssh.com AAAA",
        KeyError::Certificate("ssh-rsa".into()),
    );
}

#[test]
fn encoding_accidents_are_named() {
    let g = gen(ED25519);
    let bom = format!("\u{feff}{}", g.public);
    assert!(keygen_reads(bom.as_bytes()).is_none());
    assert_refused(&bom, KeyError::ByteOrderMark);
    let utf16: Vec<u8> = g
        .public
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    assert_eq!(read_ok(&utf16[..]), Err(KeyError::Utf16));
    let mut with_bom = vec![0xff, 0xfe];
    with_bom.extend_from_slice(&utf16);
    assert_eq!(read_ok(&with_bom[..]), Err(KeyError::Utf16));
    assert_one_sentence(&KeyError::Utf16.to_string());
    let (t, d) = (g.key_type(), g.data());
    let zw = format!("{t} {}\u{200b}{} {COMMENT}", &d[..30], &d[30..]);
    let msg = assert_refused(&zw, KeyError::InvisibleCharacter(0x200b));
    assert!(msg.contains("zero-width space"), "{msg}");
    assert_refused(&format!("\"{}\"", g.public), KeyError::Quoted);
    assert_refused(&format!("'{}'", g.public), KeyError::Quoted);
    assert_refused(&format!("\u{201c}{}\u{201d}", g.public), KeyError::Quoted);
    let r = gen(RSA2048);
    let json = serde_json::to_string(&format!("{}\n", r.public)).unwrap();
    assert!(json.contains("\\n"));
    assert_refused(&json, KeyError::JsonEscaped);
    let slashes = r.public.replace('/', "\\/");
    assert_ne!(slashes, r.public, "the test key needs a / in its data");
    assert_refused(&slashes, KeyError::JsonEscaped);
}

#[test]
fn a_type_word_that_does_not_match_the_data_is_named() {
    let g = gen(ECDSA256);
    let line = format!("ecdsa-sha2-nistp384 {}", g.data());
    assert!(keygen_reads(line.as_bytes()).is_none());
    assert_refused(
        &line,
        KeyError::TypeMismatch {
            word: "ecdsa-sha2-nistp384".into(),
            data: "ecdsa-sha2-nistp256".into(),
        },
    );
}

#[test]
fn putty_public_lines_without_the_private_part_are_named() {
    let g = gen(ED25519);
    let ppk = format!(
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: {COMMENT}\n\
         Public-Lines: 2\n{}\n{}\n",
        &g.data()[..40],
        &g.data()[40..]
    );
    let msg = assert_refused(&ppk, KeyError::PuttyFile);
    assert!(msg.contains("PuTTYgen"), "{msg}");
    let lines_only = format!(
        "Public-Lines: 2\n{}\n{}\n",
        &g.data()[..40],
        &g.data()[40..]
    );
    assert_refused(&lines_only, KeyError::PuttyFile);
}

#[test]
fn options_that_make_a_ca_entry_are_refused_not_dropped() {
    let g = gen(ED25519);
    for (options, name) in [
        ("cert-authority", "cert-authority"),
        ("cert-authority,principals=\"whaly\"", "cert-authority"),
        ("principals=\"a,b\"", "principals"),
        ("restrict,CERT-AUTHORITY", "cert-authority"),
    ] {
        let msg = assert_refused(
            &format!("{options} {}", g.public),
            KeyError::MeaningChangingOption(name.into()),
        );
        assert!(msg.contains(name), "{msg}");
    }
}

/// A key cut short whose comment then completes the wire format would be another key.
#[test]
fn a_key_cut_short_never_borrows_its_comment() {
    let g = gen(ED25519);
    let (t, d) = (g.key_type(), g.data());
    // Cut 5 characters and let a 5-letter comment fill the gap: still 68 characters.
    let cut = format!("{t} {} whaly", &d[..d.len() - 5]);
    let err = key::parse(&cut).expect_err("a cut-short key was completed by its comment");
    assert!(matches!(err, KeyError::Ambiguous(_)), "{err:?}");
    assert_one_sentence(&err.to_string());
    let r = gen(RSA2048);
    let d = r.data();
    let cut = format!(
        "ssh-rsa {} {}  {} {COMMENT}",
        &d[..100],
        &d[100..200],
        &d[200..]
    );
    assert!(matches!(key::parse(&cut), Err(KeyError::Ambiguous(_))));
}

#[test]
fn a_wrapped_line_pasted_twice_is_refused() {
    for which in [ED25519, RSA2048, RSA4096, ECDSA384] {
        let g = gen(which);
        let wrapped = wrap_with(&g.public, 40, "\n");
        let lines: Vec<&str> = wrapped.lines().collect();
        for twice in 1..lines.len() {
            let mut doubled = lines.clone();
            doubled.insert(twice, lines[twice]);
            let input = doubled.join("\n");
            // Never another key, and never key data in the comment; a doubled comment
            // line is only a longer comment.
            match key::parse(&input) {
                Ok(k) => assert!(
                    k.data == g.data()
                        && !k.comment.split_whitespace().any(|w| g.data().contains(w)),
                    "{}: line {twice} twice gave {:?}",
                    g.kind,
                    k.canonical()
                ),
                Err(e) => assert_one_sentence(&e.to_string()),
            }
        }
    }
}

#[test]
fn a_comment_wrapped_at_a_space_keeps_the_space() {
    let dir = tempfile::tempdir().unwrap();
    assert!(keygen(dir.path(), "rsa", Some(2048), &[]));
    let public = std::fs::read_to_string(dir.path().join("key.pub")).unwrap();
    let data = public.split(' ').nth(1).unwrap();
    let line = format!("ssh-rsa {data} whaly rsakey");
    let listed = keygen_reads(line.as_bytes()).unwrap();
    assert!(listed.contains(" whaly rsakey (RSA)"), "{listed}");
    // Hard wrap at 64 with the break just after the space, and a word wrap that put the
    // break in the place of the space.
    let hard = wrap_with(&format!("ssh-rsa {data} whaly "), 64, "\n");
    let soft = format!("ssh-rsa\n{}\nwhaly\nrsakey", wrap_with(data, 64, "\n"));
    for input in [format!("{hard}rsakey"), soft] {
        let k = parse_ok(&input);
        assert_eq!(k.comment, "whaly rsakey", "{input:?}");
        assert_eq!(k.data, data);
    }
}

/// A whole e-mail pasted around the key: the refusal says to paste only the key, and
/// names where it starts.
#[test]
fn a_key_inside_other_text_is_pointed_at() {
    let public = &gen(0).public;
    let mail = format!("Hi, here is our key for the tunnel:\n{public}\nThanks, Whaly");
    let err = key::parse(&mail).unwrap_err();
    assert_eq!(err, KeyError::KeyInsideText(gen(0).key_type().into()));
    assert!(err.to_string().contains("Paste only the key"), "{err}");
    // A word that merely looks odd, with no key after it, is still an unknown type.
    assert!(matches!(
        key::parse("hello world"),
        Err(KeyError::UnknownType(_))
    ));
}
