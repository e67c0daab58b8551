//! A ratatui buffer as an SVG picture of a terminal: one text element per run of cells
//! that share a style, each stretched to exactly its cells, so the grid holds whatever
//! monospace font the viewer has. The output depends on the buffer alone (no clock, no
//! font metrics, fixed number formatting), so a picture can be compared byte for byte.

use std::fmt::Write;

use ratatui::buffer::{Buffer, Cell};
use ratatui::style::{Color, Modifier};
use unicode_width::UnicodeWidthStr;

/// One cell's size in pixels, and the font size that fills it.
const CELL_W: u32 = 9;
const CELL_H: u32 = 18;
const FONT_SIZE: u32 = 15;
/// Distance from a cell's top to the text's baseline.
const BASELINE: u32 = 14;
/// Blank border around the terminal.
const PAD: u32 = 10;

/// The terminal's default colours (ratatui's `Color::Reset`): a dark theme.
const DEFAULT_FG: &str = "#d4d4d4";
const DEFAULT_BG: &str = "#1e1e1e";

/// Where the 16 named colours are drawn (the common dark-terminal palette).
fn named(color: Color) -> Option<&'static str> {
    Some(match color {
        Color::Black => "#000000",
        Color::Red => "#cd3131",
        Color::Green => "#0dbc79",
        Color::Yellow => "#e5e510",
        Color::Blue => "#2472c8",
        Color::Magenta => "#bc3fbc",
        Color::Cyan => "#11a8cd",
        Color::Gray => "#e5e5e5",
        Color::DarkGray => "#808080",
        Color::LightRed => "#f14c4c",
        Color::LightGreen => "#23d18b",
        Color::LightYellow => "#f5f543",
        Color::LightBlue => "#3b8eea",
        Color::LightMagenta => "#d670d6",
        Color::LightCyan => "#29b8db",
        Color::White => "#ffffff",
        _ => return None,
    })
}

/// `color` as an SVG fill, `default` for `Reset`.
fn paint(color: Color, default: &str) -> String {
    match color {
        Color::Reset => default.to_string(),
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(i) => indexed(i),
        other => named(other).unwrap_or(default).to_string(),
    }
}

/// The xterm 256-colour palette: 16 named, a 6×6×6 cube, 24 greys.
fn indexed(i: u8) -> String {
    const NAMED: [Color; 16] = [
        Color::Black,
        Color::Red,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Cyan,
        Color::Gray,
        Color::DarkGray,
        Color::LightRed,
        Color::LightGreen,
        Color::LightYellow,
        Color::LightBlue,
        Color::LightMagenta,
        Color::LightCyan,
        Color::White,
    ];
    match i {
        0..=15 => named(NAMED[i as usize]).unwrap_or(DEFAULT_FG).to_string(),
        16..=231 => {
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            let n = i - 16;
            let (r, g, b) = (level(n / 36), level(n / 6 % 6), level(n % 6));
            format!("#{r:02x}{g:02x}{b:02x}")
        }
        _ => {
            let v = 8 + 10 * (i - 232);
            format!("#{v:02x}{v:02x}{v:02x}")
        }
    }
}

/// What a cell looks like once reverse video is resolved; cells in one run share it.
#[derive(PartialEq, Eq, Clone)]
struct Look {
    fg: String,
    bg: String,
    bold: bool,
    italic: bool,
    underline: bool,
    crossed: bool,
    dim: bool,
    hidden: bool,
}

impl Look {
    fn of(cell: &Cell) -> Look {
        let m = cell.modifier;
        let (mut fg, mut bg) = (paint(cell.fg, DEFAULT_FG), paint(cell.bg, DEFAULT_BG));
        if m.contains(Modifier::REVERSED) {
            std::mem::swap(&mut fg, &mut bg);
        }
        Look {
            fg,
            bg,
            bold: m.contains(Modifier::BOLD),
            italic: m.contains(Modifier::ITALIC),
            underline: m.contains(Modifier::UNDERLINED),
            crossed: m.contains(Modifier::CROSSED_OUT),
            dim: m.contains(Modifier::DIM),
            hidden: m.contains(Modifier::HIDDEN),
        }
    }

    fn text_attributes(&self) -> String {
        let mut a = format!(" fill=\"{}\"", self.fg);
        if self.bold {
            a.push_str(" font-weight=\"bold\"");
        }
        if self.italic {
            a.push_str(" font-style=\"italic\"");
        }
        let lines: Vec<&str> = [
            (self.underline, "underline"),
            (self.crossed, "line-through"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
        if !lines.is_empty() {
            write!(a, " text-decoration=\"{}\"", lines.join(" ")).unwrap();
        }
        if self.dim {
            a.push_str(" opacity=\"0.6\"");
        }
        a
    }
}

/// A stretch of one row: its first column, its width in cells, its text.
struct Run {
    x: u32,
    cells: u32,
    text: String,
    look: Look,
}

/// The row's cells grouped into runs of one look; a wide symbol takes its cells with it.
fn runs(buffer: &Buffer, y: u16) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    let mut x = 0u16;
    while x < buffer.area.width {
        let cell = &buffer[(buffer.area.x + x, buffer.area.y + y)];
        let width = cell.symbol().width().max(1) as u16;
        let look = Look::of(cell);
        match runs.last_mut() {
            Some(run) if run.look == look => {
                run.text.push_str(cell.symbol());
                run.cells += u32::from(width);
            }
            _ => runs.push(Run {
                x: u32::from(x),
                cells: u32::from(width),
                text: cell.symbol().to_string(),
                look,
            }),
        }
        x += width;
    }
    runs
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole buffer as an SVG document titled `title` (the picture's alt text).
pub fn render(buffer: &Buffer, title: &str) -> String {
    let width = u32::from(buffer.area.width) * CELL_W + 2 * PAD;
    let height = u32::from(buffer.area.height) * CELL_H + 2 * PAD;
    let mut backgrounds = String::new();
    let mut texts = String::new();
    for y in 0..buffer.area.height {
        let top = PAD + u32::from(y) * CELL_H;
        for run in runs(buffer, y) {
            let left = PAD + run.x * CELL_W;
            let span = run.cells * CELL_W;
            if run.look.bg != DEFAULT_BG {
                writeln!(
                    backgrounds,
                    "<rect x=\"{left}\" y=\"{top}\" width=\"{span}\" height=\"{CELL_H}\" fill=\"{}\"/>",
                    run.look.bg
                )
                .unwrap();
            }
            if run.look.hidden {
                continue;
            }
            // Blanks at a run's ends draw nothing unless a line runs through them.
            let decorated = run.look.underline || run.look.crossed;
            let text = if decorated {
                run.text.as_str()
            } else {
                run.text.trim_matches(' ')
            };
            if text.is_empty() {
                continue;
            }
            let lead = if decorated {
                0
            } else {
                (run.text.len() - run.text.trim_start_matches(' ').len()) as u32
            };
            let cells = run.cells - (run.text.len() - text.len()) as u32;
            writeln!(
                texts,
                "<text x=\"{}\" y=\"{}\" textLength=\"{}\" lengthAdjust=\"spacingAndGlyphs\"{}>{}</text>",
                left + lead * CELL_W,
                top + BASELINE,
                cells * CELL_W,
                run.look.text_attributes(),
                escape(text)
            )
            .unwrap();
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{title}\">\n\
         <title>{title}</title>\n\
         <rect width=\"{width}\" height=\"{height}\" rx=\"6\" fill=\"{DEFAULT_BG}\"/>\n\
         <g shape-rendering=\"crispEdges\">\n{backgrounds}</g>\n\
         <g font-family=\"'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace\" \
         font-size=\"{FONT_SIZE}\" xml:space=\"preserve\">\n{texts}</g>\n</svg>\n",
        title = escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    fn buffer(width: u16) -> Buffer {
        Buffer::empty(Rect::new(0, 0, width, 1))
    }

    #[test]
    fn runs_of_one_style_become_one_text_stretched_to_its_cells() {
        let mut b = buffer(10);
        b.set_string(0, 0, "ok ", Style::new().fg(Color::Green));
        b.set_string(
            3,
            0,
            "no",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        );
        let svg = render(&b, "t");
        assert!(svg.contains(
            "<text x=\"10\" y=\"24\" textLength=\"18\" lengthAdjust=\"spacingAndGlyphs\" fill=\"#0dbc79\">ok</text>"
        ), "{svg}");
        assert!(svg.contains(
            "<text x=\"37\" y=\"24\" textLength=\"18\" lengthAdjust=\"spacingAndGlyphs\" fill=\"#cd3131\" font-weight=\"bold\">no</text>"
        ), "{svg}");
        assert_eq!(
            svg.matches("<text").count(),
            2,
            "blank default cells draw nothing"
        );
    }

    #[test]
    fn reverse_video_swaps_the_colours_and_paints_the_background() {
        let mut b = buffer(4);
        b.set_string(1, 0, "ab", Style::new().add_modifier(Modifier::REVERSED));
        let svg = render(&b, "t");
        assert!(
            svg.contains(&format!(
                "<rect x=\"19\" y=\"10\" width=\"18\" height=\"18\" fill=\"{DEFAULT_FG}\"/>"
            )),
            "{svg}"
        );
        assert!(
            svg.contains(&format!("fill=\"{DEFAULT_BG}\">ab</text>")),
            "{svg}"
        );
    }

    #[test]
    fn underline_dim_and_italic_are_kept() {
        let mut b = buffer(3);
        let style = Style::new()
            .add_modifier(Modifier::UNDERLINED | Modifier::DIM | Modifier::ITALIC)
            .fg(Color::Indexed(196));
        b.set_string(0, 0, "u", style);
        let svg = render(&b, "t");
        assert!(svg.contains(
            "fill=\"#ff0000\" font-style=\"italic\" text-decoration=\"underline\" opacity=\"0.6\">u</text>"
        ), "{svg}");
    }

    #[test]
    fn markup_characters_are_escaped() {
        let mut b = buffer(12);
        b.set_string(0, 0, "<a & \"b\">", Style::new());
        let svg = render(&b, "x < y");
        assert!(
            svg.contains(">&lt;a &amp; &quot;b&quot;&gt;</text>"),
            "{svg}"
        );
        assert!(svg.contains("<title>x &lt; y</title>"), "{svg}");
    }

    #[test]
    fn a_wide_symbol_takes_two_cells_and_what_follows_stays_on_the_grid() {
        let mut b = buffer(6);
        b.set_string(0, 0, "界x", Style::new().fg(Color::Cyan));
        b.set_string(3, 0, "y", Style::new());
        let svg = render(&b, "t");
        assert!(
            svg.contains(
                "textLength=\"27\" lengthAdjust=\"spacingAndGlyphs\" fill=\"#11a8cd\">界x</text>"
            ),
            "{svg}"
        );
        assert!(svg.contains("<text x=\"37\" y=\"24\" textLength=\"9\" lengthAdjust=\"spacingAndGlyphs\" fill=\"#d4d4d4\">y</text>"), "{svg}");
    }

    #[test]
    fn the_same_buffer_gives_the_same_bytes() {
        let mut b = buffer(8);
        b.set_string(0, 0, "same", Style::new().fg(Color::Yellow));
        assert_eq!(render(&b, "t"), render(&b.clone(), "t"));
    }
}
