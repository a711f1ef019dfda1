//! The benchmark plots: checkpoint pause against dirty pages, and periodic slowdown against dirty share.
//!
//! Drawn from the figures `cargo xtask bench` just measured into
//! `target/bench/checkpoint.svg`; a plot whose figures were not measured
//! (a filtered run) is left out.

use std::path::Path;

use bulkhead_scenarios::Measurement;
use plotters::prelude::*;

/// Dirty-page counts of `ckpt_incremental`'s pauses.
const PAUSE_PAGES: [u64; 4] = [1, 16, 256, 4096];
/// Periodic rates (Hz) and dirty shares (%) of the `ckpt_periodic_*` runs.
const RATES: [u64; 2] = [40, 100];
const SHARES: [u64; 4] = [1, 3, 10, 30];

fn figure(measurements: &[Measurement], name: &str) -> Option<f64> {
    measurements
        .iter()
        .find(|m| m.name == name)
        .map(|m| m.value)
}

/// A line's points, `None` unless every one was measured.
type Series = Vec<(f64, f64)>;

fn pause_series(measurements: &[Measurement]) -> Option<[(&'static str, Series); 3]> {
    let pause = PAUSE_PAGES
        .iter()
        .map(|&pages| {
            let value = figure(measurements, &format!("ckpt_incremental_pause_{pages}"))?;
            Some((pages as f64, value))
        })
        .collect::<Option<Series>>()?;
    let anchor = |name: &str| -> Option<Series> {
        let per_page = figure(measurements, name)?;
        Some(
            PAUSE_PAGES
                .iter()
                .map(|&pages| (pages as f64, per_page * pages as f64))
                .collect(),
        )
    };
    Some([
        ("Bulkhead checkpoint pause", pause),
        ("memcpy, 8 bytes a step", anchor("memcpy_4k")?),
        ("memcpy, 64 bytes a step (SIMD)", anchor("memcpy_4k_fast")?),
    ])
}

fn periodic_series(measurements: &[Measurement]) -> Option<Vec<(String, Series)>> {
    RATES
        .iter()
        .map(|&hz| {
            let points = SHARES
                .iter()
                .map(|&share| {
                    let name = format!("periodic_slowdown_{hz}hz_{share}pct");
                    Some((share as f64, figure(measurements, &name)?))
                })
                .collect::<Option<Series>>()?;
            Some((format!("{hz} Hz"), points))
        })
        .collect()
}

/// Each series as a line with its points marked, and the legend.
fn draw_lines<'a, DB, CT, L>(
    chart: &mut ChartContext<'a, DB, CT>,
    series: impl IntoIterator<Item = (L, Series)>,
    fail: &dyn Fn(&dyn std::fmt::Display) -> String,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: CoordTranslate<From = (f64, f64)>,
    L: Into<String>,
{
    let colors = [RED, BLUE, RGBColor(0, 150, 0)];
    for ((label, points), color) in series.into_iter().zip(colors) {
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| fail(&e))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )
            .map_err(|e| fail(&e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| fail(&e))
}

/// Draws what was measured into `path`; returns whether anything was drawn.
pub fn checkpoint_plots(measurements: &[Measurement], path: &Path) -> Result<bool, String> {
    let pauses = pause_series(measurements);
    let periodic = periodic_series(measurements);
    if pauses.is_none() && periodic.is_none() {
        return Ok(false);
    }
    let root = SVGBackend::new(path, (1200, 520)).into_drawing_area();
    let fail = |error: &dyn std::fmt::Display| format!("plot {}: {error}", path.display());
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let (left, right) = root.split_horizontally(600);
    if let Some(series) = pauses {
        let top = series
            .iter()
            .flat_map(|(_, points)| points.iter().map(|&(_, y)| y))
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(&left)
            .caption(
                "Checkpoint pause vs dirty pages (icount)",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (0.5f64..8192f64).log_scale(),
                (100f64..top * 2.0).log_scale(),
            )
            .map_err(|e| fail(&e))?;
        chart
            .configure_mesh()
            .x_desc("dirty 4 KiB pages")
            .y_desc("instructions")
            .draw()
            .map_err(|e| fail(&e))?;
        draw_lines(&mut chart, series, &fail)?;
    }
    if let Some(series) = periodic {
        let top = series
            .iter()
            .flat_map(|(_, points)| points.iter().map(|&(_, y)| y))
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(&right)
            .caption(
                "Periodic checkpoints: slowdown vs dirty share",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..32f64, 0f64..top * 1.15)
            .map_err(|e| fail(&e))?;
        chart
            .configure_mesh()
            .x_desc("memory dirtied per interval (%)")
            .y_desc("slowdown (%)")
            .draw()
            .map_err(|e| fail(&e))?;
        draw_lines(&mut chart, series, &fail)?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, value: f64) -> Measurement {
        Measurement {
            name: name.into(),
            value,
            unit: "instructions",
        }
    }

    #[test]
    fn draws_what_was_measured_only() {
        let dir = std::env::temp_dir().join(format!("bulkhead-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("checkpoint.svg");
        assert!(!checkpoint_plots(&[m("memcpy_4k", 2000.0)], &path).unwrap());
        assert!(!path.exists());
        let mut all = vec![m("memcpy_4k", 2079.0), m("memcpy_4k_fast", 391.0)];
        for pages in PAUSE_PAGES {
            all.push(m(
                &format!("ckpt_incremental_pause_{pages}"),
                23_000.0 + 1262.0 * pages as f64,
            ));
        }
        for hz in RATES {
            for share in SHARES {
                all.push(m(
                    &format!("periodic_slowdown_{hz}hz_{share}pct"),
                    share as f64 * hz as f64 / 40.0,
                ));
            }
        }
        assert!(checkpoint_plots(&all, &path).unwrap());
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(svg.contains("Checkpoint pause") && svg.contains("100 Hz"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
