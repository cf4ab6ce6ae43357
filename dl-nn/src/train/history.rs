//! [`History`]: the per-epoch figures of a `fit` run, printable as a
//! one-line summary (`{history}`) or a table ([`History::table`]) and
//! serialisable to CSV and JSON.

use super::error::TrainError;
use super::metrics::{Metric, MetricValues};
use std::fmt;
use std::path::Path;

/// The figures of one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// Epoch index (0-based).
    pub epoch: usize,
    /// Mean training loss over the epoch's samples (weighted by batch size),
    /// computed in training mode while the weights change, as Keras reports it.
    pub train_loss: f64,
    /// Fraction of training samples whose arg-max output equals the label
    /// (NaN in a run on float targets: see `train_metrics`).
    pub train_accuracy: f64,
    /// Mean loss on the validation set at the end of the epoch (evaluation mode).
    pub val_loss: Option<f64>,
    /// Accuracy on the validation set at the end of the epoch (`None` in a
    /// run on float targets).
    pub val_accuracy: Option<f64>,
    /// Learning rate used during the epoch.
    pub lr: f64,
    /// Wall-clock seconds of the whole epoch (training and validation).
    pub seconds: f64,
    /// Training samples processed per second (training phase only).
    pub samples_per_sec: f64,
    /// Training samples seen (skipped steps excluded).
    pub samples: usize,
    /// Steps skipped because of a non-finite loss or gradient
    /// (`NonFinite::SkipStep`).
    pub skipped_steps: usize,
    /// The float-target metrics of the training samples (MSE, MAE, R²,
    /// binary accuracy: those of the loss, see [`Metric`]); empty in a run
    /// on class labels.
    pub train_metrics: MetricValues,
    /// The same on the validation set (empty without validation).
    pub val_metrics: MetricValues,
}

/// Per-epoch figures of a training run, oldest first.
///
/// ```
/// use dl_nn::train::{EpochRecord, History};
/// let mut h = History::default();
/// h.epochs.push(EpochRecord {
///     epoch: 0, train_loss: 0.5, train_accuracy: 0.8, val_loss: Some(0.6), val_accuracy: Some(0.75),
///     lr: 0.1, seconds: 1.0, samples_per_sec: 1000.0, samples: 1000, skipped_steps: 0,
///     train_metrics: Default::default(), val_metrics: Default::default(),
/// });
/// assert!(h.to_csv().starts_with("epoch,train_loss,"));
/// assert_eq!(History::from_json(&h.to_json()).unwrap(), h);
/// assert_eq!(h.best_epoch(dl_nn::train::Monitor::ValLoss), Some(0));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// One record per completed epoch.
    pub epochs: Vec<EpochRecord>,
    /// Why training ended before the configured number of epochs (the
    /// callback's message), if it did.
    pub stopped_early: Option<String>,
}

const CSV_HEADER: &str =
    "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,samples_per_sec,samples,skipped_steps";

fn opt(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn json_num(v: f64) -> serde_json::Value {
    // JSON has no NaN or infinity: they become null, as in Python's json with allow_nan=False.
    serde_json::Number::from_f64(v)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

impl History {
    /// The training losses, one per epoch.
    pub fn train_loss(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.train_loss).collect()
    }
    /// The training accuracies, one per epoch.
    pub fn train_accuracy(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.train_accuracy).collect()
    }
    /// The validation losses (epochs without validation are skipped).
    pub fn val_loss(&self) -> Vec<f64> {
        self.epochs.iter().filter_map(|e| e.val_loss).collect()
    }
    /// The validation accuracies (epochs without validation are skipped).
    pub fn val_accuracy(&self) -> Vec<f64> {
        self.epochs.iter().filter_map(|e| e.val_accuracy).collect()
    }
    /// The last epoch's record.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }
    /// The epoch whose monitored figure is best (lowest loss, highest
    /// accuracy; the earliest on ties), or `None` when no epoch has it.
    pub fn best_epoch(&self, monitor: super::callbacks::Monitor) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for e in &self.epochs {
            if let Some(v) = monitor.value(e) {
                if best.is_none_or(|(_, b)| monitor.better(v, b, 0.0)) {
                    best = Some((e.epoch, v));
                }
            }
        }
        best.map(|(e, _)| e)
    }

    /// The float-target metrics this history holds (those of any epoch),
    /// in [`Metric::ALL`] order.
    pub fn metrics(&self) -> Vec<Metric> {
        Metric::ALL
            .into_iter()
            .filter(|&m| {
                self.epochs
                    .iter()
                    .any(|e| e.train_metrics.get(m).is_some() || e.val_metrics.get(m).is_some())
            })
            .collect()
    }
    /// The values of `metric` on the training samples, one per epoch that has it.
    pub fn train_metric(&self, metric: Metric) -> Vec<f64> {
        self.epochs.iter().filter_map(|e| e.train_metrics.get(metric)).collect()
    }
    /// The values of `metric` on the validation set, one per epoch that has it.
    pub fn val_metric(&self, metric: Metric) -> Vec<f64> {
        self.epochs.iter().filter_map(|e| e.val_metrics.get(metric)).collect()
    }

    /// The history as CSV, one header line and one line per epoch; missing
    /// validation figures are empty fields. A run on float targets has one
    /// more column per metric at the end: `train_<name>` and `val_<name>`
    /// (`train_r2,val_r2`).
    pub fn to_csv(&self) -> String {
        let metrics = self.metrics();
        let mut s = String::from(CSV_HEADER);
        for m in &metrics {
            s.push_str(&format!(",train_{},{}", m.name(), m.val_name()));
        }
        s.push('\n');
        for e in &self.epochs {
            s.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{}",
                e.epoch,
                e.train_loss,
                e.train_accuracy,
                opt(e.val_loss),
                opt(e.val_accuracy),
                e.lr,
                e.seconds,
                e.samples_per_sec,
                e.samples,
                e.skipped_steps
            ));
            for &m in &metrics {
                s.push_str(&format!(
                    ",{},{}",
                    opt(e.train_metrics.get(m)),
                    opt(e.val_metrics.get(m))
                ));
            }
            s.push('\n');
        }
        s
    }

    /// The history as a JSON object `{"epochs": [{..}, ..], "stopped_early": ..}`
    /// (non-finite numbers and missing validation figures are `null`).
    pub fn to_json(&self) -> String {
        let epochs: Vec<serde_json::Value> = self
            .epochs
            .iter()
            .map(|e| {
                let mut v = serde_json::json!({
                    "epoch": e.epoch,
                    "train_loss": json_num(e.train_loss),
                    "train_accuracy": json_num(e.train_accuracy),
                    "val_loss": e.val_loss.map(json_num),
                    "val_accuracy": e.val_accuracy.map(json_num),
                    "lr": json_num(e.lr),
                    "seconds": json_num(e.seconds),
                    "samples_per_sec": json_num(e.samples_per_sec),
                    "samples": e.samples,
                    "skipped_steps": e.skipped_steps,
                });
                for (key, values) in [("train_metrics", &e.train_metrics), ("val_metrics", &e.val_metrics)] {
                    if !values.is_empty() {
                        let map: serde_json::Map<String, serde_json::Value> = values
                            .iter()
                            .map(|(m, x)| (m.name().to_string(), json_num(x)))
                            .collect();
                        v[key] = serde_json::Value::Object(map);
                    }
                }
                v
            })
            .collect();
        serde_json::json!({ "epochs": epochs, "stopped_early": self.stopped_early }).to_string()
    }

    /// Parses what [`History::to_json`] wrote (`null` numbers read back as NaN).
    ///
    /// # Errors
    /// [`TrainError::InvalidConfig`] naming the malformed or missing field.
    pub fn from_json(text: &str) -> Result<Self, TrainError> {
        let bad = |m: String| TrainError::InvalidConfig(format!("history JSON: {m}"));
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let epochs = v
            .get("epochs")
            .and_then(|e| e.as_array())
            .ok_or_else(|| bad("missing array `epochs`".into()))?;
        let mut out = History::default();
        for (i, e) in epochs.iter().enumerate() {
            let f = |k: &str| -> Result<f64, TrainError> {
                match e.get(k) {
                    Some(serde_json::Value::Null) => Ok(f64::NAN),
                    Some(x) => x
                        .as_f64()
                        .ok_or_else(|| bad(format!("epochs[{i}].{k} is not a number"))),
                    None => Err(bad(format!("epochs[{i}] lacks `{k}`"))),
                }
            };
            let o = |k: &str| -> Result<Option<f64>, TrainError> {
                match e.get(k) {
                    None | Some(serde_json::Value::Null) => Ok(None),
                    Some(x) => x
                        .as_f64()
                        .map(Some)
                        .ok_or_else(|| bad(format!("epochs[{i}].{k} is not a number"))),
                }
            };
            let u = |k: &str| -> Result<usize, TrainError> {
                e.get(k)
                    .and_then(|x| x.as_u64())
                    .map(|x| x as usize)
                    .ok_or_else(|| bad(format!("epochs[{i}].{k} is not a non-negative integer")))
            };
            out.epochs.push(EpochRecord {
                epoch: u("epoch")?,
                train_loss: f("train_loss")?,
                train_accuracy: f("train_accuracy")?,
                val_loss: o("val_loss")?,
                val_accuracy: o("val_accuracy")?,
                lr: f("lr")?,
                seconds: f("seconds")?,
                samples_per_sec: f("samples_per_sec")?,
                samples: u("samples")?,
                skipped_steps: u("skipped_steps")?,
                train_metrics: metric_values(e.get("train_metrics"), i, "train_metrics")?,
                val_metrics: metric_values(e.get("val_metrics"), i, "val_metrics")?,
            });
        }
        out.stopped_early = match v.get("stopped_early") {
            None | Some(serde_json::Value::Null) => None,
            Some(s) => Some(
                s.as_str()
                    .ok_or_else(|| bad("`stopped_early` is not a string".into()))?
                    .to_string(),
            ),
        };
        Ok(out)
    }

    /// Writes [`History::to_csv`] to `path`.
    ///
    /// # Errors
    /// [`TrainError::Io`] with the path.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<(), TrainError> {
        write_file(path.as_ref(), &self.to_csv())
    }

    /// Writes [`History::to_json`] to `path`.
    ///
    /// # Errors
    /// [`TrainError::Io`] with the path.
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<(), TrainError> {
        write_file(path.as_ref(), &self.to_json())
    }
}

/// Reads a `{"r2": 0.5, ...}` object of [`History::to_json`] (absent: none).
fn metric_values(v: Option<&serde_json::Value>, i: usize, key: &str) -> Result<MetricValues, TrainError> {
    let bad = |m: String| TrainError::InvalidConfig(format!("history JSON: epochs[{i}].{key}: {m}"));
    let mut out = MetricValues::default();
    let obj = match v {
        None | Some(serde_json::Value::Null) => return Ok(out),
        Some(serde_json::Value::Object(o)) => o,
        Some(_) => return Err(bad("not an object".into())),
    };
    for (name, x) in obj {
        let m = Metric::from_name(name).ok_or_else(|| bad(format!("unknown metric `{name}`")))?;
        let x = match x {
            serde_json::Value::Null => f64::NAN,
            x => x.as_f64().ok_or_else(|| bad(format!("`{name}` is not a number")))?,
        };
        out.set(m, Some(x));
    }
    Ok(out)
}

fn write_file(path: &Path, text: &str) -> Result<(), TrainError> {
    std::fs::write(path, text).map_err(|e| TrainError::Io {
        path: path.display().to_string(),
        msg: e.to_string(),
    })
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.2}%", 100.0 * v)).unwrap_or_else(|| "-".into())
}
fn num(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into())
}
/// `binary_accuracy` is long for a column: `bin_acc`.
fn metric_head(name: &str) -> String {
    name.replace("binary_accuracy", "bin_acc")
}

/// The per-epoch table of a [`History`] (see [`History::table`]).
#[derive(Clone, Copy, Debug)]
pub struct HistoryTable<'a>(&'a History);

impl fmt::Display for HistoryTable<'_> {
    /// One row per epoch (epochs are printed 1-based, as Keras does). A run
    /// on float targets shows its metrics (`mse`, `val_mse`, ...) in place
    /// of the accuracy columns.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.0;
        let metrics = h.metrics();
        if metrics.is_empty() {
            writeln!(
                f,
                "{:>5}  {:>10}  {:>9}  {:>10}  {:>9}  {:>10}  {:>8}  {:>10}",
                "epoch", "loss", "accuracy", "val_loss", "val_acc", "lr", "seconds", "samples/s"
            )?;
        } else {
            write!(f, "{:>5}  {:>10}  {:>10}", "epoch", "loss", "val_loss")?;
            for m in &metrics {
                write!(f, "  {:>9}  {:>13}", metric_head(m.name()), metric_head(m.val_name()))?;
            }
            writeln!(f, "  {:>10}  {:>8}  {:>10}", "lr", "seconds", "samples/s")?;
        }
        for e in &h.epochs {
            if metrics.is_empty() {
                writeln!(
                    f,
                    "{:>5}  {:>10}  {:>9}  {:>10}  {:>9}  {:>10.3e}  {:>8.2}  {:>10.0}",
                    e.epoch + 1,
                    num(Some(e.train_loss)),
                    pct(Some(e.train_accuracy)),
                    num(e.val_loss),
                    pct(e.val_accuracy),
                    e.lr,
                    e.seconds,
                    e.samples_per_sec
                )?;
                continue;
            }
            write!(
                f,
                "{:>5}  {:>10}  {:>10}",
                e.epoch + 1,
                num(Some(e.train_loss)),
                num(e.val_loss)
            )?;
            for &m in &metrics {
                let show = |v: Option<f64>| match m {
                    Metric::BinaryAccuracy => pct(v),
                    _ => num(v),
                };
                write!(
                    f,
                    "  {:>9}  {:>13}",
                    show(e.train_metrics.get(m)),
                    show(e.val_metrics.get(m))
                )?;
            }
            writeln!(f, "  {:>10.3e}  {:>8.2}  {:>10.0}", e.lr, e.seconds, e.samples_per_sec)?;
        }
        if let Some(why) = &h.stopped_early {
            writeln!(f, "stopped early: {why}")?;
        }
        Ok(())
    }
}

impl History {
    /// The whole run as a table, one row per epoch (`println!("{}",
    /// history.table())`). A non-quiet `fit` has already printed these
    /// lines as it went; `{history}` prints a one-line summary instead.
    pub fn table(&self) -> HistoryTable<'_> {
        HistoryTable(self)
    }
}

impl fmt::Display for History {
    /// A one-line summary: the number of epochs, the last epoch's figures,
    /// the best validation accuracy, and why training stopped early. (The
    /// per-epoch table is [`History::table`].)
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.epochs.len();
        write!(f, "{n} epoch{}", if n == 1 { "" } else { "s" })?;
        if let Some(e) = self.last() {
            write!(f, ", last: loss {}", num(Some(e.train_loss)))?;
            let metrics = self.metrics();
            match metrics.first() {
                None => write!(f, ", accuracy {}", pct(Some(e.train_accuracy)))?,
                Some(&m) => write!(f, ", {} {}", m.name(), num(e.train_metrics.get(m)))?,
            }
            if e.val_loss.is_some() {
                write!(f, ", val_loss {}", num(e.val_loss))?;
                match metrics.first() {
                    None => write!(f, ", val_acc {}", pct(e.val_accuracy))?,
                    Some(&m) => write!(f, ", {} {}", m.val_name(), num(e.val_metrics.get(m)))?,
                }
            }
            let total: f64 = self.epochs.iter().map(|e| e.seconds).sum();
            write!(f, ", {total:.1} s")?;
        }
        if let Some(best) = self.best_epoch(super::callbacks::Monitor::ValAccuracy) {
            let v = self.epochs[best].val_accuracy;
            write!(f, "; best val_acc {} at epoch {}", pct(v), self.epochs[best].epoch + 1)?;
        }
        if let Some(why) = &self.stopped_early {
            write!(f, "; stopped early: {why}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(epoch: usize, val: Option<f64>) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: 1.0 / (epoch + 1) as f64,
            train_accuracy: 0.5 + 0.1 * epoch as f64,
            val_loss: val,
            val_accuracy: val.map(|v| 1.0 - v),
            lr: 0.01,
            seconds: 0.25,
            samples_per_sec: 4000.0,
            samples: 1000,
            skipped_steps: epoch,
            train_metrics: Default::default(),
            val_metrics: Default::default(),
        }
    }

    #[test]
    fn csv_has_one_line_per_epoch_and_empty_missing_fields() {
        let h = History {
            epochs: vec![rec(0, Some(0.4)), rec(1, None)],
            stopped_early: None,
        };
        let csv = h.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines[1], "0,1,0.5,0.4,0.6,0.01,0.25,4000,1000,0");
        assert_eq!(lines[2], "1,0.5,0.6,,,0.01,0.25,4000,1000,1");
    }

    #[test]
    fn json_round_trips_and_rejects_garbage() {
        let h = History {
            epochs: vec![rec(0, Some(0.4)), rec(1, None), rec(2, Some(0.3))],
            stopped_early: Some("early stopping".into()),
        };
        assert_eq!(History::from_json(&h.to_json()).unwrap(), h);
        // Values that a parser without exact float round-trip reads 1 ulp off.
        let mut h2 = h.clone();
        h2.epochs[0].samples_per_sec = 94907.54581424505;
        h2.epochs[1].samples_per_sec = 1437540.6554466619;
        assert_eq!(History::from_json(&h2.to_json()).unwrap(), h2);
        assert!(matches!(History::from_json("{"), Err(TrainError::InvalidConfig(_))));
        let e = History::from_json(r#"{"epochs":[{"epoch":0}]}"#).unwrap_err();
        assert!(e.to_string().contains("train_loss"), "{e}");
    }

    #[test]
    fn float_target_metrics_in_csv_json_and_table() {
        let mut h = History {
            epochs: vec![rec(0, Some(0.4)), rec(1, None)],
            stopped_early: None,
        };
        for e in &mut h.epochs {
            e.train_accuracy = f64::NAN;
            e.val_accuracy = None;
            e.train_metrics.r2 = Some(0.25);
            e.train_metrics.mae = Some(1.5);
        }
        h.epochs[0].val_metrics.r2 = Some(0.5);
        h.epochs[0].val_metrics.mae = Some(f64::NAN);
        assert_eq!(h.metrics(), vec![Metric::Mae, Metric::R2]);
        let csv = h.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], format!("{CSV_HEADER},train_mae,val_mae,train_r2,val_r2"));
        assert!(lines[1].ends_with(",1000,0,1.5,NaN,0.25,0.5"), "{}", lines[1]);
        assert!(lines[2].ends_with(",1000,1,1.5,,0.25,"), "{}", lines[2]);
        let back = History::from_json(&h.to_json()).unwrap();
        assert!(back.epochs[0].val_metrics.mae.unwrap().is_nan());
        assert_eq!(back.epochs[0].val_metrics.r2, Some(0.5));
        assert_eq!(back.epochs[1].train_metrics, h.epochs[1].train_metrics);
        assert_eq!(back.val_metric(Metric::R2), vec![0.5]);
        assert_eq!(h.train_metric(Metric::Mae), vec![1.5, 1.5]);
        let text = h.table().to_string();
        assert!(text.lines().next().unwrap().contains("val_r2"), "{text}");
        assert!(!text.contains("accuracy"), "{text}");
        // The one-line summary names the first metric, not an accuracy.
        let summary = h.to_string();
        assert!(
            summary.contains("mae 1.5000") && !summary.contains("accuracy"),
            "{summary}"
        );
        let e = History::from_json(r#"{"epochs":[{"epoch":0,"train_loss":1,"train_accuracy":1,"lr":1,"seconds":1,"samples_per_sec":1,"samples":1,"skipped_steps":0,"train_metrics":{"f1":1}}]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("unknown metric `f1`"), "{e}");
    }

    #[test]
    fn display_and_best_epoch() {
        let h = History {
            epochs: vec![rec(0, Some(0.4)), rec(1, Some(0.2)), rec(2, Some(0.3))],
            stopped_early: Some("patience exhausted".into()),
        };
        let text = h.table().to_string();
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(
            text.contains("80.00%") && text.contains("stopped early: patience exhausted"),
            "{text}"
        );
        // `{history}` is one line, not the epoch lines `fit` already printed.
        let summary = h.to_string();
        assert_eq!(summary.lines().count(), 1, "{summary}");
        assert_eq!(
            summary,
            "3 epochs, last: loss 0.3333, accuracy 70.00%, val_loss 0.3000, val_acc 70.00%, 0.8 s; \
             best val_acc 80.00% at epoch 2; stopped early: patience exhausted"
        );
        assert_eq!(History::default().to_string(), "0 epochs");
        use crate::train::Monitor;
        assert_eq!(h.best_epoch(Monitor::ValLoss), Some(1));
        assert_eq!(h.best_epoch(Monitor::ValAccuracy), Some(1));
        assert_eq!(h.best_epoch(Monitor::TrainLoss), Some(2));
        assert_eq!(History::default().best_epoch(Monitor::ValLoss), None);
        assert_eq!(h.val_loss(), vec![0.4, 0.2, 0.3]);
    }
}
