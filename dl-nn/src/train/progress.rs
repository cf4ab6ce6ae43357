//! Where `fit` reports progress: an indicatif bar per epoch on a terminal,
//! one plain line per epoch otherwise, or nothing.

use super::history::EpochRecord;
#[cfg(feature = "progress-bar")]
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Without the `progress-bar` feature there is no bar: `Progress::Bar` and
/// a terminal under `Progress::Auto` print the epoch lines instead.
#[cfg(not(feature = "progress-bar"))]
struct ProgressBar;

#[cfg(not(feature = "progress-bar"))]
impl ProgressBar {
    fn set_message(&self, _: String) {}
    fn inc(&self, _: u64) {}
    fn finish_and_clear(&self) {}
}
use std::io::{IsTerminal, Write};
#[cfg(feature = "progress-bar")]
use std::time::Duration;

/// The progress sink of `fit`. Reporting is best effort: a failed write to
/// the sink does not stop training.
#[derive(Default)]
pub enum Progress {
    /// A progress bar when standard error is a terminal, plain lines on
    /// standard error otherwise (the default).
    #[default]
    Auto,
    /// Always a progress bar on standard error (indicatif hides it when
    /// standard error is not a terminal).
    Bar,
    /// One line per epoch on standard error.
    Lines,
    /// One line per epoch into this writer (a log file, a buffer in tests).
    Writer(Box<dyn Write + Send>),
    /// Nothing.
    Quiet,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Progress::Auto => "Auto",
            Progress::Bar => "Bar",
            Progress::Lines => "Lines",
            Progress::Writer(_) => "Writer(..)",
            Progress::Quiet => "Quiet",
        })
    }
}

/// The one-line summary of an epoch, as printed by [`Progress::Lines`]:
/// `epoch 2/5 - loss 0.3124 - accuracy 91.20% - val_loss .. - lr 1.000e-2 - 0.42s - 11904 samples/s`.
/// A run on float targets shows its metrics in place of the accuracy:
/// `epoch 2/5 - loss 0.4012 - mse 0.4012 - mae 0.5120 - r2 0.5310 - val_loss ..`.
pub fn epoch_line(r: &EpochRecord, epochs: usize) -> String {
    let mut s = format!("epoch {}/{} - loss {:.4}", r.epoch + 1, epochs, r.train_loss);
    if r.train_metrics.is_empty() {
        s.push_str(&format!(" - accuracy {:.2}%", 100.0 * r.train_accuracy));
    } else {
        s.push_str(&format!(" - {}", r.train_metrics));
    }
    if let Some(v) = r.val_loss {
        s.push_str(&format!(" - val_loss {v:.4}"));
    }
    if let Some(v) = r.val_accuracy {
        s.push_str(&format!(" - val_accuracy {:.2}%", 100.0 * v));
    }
    if !r.val_metrics.is_empty() {
        s.push_str(&format!(" - {}", r.val_metrics.describe("val_")));
    }
    s.push_str(&format!(
        " - lr {:.3e} - {:.2}s - {:.0} samples/s",
        r.lr, r.seconds, r.samples_per_sec
    ));
    if r.skipped_steps > 0 {
        s.push_str(&format!(" - {} skipped step(s)", r.skipped_steps));
    }
    s
}

enum Sink {
    Quiet,
    Bar,
    Stderr,
    Writer,
}

/// The training loop's side of a [`Progress`] (borrowed, so a reused
/// `FitConfig` keeps its sink).
pub(crate) struct Reporter<'p> {
    progress: &'p mut Progress,
    sink: Sink,
    bar: Option<ProgressBar>,
    epochs: usize,
}

impl<'p> Reporter<'p> {
    pub(crate) fn new(progress: &'p mut Progress, quiet: bool, epochs: usize) -> Self {
        let sink = match progress {
            _ if quiet => Sink::Quiet,
            Progress::Quiet => Sink::Quiet,
            Progress::Bar if cfg!(feature = "progress-bar") => Sink::Bar,
            Progress::Bar | Progress::Lines => Sink::Stderr,
            Progress::Writer(_) => Sink::Writer,
            Progress::Auto if cfg!(feature = "progress-bar") && std::io::stderr().is_terminal() => Sink::Bar,
            Progress::Auto => Sink::Stderr,
        };
        Self {
            progress,
            sink,
            bar: None,
            epochs,
        }
    }

    fn write_line(&mut self, line: &str) {
        match (&self.sink, &mut *self.progress) {
            (Sink::Quiet, _) => {}
            (Sink::Writer, Progress::Writer(w)) => {
                let _ = writeln!(w, "{line}");
                let _ = w.flush();
            }
            _ => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }

    pub(crate) fn begin_epoch(&mut self, epoch: usize, steps: usize) {
        #[cfg(not(feature = "progress-bar"))]
        let _ = (epoch, steps);
        #[cfg(feature = "progress-bar")]
        if let Sink::Bar = self.sink {
            let pb = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            pb.set_style(style);
            pb.set_prefix(format!("epoch {}/{}", epoch + 1, self.epochs));
            pb.enable_steady_tick(Duration::from_millis(250));
            self.bar = Some(pb);
        }
    }

    /// After each step: running mean loss and accuracy, throughput.
    #[cfg(test)]
    pub(crate) fn step(&mut self, loss: f64, accuracy: f64, samples_per_sec: f64) {
        self.step_with(loss, || Some(("accuracy", accuracy, true)), samples_per_sec);
    }

    /// After each step: running mean loss, the running figure `(name,
    /// value, as a percentage)` (accuracy, or a float-target metric; only
    /// computed for a bar), throughput.
    pub(crate) fn step_with(
        &mut self,
        loss: f64,
        figure: impl FnOnce() -> Option<(&'static str, f64, bool)>,
        samples_per_sec: f64,
    ) {
        if let Some(pb) = &self.bar {
            let fig = match figure() {
                Some((name, v, true)) => format!(" - {name} {:.2}%", 100.0 * v),
                Some((name, v, false)) => format!(" - {name} {v:.4}"),
                None => String::new(),
            };
            pb.set_message(format!("loss {loss:.4}{fig} - {samples_per_sec:.0} samples/s"));
            pb.inc(1);
        }
    }

    pub(crate) fn end_epoch(&mut self, record: &EpochRecord) {
        if let Some(pb) = self.bar.take() {
            // The bar is replaced by the epoch's summary line.
            pb.finish_and_clear();
        }
        let line = epoch_line(record, self.epochs);
        self.write_line(&line);
    }

    pub(crate) fn message(&mut self, text: &str) {
        self.write_line(text);
    }
}

impl Drop for Reporter<'_> {
    fn drop(&mut self) {
        // An epoch that ended with an error leaves a bar behind: clear it.
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer into a shared buffer, for tests that read what was printed.
    #[derive(Clone, Default)]
    pub(crate) struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);
    impl Write for SharedBuf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl SharedBuf {
        pub(crate) fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn line_format() {
        let r = EpochRecord {
            epoch: 1,
            train_loss: 0.31234,
            train_accuracy: 0.912,
            val_loss: Some(0.25),
            val_accuracy: None,
            lr: 0.01,
            seconds: 0.42,
            samples_per_sec: 11904.2,
            samples: 5000,
            skipped_steps: 2,
            train_metrics: Default::default(),
            val_metrics: Default::default(),
        };
        assert_eq!(
            epoch_line(&r, 5),
            "epoch 2/5 - loss 0.3123 - accuracy 91.20% - val_loss 0.2500 - lr 1.000e-2 - 0.42s - 11904 samples/s - 2 skipped step(s)"
        );
        let mut f = r.clone();
        f.train_accuracy = f64::NAN;
        f.skipped_steps = 0;
        f.train_metrics.mae = Some(0.5);
        f.train_metrics.r2 = Some(0.25);
        f.val_metrics.r2 = Some(0.125);
        f.val_metrics.mae = Some(0.75);
        assert_eq!(
            epoch_line(&f, 5),
            "epoch 2/5 - loss 0.3123 - mae 0.5000 - r2 0.2500 - val_loss 0.2500 - val_mae 0.7500 - val_r2 0.1250 - lr 1.000e-2 - 0.42s - 11904 samples/s"
        );
        let buf = SharedBuf::default();
        let mut sink = Progress::Writer(Box::new(buf.clone()));
        let mut rep = Reporter::new(&mut sink, false, 5);
        rep.begin_epoch(1, 3);
        rep.step(0.1, 0.5, 10.0);
        rep.end_epoch(&r);
        assert_eq!(buf.text(), format!("{}\n", epoch_line(&r, 5)));
        let quiet = SharedBuf::default();
        let mut sink = Progress::Writer(Box::new(quiet.clone()));
        let mut rep = Reporter::new(&mut sink, true, 5);
        rep.end_epoch(&r);
        rep.message("hello");
        assert_eq!(quiet.text(), "");
    }
}
