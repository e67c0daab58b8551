//! Key intake: turn whatever a person pasted (or put in a file) into one canonical
//! authorized_keys key, or one clear sentence saying why not.
//!
//! Keys arrive by email, wrapped at odd places, with CRLF, in RFC4716 form. The SSH wire
//! format inside the base64 says where the key data ends; where the text around it leaves
//! room for two readings (a key cut short, a line pasted twice) the key is refused rather
//! than guessed. The key material is checked as OpenSSH checks it, so nothing is installed
//! that sshd would skip.

mod openssh;
mod rfc4716;

use std::fmt;
use std::io::Read;

use base64ct::{Base64, Encoding};
use ssh_encoding::Decode;
use ssh_key::public::KeyData;
use ssh_key::HashAlg;

pub use openssh::split_options;

/// Largest accepted input. Real public keys are under 2 KiB; anything near this is a mistake.
pub const MAX_INPUT: usize = 64 * 1024;
/// RSA below this is refused (OpenSSH's own minimum is 1024; vendors use 2048+).
pub const MIN_RSA_BITS: u32 = 2048;
/// OpenSSH refuses larger RSA moduli (OPENSSL_RSA_MAX_MODULUS_BITS).
pub const MAX_RSA_BITS: u32 = 16384;

/// Key types sshd accepts in authorized_keys that we are willing to install.
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];
/// Type words sshd also reads as an RSA key (signature algorithm names).
const RSA_ALIASES: &[&str] = &["rsa-sha2-256", "rsa-sha2-512"];
/// Recognised only to refuse them with a precise reason.
const REFUSED_TYPES: &[&str] = &["ssh-dss"];
const CERT_SUFFIX: &str = "-cert-v01@openssh.com";
/// Starts of every key type name sshd reads in authorized_keys, for `looks_like_key_type`.
const KEY_TYPE_PREFIXES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-",
    "sk-ssh-",
    "sk-ecdsa-",
    "rsa-sha2-",
];

/// A validated public key, ready to be written as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub algorithm: String,
    /// Base64 of the key blob as given: the identity used to match authorized_keys lines.
    pub data: String,
    pub comment: String,
    pub bits: Option<u32>,
    /// `SHA256:...`, as `ssh-keygen -lf` prints it, to compare with the vendor's email.
    pub fingerprint: String,
    pub line_breaks_removed: usize,
    /// Options that stood before the key in the input; replaced by our own when installed.
    pub pasted_options: Option<String>,
    pub was_rfc4716: bool,
}

impl Key {
    /// `type base64 [comment]`, without options.
    pub fn canonical(&self) -> String {
        if self.comment.is_empty() {
            format!("{} {}", self.algorithm, self.data)
        } else {
            format!("{} {} {}", self.algorithm, self.data, self.comment)
        }
    }

    /// Short human description: `ED25519`, `RSA 4096`, ...
    pub fn describe(&self) -> String {
        let name = match self.algorithm.as_str() {
            "ssh-ed25519" => "ED25519",
            "ssh-rsa" => "RSA",
            "sk-ssh-ed25519@openssh.com" => "ED25519-SK",
            "sk-ecdsa-sha2-nistp256@openssh.com" => "ECDSA-SK",
            _ => "ECDSA",
        };
        match self.bits {
            Some(bits) => format!("{name} {bits}"),
            None => name.to_string(),
        }
    }
}

/// Why a key was refused. Each displays as one sentence a newcomer can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    Empty,
    TooLarge,
    NotText,
    /// Never carries the input: private key material is not echoed anywhere.
    PrivateKey,
    MultipleKeys,
    /// The comment or pasted options hold control characters (terminal escapes, say).
    /// Never carries the text: it would reach a terminal.
    ControlCharacters,
    Dsa,
    RsaTooSmall(u32),
    RsaTooLarge(u32),
    PemPublicKey,
    UnknownType(String),
    /// Other text stands before the key (a whole e-mail was pasted): the key's type word.
    KeyInsideText(String),
    Malformed(String),
    /// An OpenSSH certificate; carries the plain key type it was made from.
    Certificate(String),
    /// The type word names one key type, the key data holds another.
    TypeMismatch {
        word: String,
        data: String,
    },
    ByteOrderMark,
    Utf16,
    /// An invisible character (zero-width space, ...), as its code point.
    InvisibleCharacter(u32),
    Quoted,
    JsonEscaped,
    /// Part of a PuTTY private key file (`Public-Lines:`), without its private part.
    PuttyFile,
    /// Pasted options that make the line something other than a login key.
    MeaningChangingOption(String),
    /// The text allows two readings of where the key data ends.
    Ambiguous(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Empty => write!(f, "No key given: paste the public key the vendor sent (it starts with ssh-ed25519, ssh-rsa or ecdsa-sha2-)."),
            KeyError::TooLarge => write!(f, "The input is larger than 64 KiB, far too large for a public key: check that you chose the right file."),
            KeyError::NotText => write!(f, "The input is not text: a public key is a line of text starting with ssh-ed25519, ssh-rsa or ecdsa-sha2-."),
            KeyError::PrivateKey => write!(f, "This is a PRIVATE key and was refused without being shown or kept: paste the PUBLIC key the vendor sent, and treat this private key as exposed."),
            KeyError::MultipleKeys => write!(f, "The input holds more than one key: give exactly one public key at a time."),
            KeyError::ControlCharacters => write!(f, "The key's comment or options contain control characters (terminal escape sequences or direction overrides): copy the key again as plain text."),
            KeyError::Dsa => write!(f, "DSA (ssh-dss) keys are insecure and disabled in OpenSSH 7.0 and later: ask the vendor for an ed25519 or RSA key."),
            KeyError::RsaTooSmall(bits) => write!(f, "This RSA key has only {bits} bits; at least {MIN_RSA_BITS} are required: ask the vendor for a stronger key."),
            KeyError::RsaTooLarge(bits) => write!(f, "This RSA key has {bits} bits, more than the {MAX_RSA_BITS} OpenSSH accepts, so sshd would ignore it: ask the vendor for a key of 4096 bits or an ed25519 key."),
            KeyError::PemPublicKey => write!(f, "This is a PEM public key, not OpenSSH format: convert it with `ssh-keygen -i -m PKCS8 -f FILE` and use the result."),
            KeyError::UnknownType(t) if t.is_empty() => write!(f, "This does not start with a known key type: expected ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521."),
            KeyError::KeyInsideText(t) => write!(f, "This is more than the key: other text stands before it. Paste only the key, from \"{t}\" to the end of the key (the comment after it may stay)."),
            KeyError::UnknownType(t) => write!(f, "\"{}\" is not a key type: a public key starts with ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521.", shorten(t, 40)),
            KeyError::Malformed(why) => write!(f, "The key data is damaged ({why}): copy the whole key again from the vendor's message."),
            KeyError::Certificate(plain) => write!(f, "This is an OpenSSH certificate ({plain}{CERT_SUFFIX}), a signed key that expires, not a public key: ask the vendor for the plain public key it was made from, the line starting with {plain} (their .pub file without -cert)."),
            KeyError::TypeMismatch { word, data } => write!(f, "The line says {} but its key data is a {} key, so sshd would ignore it: copy the whole line again from the vendor's message.", shorten(word, 40), shorten(data, 40)),
            KeyError::ByteOrderMark => write!(f, "The input starts with an invisible byte-order mark (BOM), which some Windows editors add and OpenSSH does not read: save the file as UTF-8 without BOM, or copy only the key text."),
            KeyError::Utf16 => write!(f, "The file is UTF-16 text (Windows Notepad's \"Unicode\"), which OpenSSH does not read: save it as UTF-8 or ANSI, or copy the key text from it."),
            KeyError::InvisibleCharacter(c) => write!(f, "The key contains an invisible character (U+{c:04X}, {}), which chat and word-processing programs insert: copy the key again from a plain-text source such as the .pub file.", invisible_name(*c)),
            KeyError::Quoted => write!(f, "The key is wrapped in quotes: paste it without the quote marks around it."),
            KeyError::JsonEscaped => write!(f, "The key is JSON-escaped (it contains \\/, \\n or \\\" where a key has / or line breaks): copy it from the original message, not from JSON or program source."),
            KeyError::PuttyFile => write!(f, "These are the public lines of a PuTTY .ppk file, not an OpenSSH public key: in PuTTYgen, load the key and copy the box \"Public key for pasting into OpenSSH authorized_keys file\"."),
            KeyError::MeaningChangingOption(option) => write!(f, "The pasted line carries the option {option}, which makes it a certificate-authority entry rather than a login key: if the vendor logs in with certificates, ask them how, otherwise paste the key without options."),
            KeyError::Ambiguous(why) => write!(f, "It is unclear where the key data ends ({why}): copy the key again as one line, or compare the fingerprint with the vendor's."),
        }
    }
}

impl std::error::Error for KeyError {}

fn invisible_name(c: u32) -> &'static str {
    match c {
        0x200B => "zero-width space",
        0x200C => "zero-width non-joiner",
        0x200D => "zero-width joiner",
        0x2060 => "word joiner",
        0xFEFF => "zero-width no-break space",
        0x00AD => "soft hyphen",
        _ => "invisible",
    }
}

/// Reads at most `MAX_INPUT + 1` bytes, so an endless or huge stream costs no memory.
/// Text that is not UTF-8 is read as Latin-1, as ssh-keygen takes a comment's bytes as
/// they are; UTF-16 and binary files are refused.
pub fn read_input(reader: impl Read) -> std::io::Result<Result<String, KeyError>> {
    let mut buf = Vec::new();
    reader.take(MAX_INPUT as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > MAX_INPUT {
        return Ok(Err(KeyError::TooLarge));
    }
    if buf.starts_with(&[0xFF, 0xFE]) || buf.starts_with(&[0xFE, 0xFF]) || looks_utf16(&buf) {
        return Ok(Err(KeyError::Utf16));
    }
    Ok(match String::from_utf8(buf) {
        Ok(text) => Ok(text),
        Err(e) if e.as_bytes().contains(&0) => Err(KeyError::NotText),
        Err(e) => Ok(e.as_bytes().iter().map(|b| char::from(*b)).collect()),
    })
}

/// UTF-16 without a BOM: ASCII text with a NUL beside every character.
fn looks_utf16(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(64)];
    sample.len() >= 8
        && (sample.iter().step_by(2).all(|b| *b == 0)
            || sample.iter().skip(1).step_by(2).all(|b| *b == 0))
}

/// The whole intake: one key, canonical, or the reason it was refused.
pub fn parse(input: &str) -> Result<Key, KeyError> {
    if input.len() > MAX_INPUT {
        return Err(KeyError::TooLarge);
    }
    if looks_private(input) {
        return Err(KeyError::PrivateKey);
    }
    if input.contains("PuTTY-User-Key-File") || input.contains("Public-Lines:") {
        return Err(KeyError::PuttyFile);
    }
    if input.starts_with('\u{FEFF}') {
        return Err(KeyError::ByteOrderMark);
    }
    if input.contains('\0') && looks_utf16(input.as_bytes()) {
        return Err(KeyError::Utf16);
    }
    if let Some(c) = input.chars().find(|c| {
        matches!(
            c,
            '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
        )
    }) {
        return Err(KeyError::InvisibleCharacter(c as u32));
    }
    let text = input.replace("\r\n", "\n").replace('\r', "\n");
    let text = text.trim_matches(|c: char| c.is_whitespace());
    if text.is_empty() {
        return Err(KeyError::Empty);
    }
    // JSON escapes inside the type or key data, or a JSON string's line break at the
    // end; a comment may hold backslashes of its own.
    let escaped = |w: &str| ["\\n", "\\/", "\\r", "\\u00"].iter().any(|e| w.contains(e));
    let words = text.split_whitespace().count();
    if text.split_whitespace().take(3).any(escaped) || (words <= 3 && text.ends_with("\\n")) {
        return Err(KeyError::JsonEscaped);
    }
    if text.starts_with(['"', '\'', '`', '\u{201C}', '\u{2018}']) {
        return Err(if text.contains("\\\"") {
            KeyError::JsonEscaped
        } else {
            KeyError::Quoted
        });
    }
    if text.contains("-----BEGIN") {
        return Err(KeyError::PemPublicKey);
    }
    let line_breaks_removed = text.matches('\n').count();
    if text.contains(rfc4716::BEGIN) {
        return rfc4716::parse(text, line_breaks_removed);
    }
    match openssh::parse(text, line_breaks_removed) {
        Err(KeyError::UnknownType(word)) => Err(
            match text
                .split_whitespace()
                .skip(1)
                .find(|w| KEY_TYPES.contains(w))
            {
                Some(t) => KeyError::KeyInsideText(t.to_string()),
                None => KeyError::UnknownType(word),
            },
        ),
        other => other,
    }
}

/// Private keys in every format we know of, including a bare OpenSSH private body.
fn looks_private(input: &str) -> bool {
    const MARKERS: &[&str] = &[
        "PRIVATE KEY-----",
        "Private-Lines:",
        "BEGIN SSH2 ENCRYPTED PRIVATE KEY",
        "BEGIN SSH2 PRIVATE KEY",
    ];
    if MARKERS.iter().any(|m| input.contains(m)) {
        return true;
    }
    // "openssh-key-v1\0" in base64, even wrapped or without its armour.
    let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    compact.contains("b3BlbnNzaC1rZXktdjE")
}

/// What the key blob holds, checked as OpenSSH checks it.
struct Checked {
    algorithm: String,
    bits: Option<u32>,
    fingerprint: String,
}

/// Decodes the key blob at the start of `bytes`; returns it (RSA integers in canonical
/// form) and how many bytes of `bytes` it took.
fn decode_blob(bytes: &[u8]) -> Result<(KeyData, usize), KeyError> {
    let algorithm = wire_type(bytes)?;
    refuse_type(&algorithm)?;
    let (canonical, used) = if algorithm == "ssh-rsa" {
        canonical_rsa(bytes)?
    } else {
        if algorithm.contains("ecdsa-sha2-") && compressed_point(bytes) {
            return Err(KeyError::Malformed(
                "the ECDSA point is in compressed form, which OpenSSH does not read".into(),
            ));
        }
        (bytes.to_vec(), 0)
    };
    let mut reader = canonical.as_slice();
    let key = KeyData::decode(&mut reader).map_err(|e| match e {
        ssh_key::Error::Encoding(ssh_encoding::Error::Length) => {
            KeyError::Malformed("the key is cut short".into())
        }
        other => KeyError::Malformed(other.to_string()),
    })?;
    let taken = canonical.len() - reader.len();
    Ok((key, if algorithm == "ssh-rsa" { used } else { taken }))
}

/// Refuses certificates, DSA and unknown types by the type inside the key data.
fn refuse_type(algorithm: &str) -> Result<(), KeyError> {
    if let Some(plain) = algorithm.strip_suffix(CERT_SUFFIX) {
        return Err(KeyError::Certificate(plain.to_string()));
    }
    if REFUSED_TYPES.contains(&algorithm) {
        return Err(KeyError::Dsa);
    }
    if !KEY_TYPES.contains(&algorithm) {
        return Err(unknown_type(algorithm));
    }
    Ok(())
}

/// Checks a complete blob as sshd would before using it, against the type word that
/// stood before it.
fn check(word: &str, blob: &[u8]) -> Result<Checked, KeyError> {
    let (key, used) = decode_blob(blob)?;
    if used != blob.len() {
        return Err(KeyError::Malformed("extra bytes after the key".into()));
    }
    let algorithm = key.algorithm().as_str().to_string();
    let word_means = if RSA_ALIASES.contains(&word) {
        "ssh-rsa"
    } else {
        word
    };
    if word_means != algorithm {
        return Err(KeyError::TypeMismatch {
            word: word.to_string(),
            data: algorithm,
        });
    }
    let bits = match &key {
        KeyData::Rsa(rsa) => {
            let bits = rsa.n.as_positive_bytes().map(bit_length).unwrap_or(0);
            if bits < MIN_RSA_BITS {
                return Err(KeyError::RsaTooSmall(bits));
            }
            if bits > MAX_RSA_BITS {
                return Err(KeyError::RsaTooLarge(bits));
            }
            Some(bits)
        }
        KeyData::Ecdsa(ec) => {
            on_curve(ec)?;
            Some(match ec.curve() {
                ssh_key::EcdsaCurve::NistP256 => 256,
                ssh_key::EcdsaCurve::NistP384 => 384,
                ssh_key::EcdsaCurve::NistP521 => 521,
            })
        }
        KeyData::SkEcdsaSha2NistP256(sk) => {
            if p256::PublicKey::from_sec1_bytes(sk.ec_point().as_bytes()).is_err() {
                return Err(not_on_curve());
            }
            None
        }
        KeyData::Dsa(_) => return Err(KeyError::Dsa),
        _ => None,
    };
    Ok(Checked {
        algorithm,
        bits,
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
    })
}

/// What an existing authorized_keys line's key is, for `keys`: read leniently (an old
/// DSA or 1024-bit RSA key is still listed with its fingerprint), with why sshd would
/// not log in with it, when it would not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    /// The type inside the key data (`ssh-rsa` for a line typed `rsa-sha2-512`); the
    /// line's own type word when the data cannot be read.
    pub algorithm: String,
    pub bits: Option<u32>,
    /// `SHA256:...` as `ssh-keygen -l` prints it; `None` when the data is not a key.
    pub fingerprint: Option<String>,
    /// Why sshd would skip the line, in one sentence.
    pub rejected: Option<String>,
}

/// Below this sshd refuses an RSA key (`RequiredRSASize`, default 1024 since OpenSSH 9.1).
pub const SSHD_MIN_RSA_BITS: u32 = 1024;

/// Facts about the key data `data` written after the type word `word`.
pub fn facts(word: &str, data: &str) -> KeyFacts {
    let unreadable = |why: String| KeyFacts {
        algorithm: word.to_string(),
        bits: None,
        fingerprint: None,
        rejected: Some(why),
    };
    let Some(blob) = identity(data) else {
        return unreadable("its key data is not a key sshd can read".into());
    };
    let mut reader = blob.as_slice();
    let Ok(key) = KeyData::decode(&mut reader) else {
        return unreadable("its key data is not a key sshd can read".into());
    };
    let algorithm = key.algorithm().as_str().to_string();
    let fingerprint = Some(key.fingerprint(HashAlg::Sha256).to_string());
    let raw = Base64::decode_vec(data).unwrap_or_default();
    let (bits, rejected) = match check(word, &raw) {
        Ok(checked) => (checked.bits, None),
        Err(KeyError::RsaTooSmall(bits)) if bits >= SSHD_MIN_RSA_BITS => (Some(bits), None),
        Err(KeyError::RsaTooSmall(bits)) => (
            Some(bits),
            Some(format!(
                "sshd refuses RSA keys under {SSHD_MIN_RSA_BITS} bits (this one has {bits})"
            )),
        ),
        Err(KeyError::RsaTooLarge(bits)) => (
            Some(bits),
            Some(format!("sshd refuses RSA keys over {MAX_RSA_BITS} bits")),
        ),
        Err(KeyError::Dsa) => (
            None,
            Some("DSA keys are disabled in OpenSSH 7.0 and later".into()),
        ),
        Err(KeyError::TypeMismatch { word, data }) => (
            None,
            Some(format!("the line says {word} but its key data is {data}")),
        ),
        Err(KeyError::Certificate(_)) => (None, None),
        Err(other) => (None, Some(other.to_string())),
    };
    KeyFacts {
        algorithm,
        bits,
        fingerprint,
        rejected,
    }
}

fn not_on_curve() -> KeyError {
    KeyError::Malformed("the ECDSA point is not on the curve".into())
}

/// OpenSSH refuses a point that is not on its curve (a one-character typo makes one).
fn on_curve(ec: &ssh_key::public::EcdsaPublicKey) -> Result<(), KeyError> {
    let bytes = ec.as_sec1_bytes();
    let ok = match ec.curve() {
        ssh_key::EcdsaCurve::NistP256 => p256::PublicKey::from_sec1_bytes(bytes).is_ok(),
        ssh_key::EcdsaCurve::NistP384 => p384::PublicKey::from_sec1_bytes(bytes).is_ok(),
        ssh_key::EcdsaCurve::NistP521 => p521::PublicKey::from_sec1_bytes(bytes).is_ok(),
    };
    ok.then_some(()).ok_or_else(not_on_curve)
}

fn compressed_point(blob: &[u8]) -> bool {
    let mut reader = blob;
    let point = (|| {
        String::decode(&mut reader).ok()?;
        String::decode(&mut reader).ok()?;
        Vec::<u8>::decode(&mut reader).ok()
    })();
    point.is_some_and(|p| matches!(p.first(), Some(2 | 3)))
}

/// An RSA blob with redundant leading zeros in its integers (which sshd accepts and
/// strips) rewritten canonically; with the length of the original.
fn canonical_rsa(bytes: &[u8]) -> Result<(Vec<u8>, usize), KeyError> {
    let mut reader = bytes;
    let cut = || KeyError::Malformed("the key is cut short".into());
    let name = Vec::<u8>::decode(&mut reader).map_err(|_| cut())?;
    let e = Vec::<u8>::decode(&mut reader).map_err(|_| cut())?;
    let n = Vec::<u8>::decode(&mut reader).map_err(|_| cut())?;
    let used = bytes.len() - reader.len();
    let mut out = Vec::with_capacity(used);
    for field in [name, mpint(&e), mpint(&n)] {
        out.extend_from_slice(&(field.len() as u32).to_be_bytes());
        out.extend_from_slice(&field);
    }
    Ok((out, used))
}

/// Minimal mpint form: one zero byte only where the high bit would read as negative.
fn mpint(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let mut out = Vec::with_capacity(bytes.len() - start + 1);
    if bytes.get(start).is_some_and(|b| b & 0x80 != 0) {
        out.push(0);
    }
    out.extend_from_slice(&bytes[start..]);
    out
}

/// The key as sshd compares keys: the blob with RSA integers canonical. `None` when the
/// data is not a key sshd would read.
pub fn identity(data: &str) -> Option<Vec<u8>> {
    let blob = Base64::decode_vec(data).ok()?;
    let algorithm = wire_type(&blob).ok()?;
    if algorithm == "ssh-rsa" {
        let (canonical, used) = canonical_rsa(&blob).ok()?;
        return (used == blob.len()).then_some(canonical);
    }
    Some(blob)
}

fn bit_length(bytes: &[u8]) -> u32 {
    let bytes = match bytes.iter().position(|b| *b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    (bytes.len() as u32 - 1) * 8 + (8 - bytes[0].leading_zeros())
}

fn wire_type(blob: &[u8]) -> Result<String, KeyError> {
    let mut reader = blob;
    let name = Vec::<u8>::decode(&mut reader)
        .map_err(|_| KeyError::Malformed("the key is cut short".into()))?;
    String::from_utf8(name).map_err(|_| KeyError::Malformed("the key type is not text".into()))
}

/// `UnknownType`, carrying the word only when it looks like a type name: whatever else
/// was pasted (a private key body without its armour, say) is never echoed or kept.
fn unknown_type(word: &str) -> KeyError {
    let plausible = word.len() <= 64
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-@._".contains(c));
    KeyError::UnknownType(if plausible {
        word.to_string()
    } else {
        String::new()
    })
}

/// A key type of our own list (what we install, and DSA, which we refuse by name).
pub fn is_key_type(word: &str) -> bool {
    KEY_TYPES.contains(&word) || REFUSED_TYPES.contains(&word)
}

/// A type word sshd reads before key data: ours, `rsa-sha2-256/512` for RSA, certificates.
fn is_type_word(word: &str) -> bool {
    is_key_type(word) || RSA_ALIASES.contains(&word) || is_certificate_type(word)
}

fn is_certificate_type(word: &str) -> bool {
    word.strip_suffix(CERT_SUFFIX)
        .is_some_and(|plain| KEY_TYPES.contains(&plain) || REFUSED_TYPES.contains(&plain))
}

/// Whether `word` names a key type sshd may read in authorized_keys, ours or not
/// (certificates, DSA, `rsa-sha2-512`, ...). Strict enough that comment words such as
/// `ssh-key-for-bob` do not qualify.
pub fn looks_like_key_type(word: &str) -> bool {
    word.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-@._".contains(&b))
        && (KEY_TYPE_PREFIXES.iter().any(|p| word.starts_with(p)) || word.contains(CERT_SUFFIX))
}

/// Control characters other than tab and line feed (which are blanks and line breaks),
/// and the bidirectional overrides that make a comment display differently from what it is.
fn has_control(s: &str) -> bool {
    s.chars().any(hidden)
}

fn hidden(c: char) -> bool {
    (c.is_control() && c != '\t' && c != '\n')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Text from a file someone else controls (an authorized_keys comment or option), made
/// safe to print on root's terminal: each character `has_control` refuses is shown
/// escaped (`\u{1b}`), so none can move the cursor, erase a line or reorder what is read.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if hidden(c) || c == '\n' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Standard base64 with padding, as key data is written in authorized_keys.
pub fn encode_base64(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}
