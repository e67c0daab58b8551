//! The frame every screen shares: step title, body, notice, key footer, and overlays
//! (help, quit confirmation, too-small terminal).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, Screen};
use super::screens;
use super::theme::Theme;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

const SPINNER: [&str; 8] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧"];

pub fn spinner(tick: usize) -> &'static str {
    SPINNER[tick % SPINNER.len()]
}

pub fn render(app: &App, theme: &Theme, frame: &mut Frame) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        render_too_small(theme, frame, area);
        return;
    }
    let [top, body, notice, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);

    let mut title = vec![Span::styled(
        format!(" Step {}/7 · {} ", app.screen.number(), app.screen.title()),
        theme.title(),
    )];
    title.push(Span::styled(
        format!("  bastion-wizard · {}", app.profile.name),
        theme.dim(),
    ));
    if !app.is_root() {
        title.push(Span::styled("  PREVIEW (not root)", theme.warn()));
    }
    frame.render_widget(Line::from(title), top);

    let body = body.inner(ratatui::layout::Margin::new(1, 0));
    match app.screen {
        Screen::Welcome => screens::welcome::render(app, theme, frame, body),
        Screen::Account => screens::account::render(app, theme, frame, body),
        Screen::Paste => screens::paste::render(app, theme, frame, body),
        Screen::Review => screens::review::render(app, theme, frame, body),
        Screen::Apply => screens::progress::render(app, theme, frame, body),
        Screen::Ports => screens::ports::render(app, theme, frame, body),
        Screen::Finish => screens::finish::render(app, theme, frame, body),
    }

    if let Some(text) = &app.notice {
        frame.render_widget(Line::styled(format!(" {text}"), theme.warn()), notice);
    }
    frame.render_widget(
        Line::styled(format!(" {}", footer_keys(app)), theme.focus()),
        footer,
    );

    if app.help {
        render_popup(
            theme,
            frame,
            area,
            "Help",
            screens::help(app.screen),
            "any key closes",
        );
    } else if let Some(action) = &app.keys.action {
        let (title, text, hint) = action.popup();
        let inner = area.width.saturating_sub(10).min(76).saturating_sub(2) as usize;
        let rows = area.height.saturating_sub(5) as usize;
        render_popup(
            theme,
            frame,
            area,
            title,
            &fit_popup(&text, inner, rows),
            hint,
        );
    } else if app.confirm_quit {
        render_popup(
            theme,
            frame,
            area,
            "Quit?",
            "Changes are pending and have not been applied.\nQuit anyway? y/n",
            "y quits · any other key stays",
        );
    }
}

fn footer_keys(app: &App) -> String {
    let mut keys = screens::keys(app);
    if app.typing() {
        keys.push_str(" · ? help · Ctrl-C quit");
    } else {
        keys.push_str(" · ? help · q quit");
    }
    keys
}

fn render_too_small(theme: &Theme, frame: &mut Frame, area: Rect) {
    let text = format!(
        "This terminal is {}×{}. bastion-wizard needs at least {MIN_WIDTH}×{MIN_HEIGHT}: please enlarge the window. (Ctrl-C quits.)",
        area.width, area.height
    );
    frame.render_widget(
        Paragraph::new(text)
            .style(theme.warn())
            .wrap(Wrap { trim: true }),
        area,
    );
}

fn render_popup(theme: &Theme, frame: &mut Frame, area: Rect, title: &str, text: &str, hint: &str) {
    let width = area.width.saturating_sub(10).min(76);
    let inner = width.saturating_sub(2).max(1) as usize;
    let rows: usize = text
        .lines()
        .map(|l| l.chars().count().div_ceil(inner).max(1))
        .sum();
    let height = (rows as u16 + 3).min(area.height.saturating_sub(2));
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    // The whole band of rows under the pop-up is cleared, so no text beneath shows
    // beside it and reads as part of it.
    frame.render_widget(
        Clear,
        Rect {
            x: area.x,
            width: area.width,
            ..popup
        },
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {title} "), theme.title()))
        .title_bottom(format!(" {hint} "));
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(block),
        popup,
    );
}

/// Text for a pop-up `width` wide and at most `rows` high: each line wrapped under its own
/// indent, and when too long, the middle cut so the question at the end stays in view.
pub fn fit_popup(text: &str, width: usize, rows: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let (first, rest) = line.split_at(indent);
        lines.extend(wrap_indented(first, rest, indent + 2, width));
    }
    if lines.len() > rows && rows >= 3 {
        let last = lines.split_off(lines.len() - 1);
        lines.truncate(rows - 2);
        lines.push("  …".into());
        lines.extend(last);
    }
    lines.join("\n")
}

/// Shortens the middle of a long line so both ends stay visible.
pub fn elide_middle(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max || max < 5 {
        return text.to_string();
    }
    let keep = max - 1;
    let head: String = text.chars().take(keep / 2).collect();
    let tail: String = text.chars().skip(count - (keep - keep / 2)).collect();
    format!("{head}…{tail}")
}

/// Cuts a line to fit, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// Word-wraps `text` to `width`, starting with `first` and indenting continuation lines
/// by `indent` spaces, so wrapped items stay visibly apart.
pub fn wrap_indented(first: &str, text: &str, indent: usize, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = first.to_string();
    let mut has_word = false;
    for word in text.split(' ') {
        let fits = current.chars().count() + usize::from(has_word) + word.chars().count() <= width;
        if has_word && !fits {
            lines.push(std::mem::take(&mut current));
            current = " ".repeat(indent);
            has_word = false;
        }
        if has_word {
            current.push(' ');
        }
        // A word longer than a line (a key, a command) is broken, never cut off: every
        // character of a fix must stay on screen to be typed by hand.
        let mut rest: Vec<char> = word.chars().collect();
        loop {
            let room = width.saturating_sub(current.chars().count()).max(1);
            if rest.len() <= room || width <= indent + 1 {
                current.extend(rest.iter());
                break;
            }
            current.extend(rest.drain(..room));
            lines.push(std::mem::take(&mut current));
            current = " ".repeat(indent);
        }
        has_word = true;
    }
    lines.push(current);
    lines
}

/// Lines taller than `area` scroll (↑↓); the last row then says where more is.
pub fn render_scrolled(
    lines: Vec<Line<'static>>,
    scroll: u16,
    room: &std::cell::Cell<u16>,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
) {
    let height = area.height as usize;
    if lines.len() <= height {
        room.set(0);
        frame.render_widget(Paragraph::new(lines), area);
        return;
    }
    let [text, hint] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let max_scroll = lines.len().saturating_sub(text.height as usize);
    room.set(u16::try_from(max_scroll).unwrap_or(u16::MAX));
    let scroll = (scroll as usize).min(max_scroll);
    frame.render_widget(Paragraph::new(lines).scroll((scroll as u16, 0)), text);
    let words = match (scroll > 0, scroll < max_scroll) {
        (true, true) => "↑↓ more above and below",
        (false, _) => "↓ more below (↓ scrolls)",
        (true, false) => "↑ more above (↑ scrolls)",
    };
    frame.render_widget(Line::styled(words, theme.warn()), hint);
}

#[cfg(test)]
mod wrap_tests {
    use super::wrap_indented;

    #[test]
    fn a_word_longer_than_the_line_is_broken_not_cut() {
        let key = "AAAAB3NzaC1yc2EAAAADAQABAAABAQC7".repeat(4);
        let text = format!("echo '{key}' >> file");
        let lines = wrap_indented("$ ", &text, 4, 30);
        assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:#?}");
        let joined: String = lines
            .iter()
            .enumerate()
            .map(|(i, l)| if i == 0 { &l[2..] } else { l.trim_start() })
            .collect::<Vec<_>>()
            .join("");
        assert!(joined.contains(&key), "every character stays: {lines:#?}");
        assert_eq!(
            wrap_indented("", "short words here", 0, 30),
            vec!["short words here"]
        );
    }
}
