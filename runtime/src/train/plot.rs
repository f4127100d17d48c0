//! Learning curves: `History` drawn with `plotters`, one panel per metric
//! (training and validation lines, axes, legend, epochs on x), as the
//! tutorials' `plot_learning_curves` shows them.
//!
//! Text is drawn with `ab_glyph` from DejaVu Sans embedded in the library
//! (`runtime/fonts/`, with its license), so plotting needs no system font
//! library.

use super::history::History;
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const FONT: &str = "sans-serif";
const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
const VAL_COLOR: RGBColor = RGBColor(255, 127, 14);

/// Registers the embedded font with plotters once.
fn register_font() -> Result<()> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, include_bytes!("../../fonts/DejaVuSans.ttf")).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument { name: "font", reason: "the embedded DejaVu Sans font could not be read".into() })
    }
}

/// One panel: a metric's training and validation series.
struct Panel<'h> {
    name: &'h str,
    train: Option<&'h [f32]>,
    val: Option<&'h [f32]>,
}

/// The largest width or height of a plot, in pixels.
const MAX_SIDE: u32 = 16_384;

impl History {
    /// The panels: each name without `val_`, with its `val_` series beside it.
    fn panels(&self) -> Vec<Panel<'_>> {
        let mut panels = Vec::new();
        for (name, values) in self.series() {
            match name.strip_prefix("val_") {
                Some(base) if self.get(base).is_some() => {}
                Some(base) => panels.push(Panel { name: base, train: None, val: Some(values) }),
                None => panels.push(Panel { name, train: Some(values), val: self.get(&format!("val_{name}")) }),
            }
        }
        panels
    }

    fn check_plot(&self, size: (u32, u32)) -> Result<()> {
        if self.epochs.is_empty() {
            return Err(Error::InvalidArgument { name: "history", reason: "has no epochs to plot".into() });
        }
        if size.0 < 200 || size.1 < 150 {
            return Err(Error::InvalidArgument {
                name: "size",
                reason: format!("must be at least 200×150 pixels, but is {}×{}", size.0, size.1),
            });
        }
        // An image's RGB buffer is allocated whole: past a bound no screen or
        // page needs, a size would only exhaust memory (an abort, not an error).
        if size.0 > MAX_SIDE || size.1 > MAX_SIDE {
            return Err(Error::InvalidArgument {
                name: "size",
                reason: format!("must be at most {MAX_SIDE}×{MAX_SIDE} pixels, but is {}×{}", size.0, size.1),
            });
        }
        register_font()
    }

    /// The learning curves as a PNG image of `size` = (width, height) pixels.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty history or a size under 200×150
    /// or over 16384×16384.
    pub fn to_png(&self, size: (u32, u32)) -> Result<Vec<u8>> {
        self.check_plot(size)?;
        let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
            self.draw(&root).map_err(drawing_error)?;
            root.present().map_err(drawing_error)?;
        }
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, size.0, size.1);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| drawing_error(e.to_string()))?;
        writer.write_image_data(&rgb).map_err(|e| drawing_error(e.to_string()))?;
        writer.finish().map_err(|e| drawing_error(e.to_string()))?;
        Ok(bytes)
    }

    /// The learning curves as an SVG document of `size` = (width, height).
    ///
    /// # Errors
    /// As [`History::to_png`].
    pub fn to_svg(&self, size: (u32, u32)) -> Result<String> {
        self.check_plot(size)?;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
            self.draw(&root).map_err(drawing_error)?;
            root.present().map_err(drawing_error)?;
        }
        Ok(svg)
    }

    /// Writes [`History::to_png`] to `path` (atomically).
    pub fn plot_png(&self, path: impl AsRef<Path>, size: (u32, u32)) -> Result<()> {
        let bytes = self.to_png(size)?;
        crate::io::write_atomically(path.as_ref(), |w| w.write_all(&bytes))
    }

    /// Writes [`History::to_svg`] to `path` (atomically).
    pub fn plot_svg(&self, path: impl AsRef<Path>, size: (u32, u32)) -> Result<()> {
        let svg = self.to_svg(size)?;
        crate::io::write_atomically(path.as_ref(), |w| w.write_all(svg.as_bytes()))
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let panels = self.panels();
        let cols = if panels.len() == 1 { 1 } else { 2 };
        let rows = panels.len().div_ceil(cols);
        let areas = root.split_evenly((rows, cols));
        // Epochs one-based on x, as Keras prints them ("Epoch 1/10").
        let xs: Vec<f64> = self.epochs.iter().map(|&e| e as f64 + 1.0).collect();
        let (first, last) = (xs[0], *xs.last().expect("checked non-empty"));
        // A margin so the end points' markers are not cut by the axes.
        let pad = (0.03 * (last - first)).max(0.25);
        let x_range = first - pad..last + pad;
        for (panel, area) in panels.iter().zip(&areas) {
            let points = |values: &[f32]| -> Vec<(f64, f64)> {
                (0..xs.len())
                    .filter_map(|row| self.value_at(values, row).map(|v| (xs[row], f64::from(v))))
                    .filter(|(_, v)| v.is_finite())
                    .collect()
            };
            let train = panel.train.map(points).unwrap_or_default();
            let val = panel.val.map(points).unwrap_or_default();
            let (lo, hi) = train
                .iter()
                .chain(&val)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, v)| (lo.min(v), hi.max(v)));
            let (lo, hi) = if lo > hi {
                (0.0, 1.0)
            } else if hi - lo < 1e-12 {
                (lo - 0.5 * lo.abs().max(1e-3), hi + 0.5 * hi.abs().max(1e-3))
            } else {
                let pad = 0.05 * (hi - lo);
                (lo - pad, hi + pad)
            };
            let mut chart = ChartBuilder::on(area)
                .caption(panel.name, (FONT, 20))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(x_range.clone(), lo..hi)?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc(panel.name)
                .x_labels(xs.len().clamp(2, 10))
                // Epochs are whole numbers: label only whole ticks.
                .x_label_formatter(&|x| if (x - x.round()).abs() < 1e-6 { format!("{x:.0}") } else { String::new() })
                .y_labels(6)
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 14))
                .light_line_style(WHITE.mix(0.0))
                .draw()?;
            for (series, color, label) in [(&train, TRAIN_COLOR, "training"), (&val, VAL_COLOR, "validation")] {
                if series.is_empty() {
                    continue;
                }
                chart
                    .draw_series(LineSeries::new(series.iter().copied(), color.stroke_width(2)))?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
                chart.draw_series(series.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
            }
            // The legend in the corner with the fewest points under it.
            let (x0, x1) = (x_range.start, x_range.end);
            let crowd = |right: bool, top: bool| {
                train
                    .iter()
                    .chain(&val)
                    .filter(|(x, y)| {
                        let (u, v) = ((x - x0) / (x1 - x0), (y - lo) / (hi - lo));
                        (if right { u > 0.6 } else { u < 0.4 }) && (if top { v > 0.7 } else { v < 0.3 })
                    })
                    .count()
            };
            let corners = [
                (SeriesLabelPosition::UpperRight, true, true),
                (SeriesLabelPosition::LowerRight, true, false),
                (SeriesLabelPosition::UpperLeft, false, true),
                (SeriesLabelPosition::LowerLeft, false, false),
            ];
            let position = corners
                .into_iter()
                .min_by_key(|&(_, right, top)| crowd(right, top))
                .map(|(p, _, _)| p)
                .expect("four corners");
            chart
                .configure_series_labels()
                .position(position)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .label_font((FONT, 13))
                .draw()?;
        }
        Ok(())
    }
}

fn drawing_error(e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument { name: "plot", reason: format!("drawing the learning curves failed: {e}") }
}
