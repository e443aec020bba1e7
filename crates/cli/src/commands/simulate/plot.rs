//! The simulation's plot, PNG or SVG: strong share and quality by window of the stream, one
//! line per policy, with the strong-share target when there is one.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::report::{PolicyReport, Report};
use crate::commands::eval::plot::{FAMILY, FONT, plot_error};

pub(crate) use crate::commands::eval::plot::check_target;

pub fn write(report: &Report, path: &Path) -> Result<()> {
    check_target(path)?;
    register_font(FAMILY, FontStyle::Normal, FONT)
        .map_err(|_| anyhow!("the bundled plot font could not be loaded"))?;
    let size = (1400, 600);
    let drawn = if path.extension().is_some_and(|e| e == "svg") {
        draw(SVGBackend::new(path, size).into_drawing_area(), report)
    } else {
        draw(BitMapBackend::new(path, size).into_drawing_area(), report)
    };
    drawn.with_context(|| format!("cannot write the plot to {}", path.display()))
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, report: &Report) -> Result<()> {
    root.fill(&WHITE).map_err(plot_error)?;
    let (left, right) = root.split_horizontally(700);
    panel(&left, report, "strong share by window", |w| w.strong_share)?;
    panel(&right, report, "quality by window", |w| w.quality)?;
    root.present().map_err(plot_error)
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    title: &str,
    value: fn(&super::report::Window) -> f64,
) -> Result<()> {
    let end = report.requests as f64;
    let values = || {
        report
            .policies
            .iter()
            .flat_map(|p| p.windows.iter().map(value))
    };
    // Shares on the whole 0-1 scale, so that plots of two runs compare at a glance.
    let share = title.starts_with("strong");
    let low = if share {
        0.0
    } else {
        values().fold(f64::INFINITY, f64::min).min(1.0)
    };
    let high = if share {
        1.0
    } else {
        values().fold(f64::NEG_INFINITY, f64::max).max(0.0)
    };
    let margin = (high - low).max(0.02) * 0.04;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{title} ({} order)", report.order.as_str()),
            (FAMILY, 20),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..end, (low - margin)..(high + margin))
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("requests")
        .label_style((FAMILY, 14))
        .draw()
        .map_err(plot_error)?;
    if let (Some(target), true) = (report.strong_share_target, share) {
        chart
            .draw_series(LineSeries::new(
                [(0.0, target), (end, target)],
                BLACK.mix(0.5).stroke_width(1),
            ))
            .map_err(plot_error)?
            .label(format!("target {target}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.mix(0.5)));
    }
    for (index, policy) in report.policies.iter().enumerate() {
        draw_policy(&mut chart, index, policy, value)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)
}

fn draw_policy<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    index: usize,
    policy: &PolicyReport,
    value: fn(&super::report::Window) -> f64,
) -> Result<()> {
    let color = Palette99::pick(index).to_rgba();
    let points = policy
        .windows
        .iter()
        .map(|w| ((w.start + w.end) as f64 / 2.0, value(w)));
    chart
        .draw_series(LineSeries::new(points, color.stroke_width(2)))
        .map_err(plot_error)?
        .label(policy.name.clone())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    Ok(())
}
