//! SVG figures for the report sections: curves against depth (linear or logarithmic y axis) and
//! scatters of complex eigenvalues, in panels of one figure.
//!
//! Why a thin layer over `plotters`: every section draws the same few kinds of figures and they
//! should look alike (title, axis labels, legend, palette); a [`Figure`] is plain data, so callers
//! build it from their numbers and [`write_svg`] renders it atomically.
//!
//! Logarithmic axes are drawn by plotting `log10(y)` on a linear axis labelled in powers of ten;
//! points with `y ≤ 0` or non-finite `y` are left out (they have no place on a log axis) and
//! [`Panel::dropped_points`] says how many.

use anyhow::{anyhow, Result};
use eigenformer_io::write_atomic;
use num_complex::Complex64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Scale of a panel's y axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Linear axis.
    Linear,
    /// Base-10 logarithmic axis (non-positive values are dropped).
    Log,
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Connected line.
    Line,
    /// Unconnected filled circles.
    Points,
    /// Unconnected hollow circles (for points that should not hide others).
    HollowPoints,
    /// Line with a circle at each point.
    LinePoints,
}

/// One named series of `(x, y)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// How to draw them.
    pub mark: Mark,
}

impl Series {
    /// A line through `(x, y)` points.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            mark: Mark::Line,
        }
    }

    /// A line through `(i, y_i)` for `i = 0, 1, …` (e.g. a metric against layer index).
    pub fn against_index(name: impl Into<String>, ys: &[f64]) -> Self {
        Self::line(
            name,
            ys.iter().enumerate().map(|(i, &y)| (i as f64, y)).collect(),
        )
    }

    /// Complex numbers as points `(re, im)`.
    pub fn complex_points(name: impl Into<String>, values: &[Complex64], mark: Mark) -> Self {
        Self {
            name: name.into(),
            points: values.iter().map(|z| (z.re, z.im)).collect(),
            mark,
        }
    }
}

/// A circle drawn as a reference curve (e.g. `|z| = r` in a complex-plane panel).
#[derive(Debug, Clone, PartialEq)]
pub struct Circle {
    /// Legend entry.
    pub name: String,
    /// Centre `(x, y)`.
    pub centre: (f64, f64),
    /// Radius.
    pub radius: f64,
}

/// One chart: axes, labels and series.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Caption above the chart.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Scale of the y axis.
    pub y_scale: Scale,
    /// Fixed y range (in data units); default: fitted to the data.
    pub y_range: Option<(f64, f64)>,
    /// Give x and y the same range (complex-plane panels).
    pub equal_axes: bool,
    /// The series, drawn in order with the palette's colours.
    pub series: Vec<Series>,
    /// Reference circles (drawn dashed-grey-ish, after the series).
    pub circles: Vec<Circle>,
}

impl Panel {
    /// A panel of curves against depth (layer index on x).
    pub fn against_depth(
        title: impl Into<String>,
        y_label: impl Into<String>,
        scale: Scale,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: "layer".into(),
            y_label: y_label.into(),
            y_scale: scale,
            y_range: None,
            equal_axes: false,
            series: Vec::new(),
            circles: Vec::new(),
        }
    }

    /// A complex-plane panel (x = real part, y = imaginary part, equal ranges).
    pub fn complex_plane(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            x_label: "real part".into(),
            y_label: "imaginary part".into(),
            y_scale: Scale::Linear,
            y_range: None,
            equal_axes: true,
            series: Vec::new(),
            circles: Vec::new(),
        }
    }

    /// Adds a series (builder style).
    pub fn with(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// Adds a reference circle (builder style).
    pub fn with_circle(mut self, name: impl Into<String>, centre: (f64, f64), radius: f64) -> Self {
        self.circles.push(Circle {
            name: name.into(),
            centre,
            radius,
        });
        self
    }

    /// Number of points that cannot be drawn (non-finite, or `y ≤ 0` on a log axis).
    pub fn dropped_points(&self) -> usize {
        self.series
            .iter()
            .flat_map(|s| &s.points)
            .filter(|&&(x, y)| self.transform(x, y).is_none())
            .count()
    }

    fn transform(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let y = match self.y_scale {
            Scale::Linear => y,
            Scale::Log if y > 0.0 => y.log10(),
            Scale::Log => return None,
        };
        (x.is_finite() && y.is_finite()).then_some((x, y))
    }
}

/// A figure: a title over a grid of panels.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Caption of the whole figure.
    pub title: String,
    /// Panels, row-major.
    pub panels: Vec<Panel>,
    /// Panels per row.
    pub columns: usize,
    /// Size of one panel in pixels.
    pub panel_size: (u32, u32),
}

impl Figure {
    /// A figure with `columns` panels per row of 560×400 pixels each.
    pub fn new(title: impl Into<String>, columns: usize) -> Self {
        Self {
            title: title.into(),
            panels: Vec::new(),
            columns: columns.max(1),
            panel_size: (560, 400),
        }
    }

    /// Adds a panel (builder style).
    pub fn with(mut self, panel: Panel) -> Self {
        self.panels.push(panel);
        self
    }
}

/// Colour-blind-safe palette (Okabe–Ito), cycled.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

const TITLE_HEIGHT: u32 = 40;

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plotting failed: {e:?}")
}

/// Renders the figure as an SVG document.
pub fn render_svg(fig: &Figure) -> Result<String> {
    let columns = fig.columns.max(1);
    let rows = fig.panels.len().div_ceil(columns).max(1);
    let (pw, ph) = fig.panel_size;
    let size = (pw * columns as u32, ph * rows as u32 + TITLE_HEIGHT);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (title_area, body) = root.split_vertically(TITLE_HEIGHT);
        title_area
            .titled(&fig.title, ("sans-serif", 22))
            .map_err(plot_err)?;
        let areas = body.split_evenly((rows, columns));
        for (panel, area) in fig.panels.iter().zip(areas.iter()) {
            draw_panel(area, panel)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Renders the figure and writes it to `path` atomically.
pub fn write_svg(path: &Path, fig: &Figure) -> Result<()> {
    Ok(write_atomic(path, render_svg(fig)?.as_bytes())?)
}

/// `(lo, hi)` of the values, widened when degenerate.
fn fit_range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 * (1.0 + lo.abs().max(hi.abs())) {
        let w = 0.5 * (1.0 + lo.abs());
        return (lo - w, hi + w);
    }
    let m = pad * (hi - lo);
    (lo - m, hi + m)
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> Result<()> {
    let data: Vec<Vec<(f64, f64)>> = panel
        .series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .filter_map(|&(x, y)| panel.transform(x, y))
                .collect()
        })
        .collect();
    let circle_pts = |c: &Circle| -> Vec<(f64, f64)> {
        (0..=180)
            .map(|k| {
                let t = k as f64 / 180.0 * std::f64::consts::TAU;
                (
                    c.centre.0 + c.radius * t.cos(),
                    c.centre.1 + c.radius * t.sin(),
                )
            })
            .collect()
    };
    let circles: Vec<Vec<(f64, f64)>> = panel.circles.iter().map(circle_pts).collect();
    let all = || data.iter().chain(circles.iter()).flatten();
    let mut x_range = fit_range(all().map(|p| p.0), 0.03);
    let mut y_range = match panel.y_range {
        Some((lo, hi)) => match panel.y_scale {
            Scale::Linear => (lo, hi),
            Scale::Log => (lo.max(1e-300).log10(), hi.max(1e-300).log10()),
        },
        None => fit_range(all().map(|p| p.1), 0.05),
    };
    if panel.y_scale == Scale::Log {
        // Whole decades, so that the ticks fall on powers of ten.
        y_range = (
            y_range.0.floor(),
            y_range.1.ceil().max(y_range.0.floor() + 1.0),
        );
    }
    if panel.equal_axes {
        let lo = x_range.0.min(y_range.0);
        let hi = x_range.1.max(y_range.1);
        x_range = (lo, hi);
        y_range = (lo, hi);
    }
    let log = panel.y_scale == Scale::Log;
    let decades = (y_range.1 - y_range.0).round() as usize;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
        .map_err(plot_err)?;
    let y_fmt = |v: &f64| {
        if log {
            if (v - v.round()).abs() < 1e-9 {
                format!("1e{}", v.round() as i64)
            } else {
                format!("{:.1e}", 10f64.powf(*v))
            }
        } else {
            let a = v.abs();
            if a < 1e-9 * (y_range.1 - y_range.0).abs() {
                "0".to_string()
            } else if !(1e-3..1e4).contains(&a) {
                format!("{v:.0e}")
            } else {
                format!("{v:.3}")
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string()
            }
        }
    };
    let x_fmt = |v: &f64| {
        if (v - v.round()).abs() < 1e-9 && v.abs() < 1e6 {
            format!("{}", v.round() as i64)
        } else {
            format!("{v:.2}")
        }
    };
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .axis_desc_style(("sans-serif", 15))
        .label_style(("sans-serif", 13))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt);
    if log {
        mesh.y_labels(decades.clamp(2, 10) + 1);
    }
    mesh.draw().map_err(plot_err)?;

    for (k, (series, points)) in panel.series.iter().zip(&data).enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let style = color.stroke_width(2);
        let legend_style = style;
        match series.mark {
            Mark::Line | Mark::LinePoints => {
                chart
                    .draw_series(LineSeries::new(points.iter().copied(), style))
                    .map_err(plot_err)?
                    .label(series.name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], legend_style)
                    });
                if series.mark == Mark::LinePoints {
                    chart
                        .draw_series(
                            points
                                .iter()
                                .map(|&p| plotters::element::Circle::new(p, 3, color.filled())),
                        )
                        .map_err(plot_err)?;
                }
            }
            Mark::Points | Mark::HollowPoints => {
                let filled = series.mark == Mark::Points;
                let point_style = if filled {
                    color.filled()
                } else {
                    color.stroke_width(2)
                };
                let radius = if filled { 4 } else { 7 };
                chart
                    .draw_series(
                        points
                            .iter()
                            .map(move |&p| plotters::element::Circle::new(p, radius, point_style)),
                    )
                    .map_err(plot_err)?
                    .label(series.name.as_str())
                    .legend(move |(x, y)| {
                        plotters::element::Circle::new((x + 10, y), radius, point_style)
                    });
            }
        }
    }
    for (c, pts) in panel.circles.iter().zip(&circles) {
        let style = RGBColor(120, 120, 120).stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(pts.iter().copied(), 6, 4, style))
            .map_err(plot_err)?
            .label(c.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    if !panel.series.is_empty() || !panel.circles.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(plot_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_linear_log_and_complex_panels() {
        let fig = Figure::new("test figure", 2)
            .with(
                Panel::against_depth("cosine", "mean cosine", Scale::Linear)
                    .with(Series::against_index("cos", &[0.1, 0.5, 0.9, 0.99])),
            )
            .with(
                Panel::against_depth("ratios", "ratio", Scale::Log)
                    .with(Series::against_index("hc/dc", &[1.0, 1e-3, 1e-6, 0.0])),
            )
            .with(
                Panel::complex_plane("eigenvalues")
                    .with(Series::complex_points(
                        "mu",
                        &[Complex64::new(1.0, 0.5), Complex64::new(-0.3, 0.0)],
                        Mark::Points,
                    ))
                    .with_circle("|z| = 1", (0.0, 0.0), 1.0),
            );
        assert_eq!(fig.panels[1].dropped_points(), 1);
        let svg = render_svg(&fig).unwrap();
        assert!(svg.starts_with("<svg"));
        for text in [
            "test figure",
            "mean cosine",
            "hc/dc",
            "1e-6",
            "imaginary part",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
    }
}
