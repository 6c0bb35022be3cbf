//! SVG charts of a run, for `docs/benchmarks.md`: what people would rather
//! see than read. One file per chart, written by `--charts DIR`:
//! - `latency-<scenario>.svg`: the distribution of publish-to-receive
//!   latency of each system (percent of deliveries at or below a latency,
//!   logarithmic in latency so the tail shows);
//! - `deliveries.svg`: deliveries per second of each system in each
//!   fan-out scenario;
//! - `idle-memory.svg`: server memory per idle connection.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;

use super::fanout::FanoutResult;
use super::idle::IdleResult;
use super::report::Results;
use super::stats::CDF_STEPS;

const SIZE: (u32, u32) = (720, 420);
const FONT: &str = "sans-serif";
/// One colour per system, in the order systems appear in a run.
const PALETTE: [RGBColor; 5] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
];

/// Writes every chart the run has data for into `dir`; returns the files.
pub fn write_all(dir: &Path, results: &Results) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    let scenarios = [
        ("fanout", "Fan-out, publishers unpaced", &results.fanout),
        ("paced", "Fan-out at equal load (paced)", &results.paced),
        (
            "scale-out",
            "Scale-out over Redis, unpaced",
            &results.cluster,
        ),
    ];
    for (file, title, runs) in scenarios {
        if runs.is_empty() {
            continue;
        }
        let name = format!("latency-{file}.svg");
        latency_chart(&dir.join(&name), title, runs)?;
        written.push(name);
    }
    let bars: Vec<(String, f64)> = scenarios
        .iter()
        .flat_map(|(file, _, runs)| {
            runs.iter()
                .map(move |r| (format!("{file}: {}", r.system), r.deliveries_per_s))
        })
        .collect();
    if !bars.is_empty() {
        bar_chart(
            &dir.join("deliveries.svg"),
            "Deliveries per second (higher is better)",
            "deliveries/s",
            &bars,
        )?;
        written.push("deliveries.svg".into());
    }
    if !results.idle.is_empty() {
        let bars: Vec<(String, f64)> = results
            .idle
            .iter()
            .map(|r: &IdleResult| (r.system.to_owned(), r.per_connection() / 1024.0))
            .collect();
        bar_chart(
            &dir.join("idle-memory.svg"),
            &format!(
                "Server memory per idle connection, {} connections (lower is better)",
                results.idle[0].spec.connections
            ),
            "KiB",
            &bars,
        )?;
        written.push("idle-memory.svg".into());
    }
    Ok(written)
}

fn failed(err: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing a chart: {err}")
}

/// Percent of deliveries (y) at or below a latency (x, ms, log scale).
fn latency_chart(path: &Path, title: &str, runs: &[FanoutResult]) -> Result<()> {
    let ms = |ns: u64| (ns as f64 / 1e6).max(0.01);
    let max_ms = runs
        .iter()
        .map(|r| ms(r.summary.max_ns))
        .fold(1.0, f64::max);
    let min_ms = runs
        .iter()
        .filter_map(|r| r.summary.cdf_ns.first().copied())
        .map(ms)
        .fold(max_ms, f64::min);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(failed)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((min_ms * 0.8..max_ms * 1.25).log_scale(), 0f64..100f64)
        .map_err(failed)?;
    chart
        .configure_mesh()
        .x_desc("publish → receive latency, ms (log scale)")
        .y_desc("% of deliveries at or below")
        .draw()
        .map_err(failed)?;
    for (run, colour) in runs.iter().zip(PALETTE.iter().cycle()) {
        let points = run
            .summary
            .cdf_ns
            .iter()
            .enumerate()
            .map(|(step, ns)| (ms(*ns), 100.0 * (step + 1) as f64 / CDF_STEPS as f64));
        let colour = *colour;
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(failed)?
            .label(format!(
                "{}: p50 {:.1} ms, p99 {:.1} ms",
                run.system,
                ms(run.summary.p50_ns),
                ms(run.summary.p99_ns)
            ))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(failed)?;
    root.present().map_err(failed)
}

/// One horizontal bar per `(label, value)`.
fn bar_chart(path: &Path, title: &str, unit: &str, bars: &[(String, f64)]) -> Result<()> {
    let max = bars
        .iter()
        .map(|(_, value)| *value)
        .fold(0.0, f64::max)
        .max(1e-9);
    let height = SIZE.1.max(90 + 34 * bars.len() as u32);
    let root = SVGBackend::new(path, (SIZE.0, height)).into_drawing_area();
    root.fill(&WHITE).map_err(failed)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(220)
        .build_cartesian_2d(0f64..max * 1.2, (0..bars.len()).into_segmented())
        .map_err(failed)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(unit)
        .x_label_formatter(&|value| format_value(*value))
        .y_label_formatter(&|segment| match segment {
            SegmentValue::CenterOf(row) => bars
                .get(bars.len().wrapping_sub(row + 1))
                .map(|(label, _)| label.clone())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .y_labels(bars.len())
        .draw()
        .map_err(failed)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(index, (label, value))| {
            let colour = PALETTE[colour_of(label, bars) % PALETTE.len()];
            // The first bar on top.
            let row = bars.len() - 1 - index;
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(row)),
                    (*value, SegmentValue::Exact(row + 1)),
                ],
                colour.filled(),
            );
            bar.set_margin(4, 4, 0, 0);
            bar
        }))
        .map_err(failed)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(index, (_, value))| {
            Text::new(
                format_value(*value),
                (
                    *value + max * 0.01,
                    SegmentValue::CenterOf(bars.len() - 1 - index),
                ),
                (FONT, 14),
            )
        }))
        .map_err(failed)?;
    root.present().map_err(failed)
}

/// The same system gets the same colour in every scenario.
fn colour_of(label: &str, bars: &[(String, f64)]) -> usize {
    let system = |label: &str| label.rsplit(": ").next().unwrap_or(label).to_owned();
    let mut systems: Vec<String> = Vec::new();
    for (other, _) in bars {
        let name = system(other);
        if !systems.contains(&name) {
            systems.push(name);
        }
    }
    let mine = system(label);
    systems.iter().position(|name| *name == mine).unwrap_or(0)
}

fn format_value(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::idle;

    #[test]
    fn a_system_keeps_its_colour_across_scenarios() {
        let bars: Vec<(String, f64)> = ["fanout: malten", "fanout: redis", "paced: malten"]
            .iter()
            .map(|label| (label.to_string(), 1.0))
            .collect();
        assert_eq!(colour_of("paced: malten", &bars), 0);
        assert_eq!(colour_of("fanout: redis", &bars), 1);
    }

    #[test]
    fn the_idle_memory_chart_shows_each_system_and_its_figure() {
        let spec = idle::Spec {
            connections: 100,
            streams: 1,
            deadline: tokio::time::Instant::now(),
        };
        let idle = |system, kib: u64| IdleResult {
            system,
            spec,
            rss_before: 0,
            rss_after: kib * 1024 * 100,
            peak: 0,
            connect_s: 0.0,
            connect_cpu_s: 0.0,
            wake: Default::default(),
        };
        let results = Results {
            idle: vec![
                idle("malten", 14),
                idle("malten websocket", 9),
                idle("redis", 10),
            ],
            ..Results::default()
        };
        let dir = std::env::temp_dir().join(format!("malten-charts-{}", std::process::id()));
        let written = write_all(&dir, &results).unwrap();
        assert_eq!(written, ["idle-memory.svg"]);
        let svg = std::fs::read_to_string(dir.join("idle-memory.svg")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(svg.starts_with("<svg"));
        for text in [
            "malten",
            "malten websocket",
            "redis",
            "14.00",
            "9.00",
            "KiB",
        ] {
            assert!(svg.contains(text), "{text} is drawn");
        }
    }
}
