//! Charts drawn on the server as SVG from real figures: bars for a few
//! dozen points, a line past that (48 hours per minute is 2,880 points).
//! Presentation attributes only, no `style` (the CSP forbids inline
//! styles); each chart carries a title for screen readers, and the pages
//! put the figures in a table beside it.

use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 8.0;

/// One point: its label on the x axis and its value.
pub struct Point {
    /// "12 Dec", "14:05".
    pub label: String,
    /// The figure.
    pub value: f64,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The smallest "round" number (1, 2 or 5 times a power of ten) >= `max`.
fn nice(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * power)
}

/// A count on an axis: whole numbers plainly, fractions of a step with
/// one decimal.
pub fn count(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// An SVG chart of `points` titled `title`; `unit` formats the axis.
pub fn svg(title: &str, points: &[Point], class: &str, unit: impl Fn(f64) -> String) -> String {
    let mut svg = String::new();
    let top_value = nice(points.iter().map(|p| p.value).fold(0.0, f64::max));
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - BOTTOM - TOP;
    let y = |v: f64| TOP + plot_h - v / top_value * plot_h;
    let _ = write!(
        svg,
        r#"<svg class="chart {class}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}" preserveAspectRatio="xMinYMin meet"><title>{}</title>"#,
        escape(title),
        escape(title)
    );
    for step in 0..=4 {
        let v = top_value * f64::from(step) / 4.0;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}"/><text class="axis" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - 8.0,
            y(v),
            y(v),
            LEFT - 6.0,
            y(v) + 4.0,
            escape(&unit(v))
        );
    }
    let n = points.len().max(1) as f64;
    let slot = plot_w / n;
    if points.len() <= 120 {
        let width = (slot * 0.7).min(40.0);
        for (i, point) in points.iter().enumerate() {
            let x = LEFT + slot * (i as f64 + 0.5) - width / 2.0;
            let _ = write!(
                svg,
                r#"<rect class="bar" x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{}: {}</title></rect>"#,
                y(point.value),
                width,
                (TOP + plot_h - y(point.value)).max(0.0),
                escape(&point.label),
                escape(&unit(point.value))
            );
        }
    } else {
        let path: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", LEFT + slot * (i as f64 + 0.5), y(p.value)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="line" fill="none" points="{}"/>"#,
            path.join(" ")
        );
    }
    // A handful of x labels, evenly spread.
    let every = (points.len() / 6).max(1);
    for (i, point) in points.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let _ = write!(
            svg,
            r#"<text class="axis" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            LEFT + slot * (i as f64 + 0.5),
            HEIGHT - 6.0,
            escape(&point.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_a_round_top_and_labels_are_escaped() {
        let points = vec![
            Point {
                label: "1 Dec".into(),
                value: 3.0,
            },
            Point {
                label: "<2 Dec>".into(),
                value: 7.0,
            },
        ];
        let svg = svg("Sales", &points, "sales", |v| format!("{v}"));
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 2);
        assert!(svg.contains("&lt;2 Dec&gt;"));
        assert!(!svg.contains("style="));
        // The top of the axis is 10 (the round number above 7).
        assert!(svg.contains(">10</text>"));
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(120.0), 200.0);
    }

    #[test]
    fn many_points_draw_a_line() {
        let points: Vec<Point> = (0..2880)
            .map(|i| Point {
                label: format!("{i}"),
                value: f64::from(i % 7),
            })
            .collect();
        let svg = svg("Throughput", &points, "ops", |v| format!("{v}"));
        assert!(svg.contains("<polyline"));
        assert!(!svg.contains("<rect class=\"bar\""));
    }
}
