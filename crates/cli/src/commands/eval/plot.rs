//! Plots of an evaluation report, PNG or SVG by file extension: the deferral curves of every
//! policy on the weak/strong pair and, with more than two models, the quality/cost plane with
//! every single model, the oracle and each policy's frontier. The font is compiled in, so plots
//! look the same on every machine.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::report::Report;

pub(crate) const FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
pub(crate) const FAMILY: &str = "sans-serif";

/// Checks that a plot can go to `path`, so a bad name fails before a long evaluation rather
/// than after it.
pub(crate) fn check_target(path: &Path) -> Result<()> {
    if !matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("png" | "svg")
    ) {
        bail!(
            "cannot tell the plot format of {}: name it *.png or *.svg",
            path.display()
        );
    }
    crate::commands::check_output_path(path)
}

/// Writes the plot; the extension (`.png` or `.svg`) picks the format.
pub fn write(report: &Report, path: &Path) -> Result<()> {
    check_target(path)?;
    register_font(FAMILY, FontStyle::Normal, FONT)
        .map_err(|_| anyhow!("the bundled plot font could not be loaded"))?;
    let panels = if report.frontiers.is_empty() { 1 } else { 2 };
    let size = (900 * panels, 640);
    let drawn = if path.extension().is_some_and(|e| e == "svg") {
        draw(SVGBackend::new(path, size).into_drawing_area(), report)
    } else {
        draw(BitMapBackend::new(path, size).into_drawing_area(), report)
    };
    drawn.with_context(|| format!("cannot write the plot to {}", path.display()))
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, report: &Report) -> Result<()> {
    root.fill(&WHITE).map_err(plot_error)?;
    if report.frontiers.is_empty() {
        deferral_panel(&root, report)?;
    } else {
        let (left, right) = root.split_horizontally(900);
        deferral_panel(&left, report)?;
        frontier_panel(&right, report)?;
    }
    root.present().map_err(plot_error)
}

fn deferral_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
) -> Result<()> {
    let pair = &report.pair;
    let mut low = pair.weak_quality.min(pair.strong_quality);
    let mut high = pair.weak_quality.max(pair.strong_quality);
    for entry in &report.policies {
        for point in &entry.sweep {
            low = low.min(point.quality);
            high = high.max(point.quality);
        }
    }
    let margin = (high - low).max(0.01) * 0.05;
    let caption = format!(
        "Deferral curves: {} -> {}",
        short(&pair.weak),
        short(&pair.strong)
    );
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FAMILY, 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..100.0, 100.0 * (low - margin)..100.0 * (high + margin))
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("calls to the strong model (%)")
        .y_desc("quality (%)")
        .label_style((FAMILY, 15))
        .draw()
        .map_err(plot_error)?;
    for (index, entry) in report.policies.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let points = entry
            .sweep
            .iter()
            .map(|p| (100.0 * p.strong_share, 100.0 * p.quality));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(plot_error)?
            .label(format!(
                "{} (APGR {:.3})",
                entry.summary.name, entry.summary.apgr
            ))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        if let Some(op) = &entry.summary.operating_point {
            chart
                .draw_series(std::iter::once(Circle::new(
                    (100.0 * op.strong_share, 100.0 * op.quality),
                    6,
                    color.filled(),
                )))
                .map_err(plot_error)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FAMILY, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)
}

fn frontier_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
) -> Result<()> {
    let per_1k = |cost: f64| (1000.0 * cost).max(1e-6);
    let mut costs: Vec<f64> = report.models.iter().map(|m| per_1k(m.cost)).collect();
    let mut qualities: Vec<f64> = report.models.iter().map(|m| m.quality).collect();
    costs.push(per_1k(report.oracle.cost));
    qualities.push(report.oracle.quality);
    for frontier in &report.frontiers {
        costs.extend(frontier.points.iter().map(|p| per_1k(p.cost)));
        qualities.extend(frontier.points.iter().map(|p| p.quality));
    }
    let (cost_low, cost_high) = bounds(&costs);
    let (quality_low, quality_high) = bounds(&qualities);
    let margin = (quality_high - quality_low).max(0.01) * 0.05;
    let mut chart = ChartBuilder::on(area)
        .caption("Quality against cost, every model", (FAMILY, 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (cost_low / 1.5..cost_high * 4.0).log_scale(),
            100.0 * (quality_low - margin)..100.0 * (quality_high + margin),
        )
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("USD per 1k prompts (log scale)")
        .y_desc("quality (%)")
        .label_style((FAMILY, 15))
        .draw()
        .map_err(plot_error)?;
    for (index, frontier) in report.frontiers.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let points: Vec<(f64, f64)> = frontier
            .points
            .iter()
            .map(|p| (per_1k(p.cost), 100.0 * p.quality))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(plot_error)?
            .label(frontier.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )
            .map_err(plot_error)?;
    }
    let text = (FAMILY, 13).into_font();
    chart
        .draw_series(report.models.iter().map(|m| {
            EmptyElement::at((per_1k(m.cost), 100.0 * m.quality))
                + TriangleMarker::new((0, 0), 6, BLACK.filled())
                + Text::new(short(&m.name).to_owned(), (6, -4), text.clone())
        }))
        .map_err(plot_error)?;
    chart
        .draw_series(std::iter::once(
            EmptyElement::at((per_1k(report.oracle.cost), 100.0 * report.oracle.quality))
                + Cross::new((0, 0), 7, RED.stroke_width(3))
                + Text::new("oracle", (8, -4), text.clone()),
        ))
        .map_err(plot_error)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperMiddle)
        .label_font((FAMILY, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)
}

fn bounds(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// A model name without its organisation prefix, to keep labels short.
fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

pub(crate) fn plot_error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the plot failed: {error}")
}
