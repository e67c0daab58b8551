//! Key intake: turn whatever a person pasted (or put in a file) into one canonical
//! authorized_keys key, or one clear sentence saying why not.
//!
//! Keys arrive by email, wrapped at odd places, with CRLF, in RFC4716 form. The SSH wire
//! format inside the base64 is self-delimiting, so we decode it to find exactly where the
//! key data ends; a break anywhere (inside the base64, after the type, in the comment)
//! then comes back whole.

use std::fmt;
use std::io::Read;

use ssh_key::public::KeyData;
use ssh_key::{HashAlg, PublicKey};

/// Largest accepted input. Real public keys are under 2 KiB; anything near this is a mistake.
pub const MAX_INPUT: usize = 64 * 1024;
/// RSA below this is refused (OpenSSH's own minimum is 1024; vendors use 2048+).
pub const MIN_RSA_BITS: u32 = 2048;

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
/// Recognised only to refuse them with a precise reason.
const REFUSED_TYPES: &[&str] = &["ssh-dss"];
/// Starts of every key type name sshd reads in authorized_keys (`rsa-sha2-256/512` name
/// an RSA key there too), for `looks_like_key_type`.
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
    /// Base64 of the key blob: the identity used to match authorized_keys lines.
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
    PemPublicKey,
    UnknownType(String),
    Malformed(String),
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
            KeyError::PemPublicKey => write!(f, "This is a PEM public key, not OpenSSH format: convert it with `ssh-keygen -i -m PKCS8 -f FILE` and use the result."),
            KeyError::UnknownType(t) if t.is_empty() => write!(f, "This does not start with a known key type: expected ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521."),
            KeyError::UnknownType(t) => write!(f, "\"{}\" is not a key type: a public key starts with ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521.", shorten(t, 40)),
            KeyError::Malformed(why) => write!(f, "The key data is damaged ({why}): copy the whole key again from the vendor's message."),
        }
    }
}

impl std::error::Error for KeyError {}

/// Reads at most `MAX_INPUT + 1` bytes, so an endless or huge stream costs no memory.
pub fn read_input(reader: impl Read) -> std::io::Result<Result<String, KeyError>> {
    let mut buf = Vec::new();
    reader.take(MAX_INPUT as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > MAX_INPUT {
        return Ok(Err(KeyError::TooLarge));
    }
    Ok(String::from_utf8(buf).map_err(|_| KeyError::NotText))
}

/// The whole intake: one key, canonical, or the reason it was refused.
pub fn parse(input: &str) -> Result<Key, KeyError> {
    if input.len() > MAX_INPUT {
        return Err(KeyError::TooLarge);
    }
    if looks_private(input) {
        return Err(KeyError::PrivateKey);
    }
    let text = input.replace("\r\n", "\n").replace('\r', "\n");
    let text = text.trim_matches(|c: char| c.is_whitespace());
    if text.is_empty() {
        return Err(KeyError::Empty);
    }
    if text.contains("-----BEGIN") {
        return Err(KeyError::PemPublicKey);
    }
    let line_breaks_removed = text.matches('\n').count();
    if text.contains("---- BEGIN SSH2 PUBLIC KEY ----") {
        return parse_rfc4716(text, line_breaks_removed);
    }
    parse_openssh(text, line_breaks_removed)
}

/// Private keys in every format we know of, including a bare OpenSSH private body.
fn looks_private(input: &str) -> bool {
    const MARKERS: &[&str] = &[
        "PRIVATE KEY-----",
        "PuTTY-User-Key-File",
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

fn parse_openssh(text: &str, line_breaks_removed: usize) -> Result<Key, KeyError> {
    let rest = text.trim_start();
    let (first, after_first) = take_type(rest);
    let (pasted_options, algorithm, after_type) = if is_key_type(&first) {
        (None, first, after_first)
    } else if looks_like_options(&first) {
        let (options, after) = split_options(rest);
        let (algorithm, after_type) = take_type(after);
        (Some(options.to_string()), algorithm, after_type)
    } else {
        return Err(unknown_type(&first));
    };
    let algorithm = algorithm.as_str();
    if REFUSED_TYPES.contains(&algorithm) {
        return Err(KeyError::Dsa);
    }
    if !is_key_type(algorithm) {
        return Err(unknown_type(algorithm));
    }
    let (blob, data, tail) = take_blob(after_type)?;
    if holds_a_key(tail) {
        return Err(KeyError::MultipleKeys);
    }
    // Line breaks (email wrapping) and tabs become spaces; any other control character
    // would be echoed to terminals and written into authorized_keys.
    if has_control(tail) || pasted_options.as_deref().is_some_and(has_control) {
        return Err(KeyError::ControlCharacters);
    }
    let comment = join_comment(tail);
    build(
        algorithm,
        &blob,
        data,
        comment,
        line_breaks_removed,
        pasted_options,
        false,
    )
}

fn parse_rfc4716(text: &str, line_breaks_removed: usize) -> Result<Key, KeyError> {
    if text.matches("---- BEGIN SSH2 PUBLIC KEY ----").count() > 1 {
        return Err(KeyError::MultipleKeys);
    }
    let mut lines = text
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("---- BEGIN"));
    lines.next();
    let mut comment = String::new();
    let mut body = String::new();
    let mut continued: Option<String> = None;
    let mut ended = false;
    for line in lines {
        if line.starts_with("---- END SSH2 PUBLIC KEY") {
            ended = true;
            break;
        }
        if let Some(mut header) = continued.take() {
            header.push_str(line.trim_end_matches('\\'));
            if line.ends_with('\\') {
                continued = Some(header);
            } else {
                take_header(&header, &mut comment);
            }
        } else if line.contains(':') && body.is_empty() {
            if line.ends_with('\\') {
                continued = Some(line.trim_end_matches('\\').to_string());
            } else {
                take_header(line, &mut comment);
            }
        } else {
            body.push_str(line);
        }
    }
    if !ended {
        return Err(KeyError::Malformed(
            "the END SSH2 PUBLIC KEY line is missing".into(),
        ));
    }
    // Text around the block is ignored, unless it holds another key.
    let begin = text.find("---- BEGIN SSH2 PUBLIC KEY ----").unwrap_or(0);
    let after_end = text
        .find("---- END SSH2 PUBLIC KEY")
        .and_then(|i| text[i..].split_once('\n'))
        .map_or("", |(_, rest)| rest);
    if holds_a_key(&text[..begin]) || holds_a_key(after_end) {
        return Err(KeyError::MultipleKeys);
    }
    let blob = decode_base64(&body).ok_or_else(|| KeyError::Malformed("invalid base64".into()))?;
    let len = wire_len(&blob)?;
    if len != blob.len() {
        return Err(KeyError::Malformed("extra bytes after the key".into()));
    }
    let algorithm = wire_type(&blob)?;
    if REFUSED_TYPES.contains(&algorithm.as_str()) {
        return Err(KeyError::Dsa);
    }
    if !is_key_type(&algorithm) {
        return Err(unknown_type(&algorithm));
    }
    if has_control(&comment) {
        return Err(KeyError::ControlCharacters);
    }
    let comment = comment.replace('\t', " ");
    let data = encode_base64(&blob);
    build(
        &algorithm,
        &blob,
        data,
        comment,
        line_breaks_removed,
        None,
        true,
    )
}

/// Whether text holds a key: a key type word, then base64 that starts like a key blob
/// (its length prefix always encodes as "AAAA"). A type word alone is just words.
fn holds_a_key(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .any(|w| looks_like_key_type(w[0]) && w[1].starts_with("AAAA"))
}

fn take_header(header: &str, comment: &mut String) {
    if let Some((name, value)) = header.split_once(':') {
        if name.trim().eq_ignore_ascii_case("comment") {
            *comment = value.trim().trim_matches('"').to_string();
        }
    }
}

fn build(
    algorithm: &str,
    blob: &[u8],
    data: String,
    comment: String,
    line_breaks_removed: usize,
    pasted_options: Option<String>,
    was_rfc4716: bool,
) -> Result<Key, KeyError> {
    let line = format!("{algorithm} {data}");
    let public = PublicKey::from_openssh(&line).map_err(|e| KeyError::Malformed(e.to_string()))?;
    if public.algorithm().as_str() != algorithm || wire_type(blob)? != algorithm {
        return Err(KeyError::Malformed(
            "the key type does not match the key data".into(),
        ));
    }
    let bits = match public.key_data() {
        KeyData::Rsa(rsa) => {
            let bits = rsa.n.as_positive_bytes().map(bit_length).unwrap_or(0);
            if bits < MIN_RSA_BITS {
                return Err(KeyError::RsaTooSmall(bits));
            }
            Some(bits)
        }
        KeyData::Ecdsa(ec) => Some(match ec.curve() {
            ssh_key::EcdsaCurve::NistP256 => 256,
            ssh_key::EcdsaCurve::NistP384 => 384,
            ssh_key::EcdsaCurve::NistP521 => 521,
        }),
        KeyData::Dsa(_) => return Err(KeyError::Dsa),
        _ => None,
    };
    Ok(Key {
        algorithm: algorithm.to_string(),
        data,
        comment,
        bits,
        fingerprint: public.fingerprint(HashAlg::Sha256).to_string(),
        line_breaks_removed,
        pasted_options,
        was_rfc4716,
    })
}

fn bit_length(bytes: &[u8]) -> u32 {
    let bytes = match bytes.iter().position(|b| *b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    (bytes.len() as u32 - 1) * 8 + (8 - bytes[0].leading_zeros())
}

/// The key type at the start of `s` (after blanks) and the text after it. A line break
/// inside the type ("ssh-ed2\n5519", from hard wrapping) is joined back.
fn take_type(s: &str) -> (String, &str) {
    let mut word = String::new();
    let mut rest = s.trim_start();
    loop {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        word.push_str(&rest[..end]);
        let after = &rest[end..];
        let next = after.trim_start();
        let gap = &after[..after.len() - next.len()];
        let partial = !is_key_type(&word)
            && KEY_TYPES
                .iter()
                .chain(REFUSED_TYPES)
                .any(|t| t.starts_with(word.as_str()));
        if partial && gap.contains('\n') && !next.is_empty() {
            rest = next;
        } else {
            return (word, after);
        }
    }
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

pub fn is_key_type(word: &str) -> bool {
    KEY_TYPES.contains(&word) || REFUSED_TYPES.contains(&word)
}

/// Whether `word` names a key type sshd may read in authorized_keys, ours or not
/// (certificates, DSA, `rsa-sha2-512`, ...). Strict enough that comment words such as
/// `ssh-key-for-bob` do not qualify.
pub fn looks_like_key_type(word: &str) -> bool {
    word.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-@._".contains(&b))
        && (KEY_TYPE_PREFIXES.iter().any(|p| word.starts_with(p))
            || word.contains("-cert-v01@openssh.com"))
}

/// Control characters other than tab and line feed (which are blanks and line breaks).
/// Control characters, and the bidirectional overrides that make a comment display
/// differently from what it is.
fn has_control(s: &str) -> bool {
    s.chars().any(|c| {
        (c.is_control() && c != '\t' && c != '\n')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    })
}

fn looks_like_options(word: &str) -> bool {
    const FLAGS: &[&str] = &[
        "restrict",
        "no-pty",
        "no-port-forwarding",
        "no-agent-forwarding",
        "no-x11-forwarding",
        "no-user-rc",
        "port-forwarding",
        "pty",
        "agent-forwarding",
        "x11-forwarding",
        "user-rc",
        "cert-authority",
        "no-touch-required",
        "verify-required",
    ];
    word.contains('=') || word.contains(',') || FLAGS.contains(&word)
}

/// Splits `options rest` at the first blank outside double quotes (sshd's own rule).
pub fn split_options(s: &str) -> (&str, &str) {
    // As sshd skips past options: `\"` is skipped whole anywhere, a quote toggles
    // quoting, and only a blank or tab outside quotes ends the options.
    let bytes = s.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if bytes.get(i + 1) == Some(&b'"') => i += 1,
            b'"' => quoted = !quoted,
            b' ' | b'\t' if !quoted => return (&s[..i], &s[i..]),
            _ => {}
        }
        i += 1;
    }
    (s, "")
}

/// Reads base64 across any whitespace until the wire format says the key is complete.
/// Returns the blob, its canonical base64 and the text after it.
fn take_blob(s: &str) -> Result<(Vec<u8>, String, &str), KeyError> {
    let mut chars = String::new();
    let mut ends = Vec::new(); // byte offset in `s` just after each base64 char
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            continue;
        }
        if !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=') {
            break;
        }
        if c != '=' && chars.ends_with('=') {
            break;
        }
        chars.push(c);
        ends.push(i + 1);
    }
    if chars.is_empty() {
        return Err(KeyError::Malformed(
            "the key data after the key type is missing".into(),
        ));
    }
    let usable = chars.len() / 4 * 4;
    let blob = decode_base64(&chars[..usable])
        .ok_or_else(|| KeyError::Malformed("invalid base64".into()))?;
    let len = wire_len(&blob)?;
    let needed = len.div_ceil(3) * 4;
    let data = &chars[..needed];
    let blob = decode_base64(data).ok_or_else(|| KeyError::Malformed("invalid base64".into()))?;
    if blob.len() != len {
        return Err(KeyError::Malformed("invalid base64 padding".into()));
    }
    // Blanks inside the data are joined, so a cut-short key would otherwise borrow the
    // first letters of its comment and come out as a different key.
    let tail = &s[ends[needed - 1]..];
    if !tail.is_empty() && !tail.starts_with(char::is_whitespace) {
        return Err(KeyError::Malformed(
            "the key data is cut short or runs into the comment".into(),
        ));
    }
    Ok((blob, data.to_string(), tail))
}

/// A comment broken by email wrapping is joined back; runs of blanks become one space.
fn join_comment(tail: &str) -> String {
    let joined: String = tail
        .split('\n')
        .map(|l| l.trim_end_matches([' ', '\t']))
        .collect::<Vec<_>>()
        .join("");
    joined.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Number of length-prefixed strings that make up a public key blob of each type.
fn field_count(algorithm: &str) -> Option<usize> {
    Some(match algorithm {
        "ssh-ed25519" => 2,
        "ssh-rsa" | "sk-ssh-ed25519@openssh.com" => 3,
        a if a.starts_with("ecdsa-sha2-") => 3,
        "sk-ecdsa-sha2-nistp256@openssh.com" => 4,
        "ssh-dss" => 5,
        _ => return None,
    })
}

fn wire_type(blob: &[u8]) -> Result<String, KeyError> {
    let (field, _) = wire_field(blob)?;
    String::from_utf8(field.to_vec())
        .map_err(|_| KeyError::Malformed("the key type is not text".into()))
}

/// Total length of the key blob as declared by its own length prefixes.
fn wire_len(blob: &[u8]) -> Result<usize, KeyError> {
    let algorithm = wire_type(blob)?;
    let fields = field_count(&algorithm).ok_or_else(|| unknown_type(&algorithm))?;
    let mut offset = 0;
    for _ in 0..fields {
        let (field, _) = wire_field(&blob[offset..])?;
        offset += 4 + field.len();
    }
    Ok(offset)
}

fn wire_field(bytes: &[u8]) -> Result<(&[u8], &[u8]), KeyError> {
    let truncated = || KeyError::Malformed("the key is cut short".into());
    let len = bytes.get(..4).ok_or_else(truncated)?;
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let field = bytes.get(4..4 + len).ok_or_else(truncated)?;
    Ok((field, &bytes[4 + len..]))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (n, chunk) in s.chunks(4).enumerate() {
        let last = n == s.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut acc = 0u32;
        for &c in &chunk[..4 - pad] {
            let v = B64.iter().position(|b| *b == c)? as u32;
            acc = acc << 6 | v;
        }
        acc <<= 6 * pad as u32;
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

/// Standard base64 with padding, as key data is written in authorized_keys.
pub fn encode_base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let acc = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(acc >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}
