//! One-line text fields (Account, the database target) with the line-editing keys every
//! shell has: Ctrl-A/E, Ctrl-U/K, Ctrl-W, ←→, Home/End, Backspace/Delete.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Applies `key` to `text` with the cursor at `cursor` (in chars; `None` is the end).
/// Returns false for keys that are not editing keys, so the screen may use them.
pub fn edit(text: &mut String, cursor: &mut Option<usize>, key: &KeyEvent) -> bool {
    let len = text.chars().count();
    let mut at = cursor.unwrap_or(len).min(len);
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    match key.code {
        KeyCode::Char('a') if ctrl => at = 0,
        KeyCode::Char('e') if ctrl => at = len,
        KeyCode::Char('u') if ctrl => {
            remove(text, 0, at);
            at = 0;
        }
        KeyCode::Char('k') if ctrl => remove(text, at, len),
        KeyCode::Char('w') if ctrl => {
            let start = word_start(text, at);
            remove(text, start, at);
            at = start;
        }
        KeyCode::Char('h') if ctrl => {
            if at > 0 {
                remove(text, at - 1, at);
                at -= 1;
            }
        }
        KeyCode::Char(_) if ctrl || alt => return false,
        KeyCode::Char(c) if !c.is_control() => {
            let byte = byte_at(text, at);
            text.insert(byte, c);
            at += 1;
        }
        KeyCode::Backspace => {
            if at > 0 {
                remove(text, at - 1, at);
                at -= 1;
            }
        }
        KeyCode::Delete => {
            if at < len {
                remove(text, at, at + 1);
            }
        }
        KeyCode::Left => at = at.saturating_sub(1),
        KeyCode::Right => at = (at + 1).min(len),
        KeyCode::Home => at = 0,
        KeyCode::End => at = len,
        _ => return false,
    }
    let len = text.chars().count();
    *cursor = (at < len).then_some(at);
    true
}

/// Inserts pasted text at the cursor, leaving out line breaks and other control characters.
pub fn insert(text: &mut String, cursor: &mut Option<usize>, pasted: &str, keep: fn(char) -> bool) {
    let len = text.chars().count();
    let at = cursor.unwrap_or(len).min(len);
    let added: String = pasted
        .chars()
        .filter(|c| !c.is_control() && keep(*c))
        .collect();
    text.insert_str(byte_at(text, at), &added);
    let at = at + added.chars().count();
    *cursor = (at < text.chars().count()).then_some(at);
}

/// The text split at the cursor: what the field draws before and after it.
pub fn split(text: &str, cursor: Option<usize>) -> (&str, &str) {
    let len = text.chars().count();
    text.split_at(byte_at(text, cursor.unwrap_or(len).min(len)))
}

fn byte_at(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(i, _)| i)
}

fn remove(text: &mut String, from: usize, to: usize) {
    let (a, b) = (byte_at(text, from), byte_at(text, to));
    text.replace_range(a..b, "");
}

/// Where Ctrl-W stops: back over blanks, then over the word before them.
fn word_start(text: &str, at: usize) -> usize {
    let chars: Vec<char> = text.chars().take(at).collect();
    let mut i = chars.len();
    while i > 0 && matches!(chars[i - 1], ' ' | ',') {
        i -= 1;
    }
    while i > 0 && !matches!(chars[i - 1], ' ' | ',') {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, ctrl: bool) -> KeyEvent {
        let m = if ctrl {
            KeyModifiers::CONTROL
        } else {
            KeyModifiers::NONE
        };
        KeyEvent::new(code, m)
    }

    fn run(start: &str, keys: &[KeyEvent]) -> (String, Option<usize>) {
        let mut text = start.to_string();
        let mut cursor = None;
        for k in keys {
            assert!(edit(&mut text, &mut cursor, k), "{k:?} is an editing key");
        }
        (text, cursor)
    }

    #[test]
    fn the_usual_line_editing_keys() {
        let c = |ch| key(KeyCode::Char(ch), true);
        assert_eq!(run("whaly", &[c('u')]).0, "");
        assert_eq!(run("db:1 db:2", &[c('w')]).0, "db:1 ");
        assert_eq!(run("db:1, db:2", &[c('w'), c('w')]).0, "");
        assert_eq!(
            run("haly", &[c('a'), key(KeyCode::Char('w'), false)]),
            ("whaly".into(), Some(1))
        );
        assert_eq!(run("whaly", &[c('a'), c('k')]).0, "");
        assert_eq!(
            run(
                "whaly",
                &[key(KeyCode::Left, false), key(KeyCode::Left, false), c('k')]
            )
            .0,
            "wha"
        );
        assert_eq!(
            run("whaly", &[c('a'), c('e'), c('h')]),
            ("whal".into(), None)
        );
    }

    #[test]
    fn other_control_keys_are_left_to_the_screen() {
        let mut text = "x".to_string();
        let mut cursor = None;
        assert!(!edit(
            &mut text,
            &mut cursor,
            &key(KeyCode::Char('c'), true)
        ));
        assert!(!edit(&mut text, &mut cursor, &key(KeyCode::Enter, false)));
        assert_eq!(text, "x");
    }
}
