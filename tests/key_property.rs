//! Key intake and merge against OpenSSH, as a property test with a seeded generator and
//! `ssh-keygen` as the oracle:
//! - every wrapping width, indentation, CRLF and RFC4716 form of a key gives its canonical
//!   line;
//! - that line's fingerprint and comment are what `ssh-keygen -l -f` prints for it;
//! - every line we write is accepted by `ssh-keygen -l -f`;
//! - merging never drops or alters a line that holds other key data.
//!
//! Keys are generated once per run (one of each accepted type); ssh-keygen is then run
//! once on a file of every line written. `KEY_PROPERTY_SEED` replays a failing run.

use std::path::Path;

use bastion_wizard::authorized_keys::{merge, parse_line, Access, Merge};
use bastion_wizard::key;

mod common;

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

struct Pooled {
    /// `type data` from the .pub file.
    public: String,
    /// `ssh-keygen -e` of the .pub file.
    rfc4716: String,
}

const SPECS: &[(&str, &str)] = &[
    ("ed25519", "256"),
    ("ecdsa", "256"),
    ("ecdsa", "384"),
    ("ecdsa", "521"),
    ("rsa", "2048"),
    ("rsa", "3072"),
    ("rsa", "4096"),
];

fn pool(dir: &Path) -> Vec<Pooled> {
    let handles: Vec<_> = SPECS
        .iter()
        .enumerate()
        .map(|(n, (kind, bits))| {
            let dir = dir.to_path_buf();
            std::thread::spawn(move || {
                let (private, public) =
                    common::try_keygen(&dir, &format!("k{n}"), "", &[kind, "-b", bits])
                        .unwrap_or_else(|e| panic!("ssh-keygen -t {kind} -b {bits}: {e}"));
                let rfc4716 = common::keygen_export(&common::public_path(&private), "RFC4716")
                    .unwrap_or_else(|e| panic!("ssh-keygen -e: {e}"));
                Pooled {
                    public: public
                        .split_whitespace()
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" "),
                    rfc4716,
                }
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// A comment as vendors write them: words of letters, digits and `@.-_`, one space apart.
fn comment(rng: &mut Rng) -> String {
    const WORDS: &[&str] = &[
        "whaly",
        "rsakey",
        "vendor@example.com",
        "prod",
        "connector-2",
        "key_for",
        "tunnel",
        "dbt.cloud",
        "a",
        "Z9",
    ];
    (0..rng.below(4))
        .map(|_| *rng.pick(WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Hard wrap at `width` characters (no character lost), each line indented, joined by
/// `sep`, with blank lines around.
fn wrapped(line: &str, width: usize, indent: &str, sep: &str) -> String {
    let body: Vec<String> = common::wrap_lines(line, width)
        .iter()
        .map(|l| format!("{indent}{l}"))
        .collect();
    format!("{sep}{}{sep}", body.join(sep))
}

#[test]
fn intake_and_merge_agree_with_ssh_keygen() {
    let seed = std::env::var("KEY_PROPERTY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2026_u64 ^ std::process::id() as u64)
        | 1;
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let keys = pool(dir.path());
    // Every line we would write, and what ssh-keygen must say of it.
    let mut written = Vec::new();
    for pooled in &keys {
        let canonical = {
            let c = comment(&mut rng);
            if c.is_empty() {
                pooled.public.clone()
            } else {
                format!("{} {c}", pooled.public)
            }
        };
        let reference = key::parse(&canonical)
            .unwrap_or_else(|e| panic!("seed {seed}: {canonical:?} refused: {e}"));
        assert_eq!(reference.canonical(), canonical, "seed {seed}");
        let lines = canonical.chars().count();
        for width in 1..=lines {
            let sep = *rng.pick(&["\n", "\r\n", "\r"]);
            let breaks = lines.div_ceil(width);
            // With one continuation line, indentation cannot be told from a space
            // that the wrap put at the start of that line.
            let indent = if breaks >= 3 {
                *rng.pick(&["", " ", "  ", "\t", "    "])
            } else {
                ""
            };
            let input = wrapped(&canonical, width, indent, sep);
            match key::parse(&input) {
                Ok(k) => assert_eq!(
                    k.canonical(),
                    canonical,
                    "seed {seed}, width {width}, input {input:?}"
                ),
                Err(e) => panic!("seed {seed}, width {width}: {e}; input {input:?}"),
            }
        }
        let k = key::parse(&pooled.rfc4716).unwrap();
        assert_eq!(k.algorithm, reference.algorithm);
        assert_eq!(k.data, reference.data);
        assert_eq!(k.fingerprint, reference.fingerprint);
        let crlf = pooled.rfc4716.replace('\n', "\r\n");
        assert_eq!(key::parse(&crlf).unwrap().data, reference.data);
        for access in [
            Access::default(),
            Access {
                allow_shell: false,
                permit_open: vec!["db.internal:5432".parse().unwrap()],
                ..Access::default()
            },
        ] {
            written.push((access.line_for(&reference), reference.clone()));
        }
        written.push((k.canonical(), k));
    }
    let file = dir.path().join("written");
    let text: String = written.iter().map(|(l, _)| format!("{l}\n")).collect();
    std::fs::write(&file, text).unwrap();
    let listed = common::keygen_list(&file, "sha256")
        .unwrap_or_else(|e| panic!("ssh-keygen -l refused a line we wrote: {e}"));
    assert_eq!(listed.len(), written.len(), "seed {seed}");
    for ((line, k), out) in written.iter().zip(&listed) {
        let comment = if k.comment.is_empty() {
            "no comment"
        } else {
            &k.comment
        };
        // ssh-keygen -l reports the options of a line without comment as its comment.
        let expected = if line.starts_with(&k.algorithm) {
            format!("{} {comment} (", k.fingerprint)
        } else {
            format!("{} ", k.fingerprint)
        };
        assert!(
            out.contains(&expected),
            "seed {seed}: ssh-keygen says {out:?} of {line:?}, we say {expected:?}"
        );
    }
    merge_keeps_other_keys(&mut rng, &keys, seed);
}

/// Files of other keys' lines (options, comments, CRLF, `#` and blank lines), merged
/// with one key: every line with other key data comes out unchanged and in order.
fn merge_keeps_other_keys(rng: &mut Rng, keys: &[Pooled], seed: u64) {
    const OPTIONS: &[&str] = &[
        "",
        "restrict ",
        "cert-authority ",
        "from=\"10.0.0.1\",command=\"echo \\\"a b\\\" # x\" ",
        "NO-PTY ",
    ];
    for _ in 0..200 {
        let vendor = key::parse(&rng.pick(keys).public).unwrap();
        let mut raw_lines = Vec::new();
        for _ in 0..rng.below(8) {
            let other = rng.pick(keys);
            let line = match rng.below(6) {
                0 => "# a note".to_string(),
                1 => String::new(),
                _ => format!("{}{} {}", rng.pick(OPTIONS), other.public, comment(rng)),
            };
            let end = *rng.pick(&["\n", "\r\n"]);
            raw_lines.push(format!("{line}{end}"));
        }
        let existing: String = raw_lines.concat();
        let line = Access::default().line_for(&vendor);
        let out = match merge(existing.as_bytes(), &line, &vendor.data) {
            Merge::Unchanged => existing.clone().into_bytes(),
            Merge::Added(b) | Merge::Updated(b) => b,
        };
        let out = String::from_utf8(out).unwrap();
        let vendor_login = |l: &str| {
            parse_line(l.trim_end_matches(['\r', '\n'])).is_some_and(|e| {
                e.data == vendor.data
                    && !e
                        .options
                        .as_deref()
                        .is_some_and(|o| o.to_ascii_lowercase().contains("cert-authority"))
            })
        };
        let kept: Vec<&str> = raw_lines
            .iter()
            .map(String::as_str)
            .filter(|l| !vendor_login(l))
            .collect();
        let after: Vec<&str> = out
            .split_inclusive('\n')
            .filter(|l| !vendor_login(l))
            .collect();
        assert_eq!(after, kept, "seed {seed}: file {existing:?}");
        assert_eq!(
            out.split_inclusive('\n')
                .filter(|l| vendor_login(l))
                .count(),
            1,
            "seed {seed}: file {existing:?}"
        );
    }
}
