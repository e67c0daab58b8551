//! The Welcome screen's key list: the same `KeyList` as `keys`, one short row per line
//! (type, fingerprint, ours, days left, last login, comment) and the selected line in full
//! below, so an auditor's question is answered without leaving the screen.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph};
use ratatui::Frame;

use crate::key_list::{self, FlagKind, KeyLine};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::{elide_middle, truncate};

/// Rows of keys shown at once; more scroll.
const ROWS: usize = 3;
/// Rows under the list for the selected line's detail.
const DETAIL: usize = 2;

/// The rows the block takes on Welcome.
pub fn height(app: &App) -> u16 {
    match &app.keys.list {
        Some(list) if list.unreadable.is_none() && !list.keys.is_empty() => {
            (1 + list.keys.len().min(ROWS) + DETAIL) as u16
        }
        _ => 1,
    }
}

/// How long the key has: what `keys` gives as days left, in words.
pub fn expiry_words(days_left: Option<i64>) -> String {
    match days_left {
        None => "no expiry".into(),
        Some(d) if d < 0 => "expired".into(),
        Some(0) => "last day".into(),
        Some(1) => "1 day left".into(),
        Some(d) => format!("{d} days left"),
    }
}

fn kind(k: &KeyLine) -> String {
    let short = key_list::short_type(&k.key_type);
    match k.bits {
        Some(bits) if !k.key_type.contains("ed25519") => format!("{short} {bits}"),
        _ => short.to_string(),
    }
}

/// ✗ when sshd skips or ignores the line or it stops the tunnel, ! when it is listed twice.
fn mark(k: &KeyLine, theme: &Theme) -> (&'static str, Style) {
    if !k.opens_tunnel() {
        ("✗", theme.error())
    } else if k.flags.iter().any(|f| f.kind == FlagKind::Duplicated)
        || k.days_left
            .is_some_and(|d| d <= crate::checks::EXPIRY_WARNING_DAYS)
    {
        ("!", theme.warn())
    } else {
        ("✓", theme.ok())
    }
}

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let user = &app.account.user;
    let width = area.width as usize;
    let list = match &app.keys.list {
        None => {
            frame.render_widget(
                Line::from(vec![
                    Span::styled(format!("Keys of {user}: "), theme.strong()),
                    Span::styled("reading…", theme.dim()),
                ]),
                area,
            );
            return;
        }
        Some(list) => list,
    };
    if let Some(why) = &list.unreadable {
        let head = format!("Keys of {user}: ");
        frame.render_widget(
            Line::from(vec![
                Span::styled(head.clone(), theme.strong()),
                Span::styled(
                    truncate(why, width.saturating_sub(head.len())),
                    theme.warn(),
                ),
            ]),
            area,
        );
        return;
    }
    if list.keys.is_empty() {
        frame.render_widget(
            Line::from(vec![
                Span::styled(format!("Keys of {user}: "), theme.strong()),
                Span::styled("no key line in authorized_keys", theme.dim()),
            ]),
            area,
        );
        return;
    }
    let ours = list.keys.iter().filter(|k| k.added_by_us).count();
    let [title, rows, detail] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(list.keys.len().min(ROWS) as u16),
        Constraint::Length(DETAIL as u16),
    ])
    .areas(area);
    let hint = if app.keys.focused {
        "r revokes the selected key · Tab back to the checks"
    } else {
        "Tab chooses a key"
    };
    frame.render_widget(
        Line::from(vec![
            Span::styled(
                format!(
                    "Keys of {user}: {} line(s), {ours} added by this program  ",
                    list.keys.len()
                ),
                theme.strong(),
            ),
            Span::styled(hint, theme.dim()),
        ]),
        title,
    );

    let items: Vec<ListItem> = list
        .keys
        .iter()
        .map(|k| {
            let (mark, style) = mark(k, theme);
            let fingerprint = if k.fingerprint.is_empty() {
                "(not a key)".to_string()
            } else {
                // The prefix is the same on every row; the full one is on the detail line.
                elide_middle(
                    k.fingerprint
                        .strip_prefix("SHA256:")
                        .unwrap_or(&k.fingerprint),
                    18,
                )
            };
            let last = k
                .last_login
                .as_deref()
                .map_or("no login seen".to_string(), |t| {
                    t.chars().take(16).collect::<String>().replace('T', " ")
                });
            let row = format!(
                "{:>3} {:<8} {:<18} {:<4} {:<12} {:<16} {}",
                k.line,
                kind(k),
                fingerprint,
                if k.added_by_us { "ours" } else { "" },
                expiry_words(k.days_left),
                last,
                crate::key::printable(&k.comment)
            );
            ListItem::new(Line::from(vec![
                Span::styled(format!("{mark} "), style),
                Span::raw(truncate(&row, width.saturating_sub(2))),
            ]))
        })
        .collect();
    let selected = app.keys.selected.min(list.keys.len() - 1);
    let mut state = ListState::default()
        .with_offset(app.keys.offset.get())
        .with_selected(Some(selected));
    let highlight = if app.keys.focused {
        theme.focus()
    } else {
        Style::new()
    };
    frame.render_stateful_widget(
        List::new(items).highlight_style(highlight),
        rows,
        &mut state,
    );
    app.keys.offset.set(state.offset());

    let k = &list.keys[selected];
    let more = list.keys.len().saturating_sub(ROWS);
    let mut lines: Vec<Line> = Vec::new();
    let mut first = vec![format!("line {}", k.line)];
    if !k.fingerprint.is_empty() {
        first.push(k.fingerprint.clone());
    }
    if !k.comment.is_empty() {
        first.push(crate::key::printable(&k.comment));
    }
    lines.push(Line::styled(
        truncate(&format!("  {}", first.join(" · ")), width),
        theme.dim(),
    ));
    // A flag outweighs the options: it says what sshd makes of them.
    let second = match k.flags.first() {
        Some(flag) => Line::styled(
            truncate(&format!("  ! {}", flag.text), width),
            if k.opens_tunnel() {
                theme.warn()
            } else {
                theme.error()
            },
        ),
        None => {
            let mut facts = vec![if k.options.is_empty() {
                "no options".to_string()
            } else {
                format!("options {}", crate::key::printable(&k.options))
            }];
            if let Some(expires) = &k.expires {
                facts.push(format!("until {expires}"));
            }
            if more > 0 {
                facts.push(format!("↑↓ {more} more line(s)"));
            }
            Line::styled(
                truncate(&format!("  {}", facts.join(" · ")), width),
                theme.dim(),
            )
        }
    };
    lines.push(second);
    frame.render_widget(Paragraph::new(lines), detail);
}
