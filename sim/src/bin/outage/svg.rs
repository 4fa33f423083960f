//! The `--svg` picture: one bar per link direction over time, coloured by
//! its health, with the fault windows, the heal and the recovery bound
//! marked, a legend, and, when the run is long next to the recovery, a
//! second panel zoomed in around the heal.

use core::fmt::Write;

/// A direction's health at an instant.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// No session yet since the start of the run.
    NeverUp,
    /// `B` hears `A`, and `A` is told it is heard.
    Fresh,
    /// Was fresh before, is not now.
    Stale,
}

impl State {
    fn colour(self) -> &'static str {
        match self {
            State::NeverUp => "#b0bec5",
            State::Fresh => "#2e7d32",
            State::Stale => "#c62828",
        }
    }
}

/// One row: a direction's label and its health, as runs `(from, to,
/// state)` in seconds.
#[derive(Clone, Debug)]
pub struct Trace {
    pub label: String,
    pub runs: Vec<(f64, f64, State)>,
}

impl Trace {
    /// A row from the direction's freshness changes `(seconds, fresh)`, in
    /// order, up to `end`.
    pub fn new(label: String, changes: &[(f64, bool)], end: f64) -> Trace {
        let mut runs: Vec<(f64, f64, State)> = Vec::new();
        let mut state = State::NeverUp;
        let mut since = 0.0;
        let mut up = false;
        for &(t, fresh) in changes {
            if t > end {
                break;
            }
            up |= fresh;
            let next = match (fresh, up) {
                (true, _) => State::Fresh,
                (false, true) => State::Stale,
                (false, false) => State::NeverUp,
            };
            if next != state {
                if t > since {
                    runs.push((since, t, state));
                }
                state = next;
                since = t;
            }
        }
        if end > since {
            runs.push((since, end, state));
        }
        Trace { label, runs }
    }
}

/// Everything the picture shows, in seconds of simulated time.
#[derive(Clone, Debug)]
pub struct Picture {
    pub title: String,
    pub subtitle: String,
    pub end: f64,
    /// The last fault ends: recovery is measured from here.
    pub heal: f64,
    /// The recovery bound, after the heal.
    pub bound: f64,
    pub faults: Vec<(f64, f64)>,
    /// The rows; rows `2k` and `2k + 1` are the two directions of a link.
    pub rows: Vec<Trace>,
    /// What the labels mean, for the legend.
    pub row_scheme: String,
}

const WIDTH: f64 = 1100.0;
/// The plot's left and right edges; the row labels end left of `X0`.
const X0: f64 = 215.0;
const X1: f64 = 1070.0;
const ROW_H: f64 = 20.0;
const BAR_H: f64 = 14.0;
/// Extra space between two links.
const LINK_GAP: f64 = 6.0;
/// Below this many pixels between the heal and the bound in the whole-run
/// panel (the bound under 7 % of the run), a recovery well within the bound
/// is a few pixels wide there, hidden under the heal line: a zoomed panel
/// is added.
const ZOOM_BELOW_PX: f64 = 60.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Tick spacing giving at most about ten ticks over `span` seconds, and
/// the decimals to print them with.
fn tick_step(span: f64) -> (f64, usize) {
    for exp in -3..=6 {
        for m in [1.0, 2.0, 5.0] {
            let step = m * 10f64.powi(exp);
            if span / step <= 10.0 {
                return (step, usize::try_from(-exp).unwrap_or(0));
            }
        }
    }
    (1e7, 0)
}

/// The time range around the heal the zoomed panel shows, if the
/// whole-run panel cannot show the recovery.
pub fn zoom_range(p: &Picture) -> Option<(f64, f64)> {
    if p.end <= 0.0 || p.bound / p.end * (X1 - X0) >= ZOOM_BELOW_PX {
        return None;
    }
    let pad = (p.bound * 0.5).max(1.0);
    Some(((p.heal - pad).max(0.0), (p.heal + p.bound + pad).min(p.end)))
}

struct Panel<'a> {
    p: &'a Picture,
    t0: f64,
    t1: f64,
}

impl Panel<'_> {
    fn x(&self, t: f64) -> f64 {
        X0 + (t - self.t0) / (self.t1 - self.t0) * (X1 - X0)
    }

    /// `[a, b]` clipped to the panel, in pixels, at least `min` wide.
    fn span(&self, a: f64, b: f64, min: f64) -> Option<(f64, f64)> {
        if b < self.t0 || a > self.t1 {
            return None;
        }
        let (xa, xb) = (self.x(a.max(self.t0)), self.x(b.min(self.t1)));
        let w = (xb - xa).max(min);
        Some((xa.min(X1 - w), w))
    }

    fn row_y(i: usize) -> f64 {
        i as f64 * ROW_H + (i / 2) as f64 * LINK_GAP
    }

    fn rows_height(&self) -> f64 {
        Self::row_y(self.p.rows.len().max(1) - 1) + ROW_H
    }

    /// Draws the panel with its top at `y`; returns its height.
    fn draw(
        &self,
        out: &mut String,
        id: &str,
        title: &str,
        y: f64,
        zoomed: Option<(f64, f64)>,
    ) -> f64 {
        let p = self.p;
        let _ = writeln!(out, r#"<g id="{id}" class="panel">"#);
        let _ = writeln!(
            out,
            r#"<text x="{X0}" y="{:.1}" font-size="13" font-weight="bold">{}</text>"#,
            y + 14.0,
            esc(title)
        );
        let markers_y = y + 34.0;
        let strip = (y + 40.0, 10.0);
        let top = y + 56.0;
        let bottom = top + self.rows_height();

        // Fault strip, with its label in the label column.
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#444">faults</text>"##,
            X0 - 8.0,
            strip.0 + 9.0
        );
        let _ = writeln!(
            out,
            r##"<rect x="{X0}" y="{:.1}" width="{:.1}" height="{}" fill="#f1f1f1"/>"##,
            strip.0,
            X1 - X0,
            strip.1
        );
        for &(a, b) in &p.faults {
            if let Some((x, w)) = self.span(a, b, 2.0) {
                let _ = writeln!(
                    out,
                    r##"<rect class="fault-strip" x="{x:.2}" y="{:.1}" width="{w:.2}" height="{}" fill="#555"/>"##,
                    strip.0, strip.1
                );
            }
        }

        // One labelled bar per direction; a faint band behind each link.
        for (i, row) in p.rows.iter().enumerate() {
            let ry = top + Self::row_y(i);
            if i % 2 == 0 {
                let h = if i + 1 < p.rows.len() {
                    2.0 * ROW_H
                } else {
                    ROW_H
                };
                let _ = writeln!(
                    out,
                    r##"<rect x="8" y="{ry:.1}" width="{:.1}" height="{h}" fill="#f6f8fa"/>"##,
                    X1 - 8.0
                );
            }
            let _ = writeln!(
                out,
                r#"<g class="row" data-top="{ry:.1}" data-height="{ROW_H}">"#
            );
            let _ = writeln!(
                out,
                r#"<text class="row-label" x="{:.1}" y="{:.1}" font-size="12" text-anchor="end">{}</text>"#,
                X0 - 8.0,
                ry + ROW_H / 2.0 + 4.0,
                esc(&row.label)
            );
            for &(a, b, state) in &row.runs {
                if let Some((x, w)) = self.span(a, b, 0.0) {
                    let _ = writeln!(
                        out,
                        r#"<rect x="{x:.2}" y="{:.1}" width="{w:.2}" height="{BAR_H}" fill="{}"/>"#,
                        ry + (ROW_H - BAR_H) / 2.0,
                        state.colour()
                    );
                }
            }
            let _ = writeln!(out, "</g>");
        }

        // Fault windows, hatched over the bars.
        for &(a, b) in &p.faults {
            if let Some((x, w)) = self.span(a, b, 2.0) {
                let _ = writeln!(
                    out,
                    r#"<rect class="fault" x="{x:.2}" y="{top:.1}" width="{w:.2}" height="{:.1}" fill="url(#hatch)"/>"#,
                    bottom - top
                );
            }
        }

        // In the whole-run panel, the range the zoomed panel shows.
        if let Some((a, b)) = zoomed
            && let Some((x, w)) = self.span(a, b, 4.0)
        {
            let _ = writeln!(
                out,
                r##"<rect class="zoom-range" x="{:.2}" y="{:.1}" width="{:.2}" height="{:.1}" fill="none" stroke="#ef6c00" stroke-width="1.5"/>"##,
                x - 2.0,
                strip.0 - 2.0,
                w + 4.0,
                bottom - strip.0 + 4.0
            );
        }

        // The heal and the bound, each a line. Their labels sit either
        // side of the pair; when the bound's would run off the right edge,
        // both go left of the heal.
        let bound_at = p.heal + p.bound;
        let heal_text = format!("heal {:.2} s", p.heal);
        let bound_text = format!("bound {bound_at:.2} s");
        let bound_fits = self.x(bound_at) + 8.0 + bound_text.len() as f64 * 6.5 < WIDTH;
        for (class, t, colour, dash) in [
            ("heal", p.heal, "#1565c0", ""),
            ("bound", bound_at, "#6a1b9a", r#" stroke-dasharray="6 3""#),
        ] {
            if t < self.t0 || t > self.t1 {
                continue;
            }
            let x = self.x(t);
            let _ = writeln!(
                out,
                r#"<line class="{class}" x1="{x:.2}" y1="{:.1}" x2="{x:.2}" y2="{bottom:.1}" stroke="{colour}" stroke-width="2"{dash}/>"#,
                markers_y - 10.0
            );
            let (text, anchor, at) = match class {
                "heal" if bound_fits => (heal_text.clone(), "end", x - 4.0),
                "heal" => (format!("{heal_text}, {bound_text}"), "end", x - 4.0),
                _ if bound_fits => (bound_text.clone(), "start", x + 4.0),
                _ => continue,
            };
            let _ = writeln!(
                out,
                r#"<text class="{class}-label" x="{at:.2}" y="{markers_y:.1}" font-size="11" text-anchor="{anchor}" fill="{colour}">{text}</text>"#
            );
        }

        // The time axis.
        let axis = bottom + 4.0;
        let _ = writeln!(
            out,
            r##"<line x1="{X0}" y1="{axis:.1}" x2="{X1}" y2="{axis:.1}" stroke="#333"/>"##
        );
        let (step, decimals) = tick_step(self.t1 - self.t0);
        let mut k = (self.t0 / step).ceil();
        while k * step <= self.t1 + step * 1e-9 {
            let t = k * step;
            let x = self.x(t);
            let _ = writeln!(
                out,
                r##"<line class="tick" x1="{x:.2}" y1="{axis:.1}" x2="{x:.2}" y2="{:.1}" stroke="#333"/><text x="{x:.2}" y="{:.1}" font-size="11" text-anchor="middle">{t:.decimals$} s</text>"##,
                axis + 5.0,
                axis + 17.0
            );
            k += 1.0;
        }
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#444">simulated time (seconds)</text>"##,
            (X0 + X1) / 2.0,
            axis + 32.0
        );
        let _ = writeln!(out, "</g>");
        axis + 40.0 - y
    }
}

fn legend(out: &mut String, p: &Picture, y: f64) -> f64 {
    let _ = writeln!(out, r#"<g id="legend">"#);
    let _ = writeln!(
        out,
        r#"<text x="20" y="{:.1}" font-size="12" font-weight="bold">Legend</text>"#,
        y + 12.0
    );
    let swatch_y = y + 22.0;
    let mut x = 20.0;
    let items: [(&str, &str); 4] = [
        (
            State::Fresh.colour(),
            "fresh: B hears A and A is told it is heard",
        ),
        (State::Stale.colour(), "stale: was fresh, is not now"),
        (State::NeverUp.colour(), "never up: no session yet"),
        (
            "url(#hatch)",
            "fault window (also the dark strip atop each panel)",
        ),
    ];
    for (fill, text) in items {
        let _ = writeln!(
            out,
            r##"<rect class="legend-swatch" x="{x:.1}" y="{swatch_y:.1}" width="22" height="12" fill="{fill}" stroke="#888" stroke-width="0.5"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"##,
            x + 28.0,
            swatch_y + 10.0,
            esc(text)
        );
        x += 28.0 + text.len() as f64 * 6.1 + 18.0;
    }
    let line_y = swatch_y + 26.0;
    let _ = writeln!(
        out,
        r##"<line x1="20" y1="{line_y:.1}" x2="42" y2="{line_y:.1}" stroke="#1565c0" stroke-width="2"/><text x="48" y="{:.1}" font-size="11">heal: the last fault ends ({:.2} s); recovery is measured from here</text>"##,
        line_y + 4.0,
        p.heal
    );
    let _ = writeln!(
        out,
        r##"<line x1="520" y1="{line_y:.1}" x2="542" y2="{line_y:.1}" stroke="#6a1b9a" stroke-width="2" stroke-dasharray="6 3"/><text x="548" y="{:.1}" font-size="11">bound: heal + recovery bound ({:.3} s); every row must be green by then</text>"##,
        line_y + 4.0,
        p.bound
    );
    let _ = writeln!(
        out,
        r#"<text x="20" y="{:.1}" font-size="11">{}</text>"#,
        line_y + 22.0,
        esc(&p.row_scheme)
    );
    let _ = writeln!(out, "</g>");
    line_y + 32.0 - y
}

/// The picture as an SVG document.
pub fn render(p: &Picture) -> String {
    let mut body = String::new();
    let _ = writeln!(
        body,
        r#"<text x="20" y="24" font-size="16" font-weight="bold">{}</text>"#,
        esc(&p.title)
    );
    let _ = writeln!(
        body,
        r##"<text x="20" y="42" font-size="12" fill="#333">{}</text>"##,
        esc(&p.subtitle)
    );
    let mut y = 52.0;
    let zoom = zoom_range(p);
    let whole = Panel {
        p,
        t0: 0.0,
        t1: p.end.max(1e-3),
    };
    y += whole.draw(
        &mut body,
        "overview",
        &format!("Whole run: 0 to {:.0} s", p.end),
        y,
        zoom,
    );
    if let Some((t0, t1)) = zoom {
        let panel = Panel { p, t0, t1 };
        y += panel.draw(
            &mut body,
            "zoom",
            &format!("Zoomed in around the heal: {t0:.1} to {t1:.1} s (the orange box above)"),
            y + 8.0,
            None,
        ) + 8.0;
    }
    y += legend(&mut body, p, y + 4.0) + 4.0;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y:.0}" viewBox="0 0 {WIDTH} {y:.0}" font-family="DejaVu Sans, Verdana, sans-serif">
<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#000" fill-opacity="0.10"/><line x1="0" y1="0" x2="0" y2="6" stroke="#000" stroke-width="2" stroke-opacity="0.45"/></pattern></defs>
<rect width="100%" height="100%" fill="#fff"/>
{body}</svg>
"##
    )
}
