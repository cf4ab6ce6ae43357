//! Callbacks: code that runs between epochs of `fit` and may change the
//! learning rate, inspect or modify the model, or stop training.
//!
//! * [`EarlyStopping`] stops when a monitored figure stops improving.
//! * [`ModelCheckpoint`] keeps an in-memory copy of the best parameters,
//!   restores them at the end when asked, and can call a closure to save them.
//! * [`LrScheduler`] sets the learning rate at the start of every epoch from
//!   a closure `epoch -> lr`.
//!
//! A callback passed by `&mut` stays with the caller, who can read its state
//! after `fit` returns ([`ModelCheckpoint::best_epoch`]).

use super::error::TrainError;
use super::history::{EpochRecord, History};
use super::metrics::Metric;
use crate::module::Module;
use dl_core::{Backend, Float};
use std::marker::PhantomData;

/// What a callback asks of the training loop after an epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on with the next epoch.
    Continue,
    /// Stop training after this epoch; the message ends up in
    /// [`History::stopped_early`].
    Stop(String),
}

/// A figure of an [`EpochRecord`] that a callback watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Monitor {
    /// Mean training loss (lower is better).
    TrainLoss,
    /// Training accuracy (higher is better).
    TrainAccuracy,
    /// Validation loss (lower is better).
    ValLoss,
    /// Validation accuracy (higher is better).
    ValAccuracy,
    /// A float-target metric on the training samples (`Train(Metric::Mae)`:
    /// Keras `mae`); lower is better for MSE and MAE, higher for R² and
    /// binary accuracy.
    Train(Metric),
    /// A float-target metric on the validation set (`Val(Metric::R2)`:
    /// Keras `val_r2`).
    Val(Metric),
}

impl Monitor {
    /// The Keras name of the figure (`loss`, `accuracy`, `val_loss`,
    /// `val_accuracy`, `mae`, `val_r2`, `val_binary_accuracy`...).
    pub fn name(self) -> &'static str {
        match self {
            Monitor::TrainLoss => "loss",
            Monitor::TrainAccuracy => "accuracy",
            Monitor::ValLoss => "val_loss",
            Monitor::ValAccuracy => "val_accuracy",
            Monitor::Train(m) => m.name(),
            Monitor::Val(m) => m.val_name(),
        }
    }
    /// The monitor of a Keras name (`"val_loss"`, `"val_r2"`, `"mae"`...).
    pub fn from_name(name: &str) -> Option<Monitor> {
        let fixed = [
            Monitor::TrainLoss,
            Monitor::TrainAccuracy,
            Monitor::ValLoss,
            Monitor::ValAccuracy,
        ];
        fixed
            .into_iter()
            .chain(
                Metric::ALL
                    .into_iter()
                    .flat_map(|m| [Monitor::Train(m), Monitor::Val(m)]),
            )
            .find(|m| m.name() == name)
    }
    /// The figure in `r`, if this run computes it (a run on float targets
    /// has no accuracy, a run on class labels no float-target metric).
    pub fn value(self, r: &EpochRecord) -> Option<f64> {
        match self {
            Monitor::TrainLoss => Some(r.train_loss),
            Monitor::TrainAccuracy => r.train_metrics.is_empty().then_some(r.train_accuracy),
            Monitor::ValLoss => r.val_loss,
            Monitor::ValAccuracy => r.val_accuracy,
            Monitor::Train(m) => r.train_metrics.get(m),
            Monitor::Val(m) => r.val_metrics.get(m),
        }
    }
    /// Whether a lower value is better (losses, MSE, MAE).
    pub fn lower_is_better(self) -> bool {
        match self {
            Monitor::TrainLoss | Monitor::ValLoss => true,
            Monitor::TrainAccuracy | Monitor::ValAccuracy => false,
            Monitor::Train(m) | Monitor::Val(m) => !m.higher_is_better(),
        }
    }
    /// Whether `new` improves on `best` by more than `min_delta`. A NaN never improves.
    pub fn better(self, new: f64, best: f64, min_delta: f64) -> bool {
        if self.lower_is_better() {
            new < best - min_delta
        } else {
            new > best + min_delta
        }
    }
    fn get(self, r: &EpochRecord, callback: &'static str) -> Result<f64, TrainError> {
        self.value(r).ok_or(TrainError::MissingMetric {
            callback,
            monitor: self.name(),
        })
    }
}

/// What a callback can see and change: the history so far, the model and
/// the optimizer's learning rate.
pub struct CallbackContext<'a, M> {
    /// Epochs completed so far (the current one included at epoch end).
    pub history: &'a History,
    /// The model being trained.
    pub model: &'a mut M,
    /// The number of epochs `fit` was configured for.
    pub epochs: usize,
    lr: &'a mut f64,
    root: bool,
}

impl<'a, M> CallbackContext<'a, M> {
    /// A context (the training loop builds these; public for testing callbacks).
    pub fn new(history: &'a History, model: &'a mut M, epochs: usize, lr: &'a mut f64) -> Self {
        Self {
            history,
            model,
            epochs,
            lr,
            root: true,
        }
    }
    /// Marks the context as that of a data-parallel rank other than 0
    /// (`root == false`): callbacks then write no file (`fit` sets it).
    pub fn with_root(mut self, root: bool) -> Self {
        self.root = root;
        self
    }
    /// Whether this process is rank 0 of a data-parallel run (or a
    /// single-process run): the one that prints and writes files.
    pub fn is_root(&self) -> bool {
        self.root
    }
    /// The optimizer's current learning rate.
    pub fn lr(&self) -> f64 {
        *self.lr
    }
    /// Sets the optimizer's learning rate (applied before the next step).
    pub fn set_lr(&mut self, lr: f64) {
        *self.lr = lr;
    }
}

/// Code run by `fit` around epochs. Every method but `on_epoch_end` has a
/// default that does nothing.
pub trait Callback<M> {
    /// A short name for messages (`early_stopping`).
    fn name(&self) -> &'static str;
    /// Before the first epoch: reset state, validate settings.
    ///
    /// # Errors
    /// Stops `fit` with the error.
    fn on_train_begin(&mut self, _ctx: &mut CallbackContext<'_, M>) -> Result<(), TrainError> {
        Ok(())
    }
    /// Before epoch `epoch` (0-based) trains.
    ///
    /// # Errors
    /// Stops `fit` with the error.
    fn on_epoch_begin(&mut self, _epoch: usize, _ctx: &mut CallbackContext<'_, M>) -> Result<(), TrainError> {
        Ok(())
    }
    /// After an epoch (training and validation), with its figures.
    ///
    /// # Errors
    /// Stops `fit` with the error.
    fn on_epoch_end(&mut self, record: &EpochRecord, ctx: &mut CallbackContext<'_, M>) -> Result<Control, TrainError>;
    /// After the last epoch (also after an early stop).
    ///
    /// # Errors
    /// `fit` returns the error.
    fn on_train_end(&mut self, _ctx: &mut CallbackContext<'_, M>) -> Result<(), TrainError> {
        Ok(())
    }
    /// When training stops with `error` (a non-finite value, a data error,
    /// another callback's error) instead of ending normally; `fit` then
    /// returns `error`. Runs on every callback, in order (also when the
    /// error came from another callback's [`Callback::on_train_end`]).
    ///
    /// # Errors
    /// A failure of the callback's own clean-up; `fit` still returns the
    /// training error, with this one appended to its message.
    fn on_train_abort(&mut self, _error: &TrainError, _ctx: &mut CallbackContext<'_, M>) -> Result<(), TrainError> {
        Ok(())
    }
}

impl<M, C: Callback<M> + ?Sized> Callback<M> for &mut C {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn on_train_begin(&mut self, ctx: &mut CallbackContext<'_, M>) -> Result<(), TrainError> {
        (**self).on_train_begin(ctx)
    }
    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut CallbackContext<'_, M>) -> Result<(), TrainError> {
        (**self).on_epoch_begin(epoch, ctx)
    }
    fn on_epoch_end(&mut self, record: &EpochRecord, ctx: &mut CallbackContext<'_, M>) -> Result<Control, TrainError> {
        (**self).on_epoch_end(record, ctx)
    }
    fn on_train_end(&mut self, ctx: &mut CallbackContext<'_, M>) -> Result<(), TrainError> {
        (**self).on_train_end(ctx)
    }
    fn on_train_abort(&mut self, error: &TrainError, ctx: &mut CallbackContext<'_, M>) -> Result<(), TrainError> {
        (**self).on_train_abort(error, ctx)
    }
}

fn check_delta(callback: &'static str, min_delta: f64) -> Result<(), TrainError> {
    if min_delta.is_finite() && min_delta >= 0.0 {
        Ok(())
    } else {
        Err(TrainError::InvalidConfig(format!(
            "{callback}: min_delta must be finite and non-negative, got {min_delta}"
        )))
    }
}

/// Stops training when `monitor` has not improved by more than `min_delta`
/// for `patience` epochs in a row (Keras `EarlyStopping`).
///
/// ```
/// use dl_nn::train::{EarlyStopping, Monitor};
/// let es = EarlyStopping::new(Monitor::ValLoss).patience(3).min_delta(1e-4);
/// assert_eq!(es.patience, 3);
/// ```
#[derive(Clone, Debug)]
pub struct EarlyStopping {
    /// The figure watched.
    pub monitor: Monitor,
    /// Number of epochs without improvement after which training stops
    /// (as in Keras, 0 and 1 both stop at the first such epoch).
    pub patience: usize,
    /// The smallest change that counts as an improvement.
    pub min_delta: f64,
    best: Option<f64>,
    wait: usize,
    stopped_at: Option<usize>,
}

impl EarlyStopping {
    /// Watches `monitor` with patience 0 and `min_delta` 0.
    pub fn new(monitor: Monitor) -> Self {
        Self {
            monitor,
            patience: 0,
            min_delta: 0.0,
            best: None,
            wait: 0,
            stopped_at: None,
        }
    }
    setters! {
        /// Sets the patience.
        patience: usize,
        /// Sets `min_delta` (checked when training starts: finite and non-negative).
        min_delta: f64,
    }
    /// The epoch after which it stopped training, if it did.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.stopped_at
    }
}

impl<M> Callback<M> for EarlyStopping {
    fn name(&self) -> &'static str {
        "early_stopping"
    }
    fn on_train_begin(&mut self, _ctx: &mut CallbackContext<'_, M>) -> Result<(), TrainError> {
        check_delta("early_stopping", self.min_delta)?;
        self.best = None;
        self.wait = 0;
        self.stopped_at = None;
        Ok(())
    }
    fn on_epoch_end(&mut self, record: &EpochRecord, _ctx: &mut CallbackContext<'_, M>) -> Result<Control, TrainError> {
        let v = self.monitor.get(record, "early_stopping")?;
        let improved = match self.best {
            None => !v.is_nan(),
            Some(b) => self.monitor.better(v, b, self.min_delta),
        };
        if improved {
            self.best = Some(v);
            self.wait = 0;
        } else {
            self.wait += 1;
            if self.wait >= self.patience {
                self.stopped_at = Some(record.epoch);
                let best = self.best.map_or("none".to_string(), |b| format!("{b:.6}"));
                return Ok(Control::Stop(format!(
                    "early stopping: {} did not improve on {best} for {} epoch(s)",
                    self.monitor.name(),
                    self.wait
                )));
            }
        }
        Ok(Control::Continue)
    }
}

type SaveFn<'a, M> = Box<dyn FnMut(usize, &M) -> Result<(), String> + 'a>;

/// Keeps the best parameters seen (by `monitor`) in memory: a device copy
/// of every parameter and buffer, taken through [`Module::visit`] whenever
/// the monitored figure improves. With [`ModelCheckpoint::restore_best`]
/// the copy is written back into the model when training ends: normally,
/// after an early stop, and when `fit` stops with an error (a run stopped
/// by a NaN keeps the best weights, not the diverged ones). [`ModelCheckpoint::on_improve`] adds a closure called
/// with the epoch and the model at each improvement, to save it to disk
/// with [`crate::checkpoint::save`] (Keras `save_best_only=True`):
/// `.on_improve(|_, m| dl_nn::checkpoint::save(m, "best.safetensors").map_err(|e| e.to_string()))`.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// use dl_nn::train::{ModelCheckpoint, Monitor};
/// let ckpt = ModelCheckpoint::<Linear<2, 2>, Cpu, f32>::new(Monitor::ValAccuracy)
///     .restore_best(true)
///     .on_improve(|epoch, _model| { println!("new best at epoch {epoch}"); Ok(()) });
/// assert_eq!(ckpt.best_epoch(), None);
/// ```
pub struct ModelCheckpoint<'a, M, B: Backend, E: Float> {
    monitor: Monitor,
    min_delta: f64,
    restore: bool,
    save: Option<SaveFn<'a, M>>,
    best: Option<(usize, f64)>,
    params: Vec<B::Buf<E>>,
    _m: PhantomData<fn(&M)>,
}

impl<'a, M: Module<B, E>, B: Backend, E: Float> ModelCheckpoint<'a, M, B, E> {
    /// Watches `monitor`; does not restore unless asked.
    pub fn new(monitor: Monitor) -> Self {
        Self {
            monitor,
            min_delta: 0.0,
            restore: false,
            save: None,
            best: None,
            params: Vec::new(),
            _m: PhantomData,
        }
    }
    /// Whether to write the best parameters back at the end of training.
    pub fn restore_best(mut self, restore: bool) -> Self {
        self.restore = restore;
        self
    }
    setters! {
        /// The smallest change that counts as an improvement (default 0).
        min_delta: f64,
    }
    /// A closure called with `(epoch, &model)` at every improvement; an
    /// `Err(message)` stops `fit` with [`TrainError::Callback`]. In a
    /// data-parallel run it is called on rank 0 only.
    pub fn on_improve(mut self, save: impl FnMut(usize, &M) -> Result<(), String> + 'a) -> Self {
        self.save = Some(Box::new(save));
        self
    }
    /// The epoch with the best figure so far.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best.map(|b| b.0)
    }
    /// The best figure so far.
    pub fn best_value(&self) -> Option<f64> {
        self.best.map(|b| b.1)
    }
    /// Writes the kept parameters into `model` (no-op before any improvement).
    ///
    /// # Errors
    /// [`TrainError::Callback`] when `model` does not have the parameters
    /// that were kept (another model type or size).
    pub fn restore_into(&self, model: &mut M) -> Result<(), TrainError> {
        if self.best.is_none() {
            return Ok(());
        }
        let mut i = 0;
        let mut bad: Option<String> = None;
        model.visit_mut("", &mut |name, p| {
            match self.params.get(i) {
                Some(src) if p.dev.len(src) == p.numel() => p.dev.copy(src, &mut p.value),
                _ => {
                    bad.get_or_insert_with(|| name.to_string());
                }
            }
            i += 1;
        });
        if let Some(name) = bad.or_else(|| (i != self.params.len()).then(|| "<count>".to_string())) {
            return Err(TrainError::Callback {
                callback: "model_checkpoint",
                msg: format!(
                    "cannot restore: the model's parameters ({i}, at `{name}`) differ from the kept ones ({})",
                    self.params.len()
                ),
            });
        }
        Ok(())
    }
}

impl<M: Module<B, E>, B: Backend, E: Float> Callback<M> for ModelCheckpoint<'_, M, B, E> {
    fn name(&self) -> &'static str {
        "model_checkpoint"
    }
    fn on_train_begin(&mut self, _ctx: &mut CallbackContext<'_, M>) -> Result<(), TrainError> {
        check_delta("model_checkpoint", self.min_delta)?;
        self.best = None;
        self.params.clear();
        Ok(())
    }
    fn on_epoch_end(&mut self, record: &EpochRecord, ctx: &mut CallbackContext<'_, M>) -> Result<Control, TrainError> {
        let v = self.monitor.get(record, "model_checkpoint")?;
        let improved = match self.best {
            None => !v.is_nan(),
            Some((_, b)) => self.monitor.better(v, b, self.min_delta),
        };
        if improved {
            self.best = Some((record.epoch, v));
            let mut i = 0;
            let params = &mut self.params;
            ctx.model.visit("", &mut |_, p| {
                match params.get_mut(i) {
                    Some(dst) => p.dev.copy(&p.value, dst),
                    None => params.push(p.value.clone()),
                }
                i += 1;
            });
            params.truncate(i);
            // In a data-parallel run every rank keeps the best parameters
            // (for `restore_best`), only rank 0 writes them.
            if let (Some(save), true) = (&mut self.save, ctx.is_root()) {
                save(record.epoch, ctx.model).map_err(|msg| TrainError::Callback {
                    callback: "model_checkpoint",
                    msg,
                })?;
            }
        }
        Ok(Control::Continue)
    }
    fn on_train_end(&mut self, ctx: &mut CallbackContext<'_, M>) -> Result<(), TrainError> {
        if self.restore {
            self.restore_into(ctx.model)?;
        }
        Ok(())
    }
    fn on_train_abort(&mut self, _error: &TrainError, ctx: &mut CallbackContext<'_, M>) -> Result<(), TrainError> {
        self.on_train_end(ctx)
    }
}

/// Sets the learning rate at the start of every epoch to `schedule(epoch)`
/// (0-based), like Keras `LearningRateScheduler`. Any schedule is a closure:
///
/// ```
/// use dl_nn::train::LrScheduler;
/// // Step decay: halve every 10 epochs from 0.1.
/// let s = LrScheduler::new(|epoch| 0.1 * 0.5f64.powi((epoch / 10) as i32));
/// # let _ = s;
/// ```
pub struct LrScheduler<F: FnMut(usize) -> f64> {
    schedule: F,
}

impl<F: FnMut(usize) -> f64> LrScheduler<F> {
    /// A scheduler calling `schedule(epoch)`.
    pub fn new(schedule: F) -> Self {
        Self { schedule }
    }
}

impl LrScheduler<fn(usize) -> f64> {
    /// A scheduler following one of the [`crate::optim::Schedule`]s per
    /// epoch, from `base_lr`:
    ///
    /// ```
    /// use dl_nn::optim::StepLr;
    /// use dl_nn::train::LrScheduler;
    /// let s = LrScheduler::from_schedule(StepLr { step_size: 10, gamma: 0.5 }, 0.1);
    /// # let _ = s;
    /// ```
    pub fn from_schedule<S: crate::optim::Schedule>(
        schedule: S,
        base_lr: f64,
    ) -> LrScheduler<impl FnMut(usize) -> f64> {
        LrScheduler::new(move |epoch| schedule.lr(base_lr, epoch))
    }
}

impl<M, F: FnMut(usize) -> f64> Callback<M> for LrScheduler<F> {
    fn name(&self) -> &'static str {
        "lr_scheduler"
    }
    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut CallbackContext<'_, M>) -> Result<(), TrainError> {
        let lr = (self.schedule)(epoch);
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(TrainError::InvalidConfig(format!(
                "lr_scheduler: the schedule gave learning rate {lr} for epoch {epoch}"
            )));
        }
        ctx.set_lr(lr);
        Ok(())
    }
    fn on_epoch_end(
        &mut self,
        _record: &EpochRecord,
        _ctx: &mut CallbackContext<'_, M>,
    ) -> Result<Control, TrainError> {
        Ok(Control::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(epoch: usize, val_loss: Option<f64>) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: 1.0,
            train_accuracy: 0.5,
            val_loss,
            val_accuracy: val_loss.map(|v| 1.0 - v),
            lr: 0.1,
            seconds: 0.0,
            samples_per_sec: 0.0,
            samples: 1,
            skipped_steps: 0,
            train_metrics: Default::default(),
            val_metrics: Default::default(),
        }
    }

    /// Feeds val losses to an early stopper; returns the epoch it stopped at.
    fn run_es(es: &mut EarlyStopping, losses: &[f64]) -> Option<usize> {
        let h = History::default();
        let mut m = ();
        let mut lr = 0.1;
        let mut ctx = CallbackContext::new(&h, &mut m, losses.len(), &mut lr);
        Callback::<()>::on_train_begin(es, &mut ctx).unwrap();
        for (i, &l) in losses.iter().enumerate() {
            if let Control::Stop(_) = es.on_epoch_end(&rec(i, Some(l)), &mut ctx).unwrap() {
                return Some(i);
            }
        }
        None
    }

    #[test]
    fn early_stopping_patience_and_min_delta() {
        let mut es = EarlyStopping::new(Monitor::ValLoss).patience(2);
        assert_eq!(run_es(&mut es, &[1.0, 0.9, 0.95, 0.85, 0.86, 0.87, 0.5]), Some(5));
        assert_eq!(es.stopped_epoch(), Some(5));
        // Improvements smaller than min_delta do not count.
        let mut es = EarlyStopping::new(Monitor::ValLoss).patience(2).min_delta(0.05);
        assert_eq!(run_es(&mut es, &[1.0, 0.97, 0.90, 0.89, 0.88, 0.1]), Some(4));
        let mut es = EarlyStopping::new(Monitor::ValLoss).patience(2);
        assert_eq!(run_es(&mut es, &[1.0, 0.97, 0.90, 0.89, 0.88, 0.1]), None);
        // Accuracy: higher is better; patience 0 stops at the first non-improvement.
        let mut es = EarlyStopping::new(Monitor::ValAccuracy);
        assert_eq!(run_es(&mut es, &[0.1, 0.2, 0.3]), Some(1)); // accuracies 0.9, 0.8, 0.7
                                                                // Steady improvement never stops; state is reset by on_train_begin.
        assert_eq!(run_es(&mut es, &[1.0, 0.9, 0.8, 0.7]), None);
        assert_eq!(es.stopped_epoch(), None);
        let mut es = EarlyStopping::new(Monitor::ValLoss).min_delta(-1.0);
        let h = History::default();
        let (mut m, mut lr) = ((), 0.1);
        let mut ctx = CallbackContext::new(&h, &mut m, 1, &mut lr);
        assert!(matches!(
            Callback::<()>::on_train_begin(&mut es, &mut ctx),
            Err(TrainError::InvalidConfig(_))
        ));
    }

    /// Whether `e` says that the run has no validation accuracy.
    fn misses_val_accuracy(e: &TrainError) -> bool {
        matches!(
            e,
            TrainError::MissingMetric {
                monitor: "val_accuracy",
                ..
            }
        )
    }

    #[test]
    fn missing_validation_is_a_typed_error() {
        let mut es = EarlyStopping::new(Monitor::ValAccuracy);
        let h = History::default();
        let (mut m, mut lr) = ((), 0.1);
        let mut ctx = CallbackContext::new(&h, &mut m, 1, &mut lr);
        let e = es.on_epoch_end(&rec(0, None), &mut ctx).unwrap_err();
        assert!(misses_val_accuracy(&e), "{e}");
    }

    #[test]
    fn float_target_monitors() {
        let mut r = rec(0, Some(0.5));
        assert_eq!(Monitor::Val(Metric::R2).value(&r), None);
        r.val_accuracy = None;
        r.train_metrics.mae = Some(2.0);
        r.val_metrics.r2 = Some(0.4);
        assert_eq!(Monitor::TrainAccuracy.value(&r), None, "no accuracy on float targets");
        assert_eq!(Monitor::Train(Metric::Mae).value(&r), Some(2.0));
        assert_eq!(Monitor::Val(Metric::R2).value(&r), Some(0.4));
        assert!(Monitor::Val(Metric::Mae).lower_is_better() && !Monitor::Val(Metric::R2).lower_is_better());
        for name in ["val_r2", "mae", "val_binary_accuracy", "loss", "val_accuracy"] {
            assert_eq!(Monitor::from_name(name).unwrap().name(), name);
        }
        assert_eq!(Monitor::from_name("val_f1"), None);
        // EarlyStopping on val_r2: higher is better.
        let h = History::default();
        let (mut m, mut lr) = ((), 0.1);
        let mut ctx = CallbackContext::new(&h, &mut m, 3, &mut lr);
        let mut es = EarlyStopping::new(Monitor::Val(Metric::R2));
        Callback::<()>::on_train_begin(&mut es, &mut ctx).unwrap();
        let mut stop = None;
        for (i, v) in [0.1, 0.3, 0.2].into_iter().enumerate() {
            r.epoch = i;
            r.val_metrics.r2 = Some(v);
            if let Control::Stop(why) = es.on_epoch_end(&r, &mut ctx).unwrap() {
                stop = Some((i, why));
            }
        }
        let (at, why) = stop.unwrap();
        assert_eq!(at, 2);
        assert!(why.contains("val_r2"), "{why}");
        // Monitoring an accuracy in a run on float targets is a typed error.
        let e = EarlyStopping::new(Monitor::ValAccuracy)
            .on_epoch_end(&r, &mut ctx)
            .unwrap_err();
        assert!(misses_val_accuracy(&e), "{e}");
    }

    #[test]
    fn lr_scheduler_sets_and_validates() {
        let h = History::default();
        let (mut m, mut lr) = ((), 0.1);
        let mut s = LrScheduler::new(|e| if e < 2 { 1.0 / (e + 1) as f64 } else { f64::NAN });
        let mut ctx = CallbackContext::new(&h, &mut m, 3, &mut lr);
        s.on_epoch_begin(1, &mut ctx).unwrap();
        assert_eq!(ctx.lr(), 0.5);
        assert!(matches!(
            s.on_epoch_begin(2, &mut ctx),
            Err(TrainError::InvalidConfig(_))
        ));
        let mut s = LrScheduler::from_schedule(
            crate::optim::StepLr {
                step_size: 2,
                gamma: 0.1,
            },
            1.0,
        );
        let got: Vec<f64> = (0..5)
            .map(|e| {
                s.on_epoch_begin(e, &mut ctx).unwrap();
                ctx.lr()
            })
            .collect();
        let want = [1.0, 1.0, 0.1, 0.1, 0.01];
        assert!(got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12), "{got:?}");
    }
}
