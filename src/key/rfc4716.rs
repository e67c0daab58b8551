//! RFC4716 (`---- BEGIN SSH2 PUBLIC KEY ----`), as `ssh-keygen -e` and PuTTYgen write it.

use base64ct::{Base64, Encoding};

use super::openssh::holds_a_key;
use super::{check, has_control, wire_type, Key, KeyError};

pub(super) const BEGIN: &str = "---- BEGIN SSH2 PUBLIC KEY ----";
const END: &str = "---- END SSH2 PUBLIC KEY";

pub(super) fn parse(text: &str, line_breaks_removed: usize) -> Result<Key, KeyError> {
    if text.matches(BEGIN).count() > 1 {
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
        if line.starts_with(END) {
            ended = true;
            break;
        }
        if let Some(mut header) = continued.take() {
            // A header continues where the backslash stood, with nothing added.
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
    let begin = text.find(BEGIN).unwrap_or(0);
    let after_end = text
        .find(END)
        .and_then(|i| text[i..].split_once('\n'))
        .map_or("", |(_, rest)| rest);
    if holds_a_key(&text[..begin]) || holds_a_key(after_end) {
        return Err(KeyError::MultipleKeys);
    }
    let blob =
        Base64::decode_vec(&body).map_err(|_| KeyError::Malformed("invalid base64".into()))?;
    let algorithm = wire_type(&blob)?;
    let checked = check(&algorithm, &blob)?;
    if has_control(&comment) {
        return Err(KeyError::ControlCharacters);
    }
    Ok(Key {
        algorithm: checked.algorithm,
        data: Base64::encode_string(&blob),
        comment: comment.replace('\t', " "),
        bits: checked.bits,
        fingerprint: checked.fingerprint,
        line_breaks_removed,
        pasted_options: None,
        was_rfc4716: true,
    })
}

fn take_header(header: &str, comment: &mut String) {
    if let Some((name, value)) = header.split_once(':') {
        if name.trim().eq_ignore_ascii_case("comment") {
            *comment = value.trim().trim_matches('"').to_string();
        }
    }
}
