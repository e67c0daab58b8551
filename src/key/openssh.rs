//! The OpenSSH form, `[options] type base64 [comment]`, as pasted: possibly wrapped,
//! indented, with the comment broken over lines.

use base64ct::{Base64, Encoding};

use super::{
    check, decode_blob, has_control, is_certificate_type, is_type_word, looks_like_key_type,
    unknown_type, Key, KeyError, CERT_SUFFIX, KEY_TYPES, REFUSED_TYPES, RSA_ALIASES,
};

/// Options that make a line something other than a login key for the vendor.
const MEANING_CHANGING: &[&str] = &["cert-authority", "principals"];

pub(super) fn parse(text: &str, line_breaks_removed: usize) -> Result<Key, KeyError> {
    let rest = text.trim_start();
    let (first, after_first) = take_type(rest);
    let (pasted_options, word, after_type) = if is_type_word(&first) {
        (None, first, after_first)
    } else if looks_like_options(&first) {
        let (options, after) = split_options(rest);
        let (word, after_type) = take_type(after);
        (Some(options.to_string()), word, after_type)
    } else {
        return Err(unknown_type(&first));
    };
    if let Some(plain) = word
        .strip_suffix(CERT_SUFFIX)
        .filter(|_| is_certificate_type(&word))
    {
        return Err(KeyError::Certificate(plain.to_string()));
    }
    if REFUSED_TYPES.contains(&word.as_str()) {
        return Err(KeyError::Dsa);
    }
    if !is_type_word(&word) {
        return Err(unknown_type(&word));
    }
    if pasted_options.as_deref().is_some_and(has_control) {
        return Err(KeyError::ControlCharacters);
    }
    if let Some(option) = pasted_options
        .as_deref()
        .and_then(|o| option_names(o).find(|n| MEANING_CHANGING.contains(&n.as_str())))
    {
        return Err(KeyError::MeaningChangingOption(option));
    }
    let blob = take_blob(after_type)?;
    if holds_a_key(blob.tail) {
        return Err(KeyError::MultipleKeys);
    }
    more_data_after(&blob)?;
    // Line breaks (email wrapping) and tabs become spaces; any other control character
    // would be echoed to terminals and written into authorized_keys.
    if has_control(blob.tail) {
        return Err(KeyError::ControlCharacters);
    }
    let checked = check(&word, &blob.bytes)?;
    Ok(Key {
        algorithm: checked.algorithm,
        data: blob.data,
        comment: join_comment(text, blob.tail),
        bits: checked.bits,
        fingerprint: checked.fingerprint,
        line_breaks_removed,
        pasted_options,
        was_rfc4716: false,
    })
}

/// Whether text holds a key: a key type word, then base64 that starts like a key blob
/// (its length prefix always encodes as "AAAA"). A type word alone is just words.
pub(super) fn holds_a_key(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .any(|w| looks_like_key_type(w[0]) && w[1].starts_with("AAAA"))
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
        let partial = !is_type_word(&word)
            && KEY_TYPES
                .iter()
                .chain(REFUSED_TYPES)
                .chain(RSA_ALIASES)
                .any(|t| t.starts_with(word.as_str()));
        if partial && gap.contains('\n') && !next.is_empty() {
            rest = next;
        } else {
            return (word, after);
        }
    }
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
    // sshd compares option names without regard to case.
    word.contains('=') || word.contains(',') || FLAGS.contains(&word.to_ascii_lowercase().as_str())
}

/// Lower-case names of the options in an options field (quoted values skipped).
fn option_names(options: &str) -> impl Iterator<Item = String> + '_ {
    let mut names = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    let bytes = options.as_bytes();
    let mut i = 0;
    while i <= bytes.len() {
        match bytes.get(i) {
            Some(b'\\') if bytes.get(i + 1) == Some(&b'"') => i += 1,
            Some(b'"') => quoted = !quoted,
            Some(b',') | None if !quoted => {
                let option = &options[start..i];
                let name = option.split('=').next().unwrap_or_default();
                names.push(name.trim().to_ascii_lowercase());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    names.into_iter()
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

/// The key data found after the type word.
struct Blob<'a> {
    bytes: Vec<u8>,
    /// Its base64, without the blanks and line breaks it was pasted with.
    data: String,
    /// Whether the data was wrapped over lines.
    wrapped: bool,
    tail: &'a str,
}

/// Reads base64 across line breaks until the wire format says the key is complete.
fn take_blob(s: &str) -> Result<Blob<'_>, KeyError> {
    let mut chars = String::new();
    // Per base64 char: byte offset in `s` just after it, and the gap before it.
    let mut ends = Vec::new();
    let mut gaps: Vec<Option<bool>> = Vec::new();
    let mut gap: Option<bool> = None;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            gap = Some(gap.unwrap_or(false) || c == '\n');
            continue;
        }
        if !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=') {
            break;
        }
        if c != '=' && chars.ends_with('=') {
            break;
        }
        chars.push(c);
        ends.push(i + c.len_utf8());
        gaps.push(if chars.len() == 1 { None } else { gap });
        gap = None;
    }
    if chars.is_empty() {
        return Err(KeyError::Malformed(
            "the key data after the key type is missing".into(),
        ));
    }
    let usable = chars.len() / 4 * 4;
    let prefix = Base64::decode_vec(&chars[..usable])
        .map_err(|_| KeyError::Malformed("invalid base64".into()))?;
    let (_, len) = decode_blob(&prefix)?;
    let needed = len.div_ceil(3) * 4;
    let data = &chars[..needed];
    let bytes = Base64::decode_vec(data)
        .map_err(|_| KeyError::Malformed("invalid base64 padding".into()))?;
    if bytes.len() != len {
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
    // A wrapped key breaks at line ends; a blank inside one line is where a key cut short
    // meets its comment, which would then be read as key data.
    if gaps[..needed].contains(&Some(false)) {
        return Err(KeyError::Ambiguous(
            "there are blanks inside the key data, so the key may be cut short and its comment read as key data".into(),
        ));
    }
    Ok(Blob {
        bytes,
        data: data.to_string(),
        wrapped: gaps[..needed].contains(&Some(true)),
        tail,
    })
}

/// Refuses a comment that holds more key data: a wrapped line pasted twice leaves its
/// copy after the key, and the key may then be another one.
fn more_data_after(blob: &Blob) -> Result<(), KeyError> {
    let base64 = |w: &str| {
        w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    };
    let suspicious = blob.tail.split('\n').enumerate().any(|(n, line)| {
        line.split_whitespace().enumerate().any(|(i, w)| {
            let long = base64(w) && w.len() >= 16 && (blob.wrapped || w.starts_with("AAAA"));
            let repeated = blob.wrapped
                && n > 0
                && i == 0
                && base64(w)
                && w.len() >= 4
                && blob.data.ends_with(w);
            long || repeated || (blob.wrapped && base64(w) && w.ends_with('='))
        })
    });
    if suspicious {
        return Err(KeyError::Ambiguous(
            "more key data follows the key, as when a wrapped line is pasted twice".into(),
        ));
    }
    Ok(())
}

/// The comment, joined back over line breaks. Hard wrapping (every line as wide as the
/// widest) broke it anywhere and is joined without a space; a shorter line means the
/// break took the place of a space, which comes back. Blanks beside a break are kept.
/// An indentation shared by every line after the first (the first has lost its own to
/// trimming) is not part of the comment.
fn join_comment(text: &str, tail: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    // One continuation line alone cannot tell indentation from a space the wrap moved
    // to its start: then its blanks are kept.
    let continued: Vec<&&str> = lines[1..].iter().filter(|l| !l.trim().is_empty()).collect();
    let indent = match continued.len() {
        0 | 1 => 0,
        _ => continued
            .iter()
            .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
            .min()
            .unwrap_or(0),
    };
    let unindent = |line: &str, first: bool| -> usize {
        let blanks = line.len() - line.trim_start_matches([' ', '\t']).len();
        if first {
            0
        } else {
            blanks.min(indent)
        }
    };
    let width = lines[..lines.len() - 1]
        .iter()
        .enumerate()
        .map(|(n, l)| l[unindent(l, n == 0)..].chars().count())
        .max()
        .unwrap_or(0);
    let offset = tail.as_ptr() as usize - text.as_ptr() as usize;
    let mut joined = String::new();
    let mut line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let mut skip = 0;
    for (i, c) in tail.char_indices() {
        if c == '\n' {
            let line = &text[line_start..offset + i];
            if line[unindent(line, line_start == 0)..].chars().count() < width {
                joined.push(' ');
            }
            line_start = offset + i + 1;
            skip = unindent(&text[line_start..], false);
        } else if skip > 0 {
            skip -= 1;
        } else {
            joined.push(c);
        }
    }
    joined.split_whitespace().collect::<Vec<_>>().join(" ")
}
