//! Presenting results: the terminal table, the table section of `BENCHMARKS.md`, and the
//! SVG bar chart of trio-rs's ratios (hand-written SVG text).

use std::fmt::Write as _;
use std::path::Path;

use crate::harness::{Row, Unit};

/// Marks the start of the generated section in `BENCHMARKS.md`.
pub const START: &str = "<!-- bench-table:start (written by `cargo xtask bench`) -->";
/// Marks its end.
pub const END: &str = "<!-- bench-table:end -->";

fn figure(v: Option<f64>, unit: Unit) -> String {
    match v {
        None => "–".into(),
        Some(v) if unit == Unit::MbPerSec => format!("{v:.0}"),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

fn ratio(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{r:.2}"))
}

fn verdict(row: &Row) -> &'static str {
    match row.met() {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "–",
    }
}

/// The table as Markdown (also printed to the terminal).
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from(
        "| workload | unit | trio-rs | tokio | smol | ratio | target | met | notes |\n\
         |---|---|---:|---:|---:|---:|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.unit.label(),
            figure(r.medians[0], r.unit),
            figure(r.medians[1], r.unit),
            figure(r.medians[2], r.unit),
            ratio(r.ratio()),
            r.target,
            verdict(r),
            r.note
        );
    }
    s
}

/// Replaces the generated section of the Markdown file at `path` (appending it if the
/// markers are missing).
pub fn write_markdown(path: &Path, rows: &[Row], header: &str) -> std::io::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let section = format!("{START}\n{header}\n\n{}{END}", markdown(rows));
    let new = match (old.find(START), old.find(END)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{section}{}", &old[..a], &old[b + END.len()..])
        }
        _ => format!("{old}\n{section}\n"),
    };
    std::fs::write(path, new)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A horizontal bar per workload: trio-rs's ratio to the best peer, with the 1.0 line
/// and the target marked; green where the target holds, red where it does not.
pub fn svg(rows: &[Row], subtitle: &str) -> String {
    let rows: Vec<&Row> = rows.iter().filter(|r| r.ratio().is_some()).collect();
    let label_w = 300.0;
    let bar_w = 420.0;
    let row_h = 26.0;
    let top = 56.0;
    let width = label_w + bar_w + 90.0;
    let height = top + row_h * rows.len() as f64 + 40.0;
    let max = rows
        .iter()
        .filter_map(|r| r.ratio())
        .fold(2.0f64, f64::max)
        .min(4.0) // larger ratios are clipped (and say so) so the rest stay readable
        * 1.05;
    let x = |v: f64| label_w + bar_w * (v.min(max) / max);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="16" font-weight="bold">trio-rs ÷ faster of tokio and smol (median; time: lower is better, MB/s: higher)</text>"#
    );
    let _ = writeln!(
        s,
        r##"<text x="10" y="42" fill="#555">{}</text>"##,
        escape(subtitle)
    );
    for (i, r) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let ratio = r.ratio().expect("filtered");
        let colour = match r.met() {
            Some(true) => "#2e8b57",
            Some(false) => "#c0392b",
            None => "#7f8c8d",
        };
        let _ = writeln!(
            s,
            r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{} ({})</text>"#,
            label_w - 8.0,
            y + 17.0,
            escape(&r.name),
            r.unit.label()
        );
        let _ = writeln!(
            s,
            r#"<rect x="{label_w:.0}" y="{:.0}" width="{:.1}" height="{:.0}" fill="{colour}"/>"#,
            y + 4.0,
            x(ratio) - label_w,
            row_h - 8.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.0}">{ratio:.2}{}</text>"#,
            x(ratio) + 4.0,
            y + 17.0,
            if ratio > max { " (clipped)" } else { "" }
        );
        let target = match r.target {
            crate::harness::Target::RatioAtMost(t) | crate::harness::Target::RatioAtLeast(t) => {
                Some(t)
            }
            _ => None,
        };
        if let Some(t) = target {
            let _ = writeln!(
                s,
                r#"<line x1="{0:.1}" x2="{0:.1}" y1="{1:.0}" y2="{2:.0}" stroke="black" stroke-width="2"/>"#,
                x(t),
                y + 1.0,
                y + row_h - 1.0
            );
        }
    }
    let bottom = top + row_h * rows.len() as f64;
    let _ = writeln!(
        s,
        r#"<line x1="{0:.1}" x2="{0:.1}" y1="{1:.0}" y2="{2:.0}" stroke="black" stroke-dasharray="4 3"/>"#,
        x(1.0),
        top - 4.0,
        bottom + 4.0
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.0}" text-anchor="middle" fill="#555">1.0 = parity; black tick = target</text>"##,
        x(1.0),
        bottom + 22.0
    );
    s.push_str("</svg>\n");
    s
}
