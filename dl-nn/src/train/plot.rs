//! Training curves as a PNG: [`History::plot_png`].
//!
//! Drawn with plotters' bitmap backend. Text (titles, tick labels, legend)
//! is drawn with a small built-in pixel font instead of system fonts, so a
//! plot is written on any machine, fonts installed or not (the workspace
//! builds plotters without its `ttf` feature).

use super::error::TrainError;
use super::history::History;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Default image size of [`History::plot_png`], in pixels.
pub const PLOT_SIZE: (u32, u32) = (960, 420);

/// Colour of the training curves.
pub const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
/// Colour of the validation curves.
pub const VAL_COLOR: RGBColor = RGBColor(214, 39, 40);

const GRID: RGBColor = RGBColor(225, 225, 225);
const INK: RGBColor = RGBColor(40, 40, 40);

/// 5x7 glyphs, one `u8` per row, bit 4 = leftmost pixel. Covers what the
/// plot writes: digits, `.`, `-`, `+`, `e` and the letters of `loss`,
/// `accuracy`, `train`, `val`, `epoch`.
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        'a' => [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F],
        'c' => [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E],
        'e' => [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E],
        'h' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11],
        'i' => [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E],
        'l' => [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'n' => [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11],
        'o' => [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E],
        'p' => [0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10],
        'r' => [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10],
        's' => [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E],
        't' => [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06],
        'u' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D],
        'v' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'y' => [0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E],
        // Anything else: a hollow box, so a missing glyph is visible.
        ' ' => [0; 7],
        _ => [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F],
    }
}

/// Width in pixels of `text` at `scale`.
fn text_width(text: &str, scale: i32) -> i32 {
    (text.chars().count() as i32 * 6 - 1).max(0) * scale
}

/// Draws `text` with its top-left corner at `(x, y)`.
fn draw_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    (x, y): (i32, i32),
    scale: i32,
    color: &RGBColor,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (k, c) in text.chars().enumerate() {
        let x0 = x + k as i32 * 6 * scale;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    let px = x0 + col * scale;
                    let py = y + row as i32 * scale;
                    area.draw(&Rectangle::new([(px, py), (px + scale, py + scale)], color.filled()))?;
                }
            }
        }
    }
    Ok(())
}

/// A tick label: few significant digits, no trailing zeros.
fn tick_label(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() >= 1e5 || v.abs() < 1e-3 {
        return format!("{v:.1e}");
    }
    let decimals = (-step.log10()).ceil().clamp(0.0, 6.0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Up to about `n` "nice" ticks (1, 2, 5 times a power of ten) covering `lo..hi`.
fn nice_ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64) {
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    ((first..=last).map(|i| i as f64 * step).collect(), step)
}

struct Series<'a> {
    name: &'a str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

fn draw_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[Series<'_>],
    epochs: usize,
    legend_top: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let ys: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).collect();
    let (mut lo, mut hi) = ys
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| (a.min(y), b.max(y)));
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    let pad = 0.06 * (hi - lo);
    let (lo, hi) = (lo - pad, hi + pad);
    let (x_lo, x_hi) = (0.5, epochs as f64 + 0.5);

    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .margin_top(34)
        .x_label_area_size(30)
        .y_label_area_size(64)
        .build_cartesian_2d(x_lo..x_hi, lo..hi)?;

    let (y_ticks, y_step) = nice_ticks(lo, hi, 6);
    let x_step = (epochs as f64 / 8.0).ceil().max(1.0) as usize;
    let x_ticks: Vec<usize> = (1..=epochs).filter(|e| (e - 1) % x_step == 0).collect();
    for &y in &y_ticks {
        chart.draw_series(LineSeries::new([(x_lo, y), (x_hi, y)], GRID.stroke_width(1)))?;
    }
    for &x in &x_ticks {
        chart.draw_series(LineSeries::new([(x as f64, lo), (x as f64, hi)], GRID.stroke_width(1)))?;
    }
    // Axes: the plotting area's frame.
    chart.draw_series(LineSeries::new(
        [(x_lo, lo), (x_hi, lo), (x_hi, hi), (x_lo, hi), (x_lo, lo)],
        INK.stroke_width(1),
    ))?;
    for s in series {
        chart.draw_series(LineSeries::new(s.points.iter().copied(), s.color.stroke_width(2)))?;
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, s.color.filled())))?;
    }

    // Text, in backend pixels.
    let (left, top) = chart.backend_coord(&(x_lo, hi));
    let (right, bottom) = chart.backend_coord(&(x_hi, lo));
    for &y in &y_ticks {
        let label = tick_label(y, y_step);
        let (_, py) = chart.backend_coord(&(x_lo, y));
        draw_text(root, &label, (left - 6 - text_width(&label, 1), py - 3), 1, &INK)?;
    }
    for &x in &x_ticks {
        let label = x.to_string();
        let (px, _) = chart.backend_coord(&(x as f64, lo));
        draw_text(root, &label, (px - text_width(&label, 1) / 2, bottom + 6), 1, &INK)?;
    }
    draw_text(
        root,
        "epoch",
        ((left + right) / 2 - text_width("epoch", 1) / 2, bottom + 18),
        1,
        &INK,
    )?;
    draw_text(
        root,
        title,
        ((left + right) / 2 - text_width(title, 2) / 2, top - 24),
        2,
        &INK,
    )?;
    // Legend inside the frame, on the right, away from where the curves
    // usually are (top for losses, bottom for accuracies), on white.
    let shown: Vec<&Series<'_>> = series.iter().filter(|s| !s.points.is_empty()).collect();
    let name_w = shown.iter().map(|s| text_width(s.name, 1)).max().unwrap_or(0);
    let box_h = 14 * shown.len() as i32 + 6;
    let (bx1, by0) = (right - 6, if legend_top { top + 6 } else { bottom - 6 - box_h });
    let bx0 = bx1 - name_w - 36;
    if !shown.is_empty() {
        root.draw(&Rectangle::new([(bx0, by0), (bx1, by0 + box_h)], WHITE.filled()))?;
        root.draw(&Rectangle::new([(bx0, by0), (bx1, by0 + box_h)], GRID.stroke_width(1)))?;
    }
    for (k, s) in shown.iter().enumerate() {
        let (lx, ly) = (bx0 + 6, by0 + 5 + 14 * k as i32);
        root.draw(&Rectangle::new([(lx, ly + 2), (lx + 18, ly + 4)], s.color.filled()))?;
        draw_text(root, s.name, (lx + 24, ly), 1, &s.color)?;
    }
    Ok(())
}

impl History {
    /// Writes the training curves to a PNG at `path`, 960 x 420 pixels:
    /// loss on the left, accuracy (a run on float targets: its binary
    /// accuracy or R²) on the right, training in blue and validation in
    /// red, one point per epoch. Non-finite figures are left out.
    ///
    /// # Errors
    /// [`TrainError::InvalidConfig`] for an empty history, [`TrainError::Io`]
    /// when the file cannot be written.
    pub fn plot_png(&self, path: impl AsRef<Path>) -> Result<(), TrainError> {
        self.plot_png_sized(path, PLOT_SIZE)
    }

    /// Like [`History::plot_png`], at `(width, height)` pixels (at least 200 x 120).
    ///
    /// # Errors
    /// As [`History::plot_png`], and [`TrainError::InvalidConfig`] for a size
    /// below the minimum.
    pub fn plot_png_sized(&self, path: impl AsRef<Path>, (width, height): (u32, u32)) -> Result<(), TrainError> {
        let path = path.as_ref();
        if self.epochs.is_empty() {
            return Err(TrainError::InvalidConfig("the history has no epoch to plot".into()));
        }
        if width < 200 || height < 120 {
            return Err(TrainError::InvalidConfig(format!(
                "plot size {width}x{height} is below the minimum 200x120"
            )));
        }
        let io = |e: String| TrainError::Io {
            path: path.display().to_string(),
            msg: e,
        };
        let pts = |f: &dyn Fn(&super::EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
            self.epochs
                .iter()
                .filter_map(|e| f(e).filter(|v| v.is_finite()).map(|v| (e.epoch as f64 + 1.0, v)))
                .collect()
        };
        // The training and validation curves of one panel.
        let curves = |train: &dyn Fn(&super::EpochRecord) -> Option<f64>,
                      val: &dyn Fn(&super::EpochRecord) -> Option<f64>| {
            [
                Series {
                    name: "train",
                    color: TRAIN_COLOR,
                    points: pts(train),
                },
                Series {
                    name: "val",
                    color: VAL_COLOR,
                    points: pts(val),
                },
            ]
        };
        let loss = curves(&|e| Some(e.train_loss), &|e| e.val_loss);
        // A run on float targets plots its first metric (binary accuracy,
        // else R²) in place of the accuracy.
        let metric = self
            .epochs
            .iter()
            .find_map(|e| e.train_metrics.primary())
            .map(|(m, _)| m);
        let acc = match metric {
            None => curves(&|e| Some(e.train_accuracy), &|e| e.val_accuracy),
            Some(m) => curves(&|e| e.train_metrics.get(m), &|e| e.val_metrics.get(m)),
        };
        let acc_title = metric.map_or("accuracy", |m| m.name());
        let epochs = self.epochs.iter().map(|e| e.epoch + 1).max().unwrap_or(1);
        let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
        let draw = || -> Result<(), DrawingAreaErrorKind<_>> {
            root.fill(&WHITE)?;
            let (l, r) = root.split_horizontally(width / 2);
            draw_panel(&root, &l, "loss", &loss, epochs, true)?;
            draw_panel(&root, &r, acc_title, &acc, epochs, false)?;
            root.present()
        };
        draw().map_err(|e| io(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::EpochRecord;

    fn history(n: usize, with_val: bool) -> History {
        History {
            epochs: (0..n)
                .map(|e| EpochRecord {
                    epoch: e,
                    train_loss: 2.0 / (e + 1) as f64,
                    train_accuracy: 1.0 - 0.5 / (e + 1) as f64,
                    val_loss: with_val.then(|| 2.2 / (e + 1) as f64),
                    val_accuracy: with_val.then(|| 1.0 - 0.6 / (e + 1) as f64),
                    lr: 0.1,
                    seconds: 0.1,
                    samples_per_sec: 100.0,
                    samples: 10,
                    skipped_steps: 0,
                    train_metrics: Default::default(),
                    val_metrics: Default::default(),
                })
                .collect(),
            stopped_early: None,
        }
    }

    fn decode(path: &Path) -> (u32, u32, Vec<u8>) {
        let dec = png::Decoder::new(std::fs::File::open(path).unwrap());
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn count(px: &[u8], c: RGBColor) -> usize {
        px.chunks_exact(3)
            .filter(|p| p[0] == c.0 && p[1] == c.1 && p[2] == c.2)
            .count()
    }

    #[test]
    fn png_is_written_decodes_and_shows_both_curves() {
        let dir = std::env::temp_dir().join(format!("dl-train-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("curves.png");
        history(7, true).plot_png(&path).unwrap();
        let (w, h, px) = decode(&path);
        assert_eq!((w, h), PLOT_SIZE);
        assert!(count(&px, TRAIN_COLOR) > 500, "train curve missing");
        assert!(count(&px, VAL_COLOR) > 500, "validation curve missing");
        assert!(count(&px, INK) > 200, "text and axes missing");
        // Without validation there is no red; a custom size is honoured.
        let path2 = dir.join("train-only.png");
        history(1, false).plot_png_sized(&path2, (400, 200)).unwrap();
        let (w, h, px) = decode(&path2);
        assert_eq!((w, h), (400, 200));
        assert!(count(&px, TRAIN_COLOR) > 0);
        assert_eq!(count(&px, VAL_COLOR), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn plot_errors_are_typed() {
        assert!(matches!(
            History::default().plot_png("unused.png"),
            Err(TrainError::InvalidConfig(_))
        ));
        assert!(matches!(
            history(2, true).plot_png_sized("unused.png", (10, 10)),
            Err(TrainError::InvalidConfig(_))
        ));
        let e = history(2, true)
            .plot_png("/nonexistent-dir-dl/x/curves.png")
            .unwrap_err();
        assert!(matches!(e, TrainError::Io { .. }), "{e}");
    }

    #[test]
    fn ticks_and_labels() {
        let (t, s) = nice_ticks(0.13, 0.97, 6);
        assert_eq!(s, 0.2);
        assert_eq!(t.len(), 4);
        assert!((t[0] - 0.2).abs() < 1e-12 && (t[3] - 0.8).abs() < 1e-12);
        assert_eq!(tick_label(0.4000000001, 0.2), "0.4");
        assert_eq!(tick_label(2.0, 1.0), "2");
        assert_eq!(tick_label(0.0, 0.5), "0");
        assert_eq!(tick_label(1.5e-4, 1e-4), "1.5e-4");
        assert_eq!(text_width("loss", 2), (4 * 6 - 1) * 2);
        assert_ne!(glyph('a'), glyph('?'));
    }
}
