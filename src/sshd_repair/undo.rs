//! What undo makes of a file the repair wrote: the repair's marked `Match User` block
//! taken out with the blank line that was added beside it, each recorded line edit put
//! back, every other byte kept. Pure, so it is tested on text.

use super::MARK;

/// The file without the repair's block for `user` and with each `(before, after)` line
/// edit reversed; the same bytes when there is nothing of ours in it.
pub fn undone(content: &[u8], user: &str, edits: &[(String, String)]) -> Vec<u8> {
    let lines: Vec<&[u8]> = content.split_inclusive(|b| *b == b'\n').collect();
    let text = |l: &[u8]| -> String {
        let l = l.strip_suffix(b"\n").unwrap_or(l);
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        String::from_utf8_lossy(l).into_owned()
    };
    let header = format!("Match User {user}");
    let mut drop = vec![false; lines.len()];
    let mut i = 0;
    while i + 1 < lines.len() {
        if text(lines[i]) == MARK && text(lines[i + 1]) == header {
            let start = i;
            let mut end = i + 2;
            while end < lines.len() && {
                let t = text(lines[end]);
                !t.trim().is_empty() && t.starts_with([' ', '\t'])
            } {
                end += 1;
            }
            drop[start..end].iter_mut().for_each(|d| *d = true);
            // The blank line written with the block: after it when placed above a Match,
            // before it when appended at the end.
            if end < lines.len() && text(lines[end]).is_empty() {
                drop[end] = true;
            } else if end == lines.len() && start > 0 && text(lines[start - 1]).is_empty() {
                drop[start - 1] = true;
            }
            i = end;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(content.len());
    for (line, dropped) in lines.iter().zip(&drop) {
        if *dropped {
            continue;
        }
        let t = text(line);
        match edits.iter().find(|(_, after)| *after == t) {
            Some((before, after)) => {
                let at = line
                    .windows(after.len())
                    .position(|w| w == after.as_bytes())
                    .unwrap_or(0);
                out.extend_from_slice(&line[..at]);
                out.extend_from_slice(before.as_bytes());
                out.extend_from_slice(&line[at + after.len()..]);
            }
            None => out.extend_from_slice(line),
        }
    }
    out
}

/// Nothing sshd reads is left: only blank and comment lines. A drop-in of ours in that
/// state is deleted whole; one someone added settings to keeps them.
pub fn only_comments(content: &[u8]) -> bool {
    String::from_utf8_lossy(content)
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str = "# bastion-wizard: the vendor's tunnel user\nMatch User whaly\n    AllowTcpForwarding yes\n";

    #[test]
    fn an_appended_block_goes_with_its_blank_line() {
        let before = "Port 22\r\nUsePAM yes\n";
        let after = format!("{before}\n{BLOCK}");
        assert_eq!(undone(after.as_bytes(), "whaly", &[]), before.as_bytes());
    }

    #[test]
    fn a_block_above_the_first_match_goes_with_the_blank_line_after_it() {
        let before = "Port 22\nMatch User bob\n    X11Forwarding no";
        let after = format!("Port 22\n{BLOCK}\nMatch User bob\n    X11Forwarding no");
        assert_eq!(undone(after.as_bytes(), "whaly", &[]), before.as_bytes());
    }

    #[test]
    fn only_the_users_own_block_and_recorded_edits_change() {
        let other = BLOCK.replace("whaly", "fivetran");
        let text = format!("AllowUsers alice whaly # ops\n{other}");
        let edits = vec![(
            "AllowUsers alice # ops".to_string(),
            "AllowUsers alice whaly # ops".to_string(),
        )];
        assert_eq!(
            String::from_utf8(undone(text.as_bytes(), "whaly", &edits)).unwrap(),
            format!("AllowUsers alice # ops\n{other}")
        );
        assert_eq!(undone(text.as_bytes(), "other", &[]), text.as_bytes());
    }

    #[test]
    fn a_dropin_with_only_our_block_is_empty_after_undo() {
        let left = undone(BLOCK.as_bytes(), "whaly", &[]);
        assert!(left.is_empty() && only_comments(&left));
        assert!(!only_comments(b"# note\nPort 2222\n"));
    }
}
