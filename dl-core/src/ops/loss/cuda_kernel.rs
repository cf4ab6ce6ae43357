//! `LossKernel for Cuda` (`loss.cu`): per-term math in f64 as the CPU's,
//! loss sums through the deterministic two-stage reduction
//! (`crate::cuda::det`); label checks and counts with integer atomics (exact).

use super::{BadLabel, ClassDims, LossKernel, PointwiseLoss};
use crate::cuda::{cfg_1d, cfg_rows, det, Cuda, CudaModule};
use crate::dtype::Float;
use crate::Storage;
use dl_cuda::cudarc::driver::PushKernelArg;
use dl_cuda::CudaBuf;

/// The `loss` module: `loss.cu` after the shared headers.
pub(crate) const MODULE: CudaModule = CudaModule {
    name: "loss",
    src: concat!(
        include_str!("../util/common.cuh"),
        include_str!("../util/det_sum.cuh"),
        include_str!("loss.cu")
    ),
};

impl Cuda {
    /// The first of `rows` labels that is `>= classes`, if any.
    fn check_labels(&self, labels: &CudaBuf<u32>, rows: usize, classes: usize) -> Result<(), BadLabel> {
        if rows == 0 {
            return Ok(());
        }
        let mut bad = self.idx_from_slice(&[u32::MAX]);
        let f = self.func(&MODULE, "check_labels");
        let (lv, mut bv) = (labels.view(), bad.view_mut());
        let (r64, c64) = (rows as u64, classes as u64);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&lv).arg(&r64).arg(&c64).arg(&mut bv);
        // SAFETY: check_labels(const u32* labels, u64 rows, u64 classes, u32*
        // bad) reads labels[0..rows) (callers check labels >= rows) and
        // atomically lowers bad[0] (1 element).
        let r = unsafe { l.launch(cfg_1d(rows)) };
        self.launched(r, "check_labels");
        match self.idx_to_vec(&bad)[0] {
            u32::MAX => Ok(()),
            s => Err(BadLabel {
                sample: s as usize,
                label: self.idx_to_vec(labels)[s as usize],
            }),
        }
    }

    /// Stage-1 partials `part` (from a `det::grid` launch) summed to one f64.
    fn loss_sum(&self, part: &CudaBuf<f64>) -> f64 {
        det::finish(self, &MODULE, part)
    }
}

impl LossKernel for Cuda {
    fn cross_entropy<E: Float>(
        &self,
        d: ClassDims,
        smoothing: f64,
        scale: f64,
        logits: &CudaBuf<E>,
        labels: &CudaBuf<u32>,
        grad: &mut CudaBuf<E>,
    ) -> Result<E, BadLabel> {
        let n = d.rows * d.classes;
        assert!(
            logits.len() >= n && labels.len() >= d.rows,
            "cross_entropy: buffer too small"
        );
        self.check_labels(labels, d.rows, d.classes)?;
        self.resize(grad, n);
        if n == 0 {
            return Ok(E::from_f64(0.0 * scale));
        }
        let mut row_loss = self.zeros::<f64>(d.rows);
        {
            let f = self.kernel::<E>(&MODULE, "cross_entropy");
            let (xv, lv, mut gv, mut rv) = (logits.view(), labels.view(), grad.view_mut(), row_loss.view_mut());
            let c64 = d.classes as u64;
            let mut l = self.stream().launch_builder(&f);
            l.arg(&xv)
                .arg(&lv)
                .arg(&mut gv)
                .arg(&mut rv)
                .arg(&c64)
                .arg(&smoothing)
                .arg(&scale);
            // SAFETY: cross_entropy_<t>(const T* x, const u32* labels, T* grad,
            // double* row_loss, u64 classes, double smoothing, double scale),
            // block r < rows: x and grad in [r * classes, (r + 1) * classes) <= n,
            // labels[r], row_loss[r] (rows elements); sizes checked, grad resized.
            let r = unsafe { l.launch(cfg_rows(d.rows)) };
            self.launched(r, "cross_entropy");
        }
        let (cfg, blocks) = det::grid(d.rows);
        let mut part = self.zeros::<f64>(blocks);
        let f = self.func(&MODULE, "sum_rows_f64");
        let (rv, mut pv) = (row_loss.view(), part.view_mut());
        let r64 = d.rows as u64;
        let mut l = self.stream().launch_builder(&f);
        l.arg(&rv).arg(&r64).arg(&mut pv);
        // SAFETY: sum_rows_f64(const double* v, u64 n, double* part) reads
        // v[0..rows) and writes part[block] for each of the `blocks` blocks
        // (part holds `blocks`).
        let r = unsafe { l.launch(cfg) };
        self.launched(r, "sum_rows_f64");
        Ok(E::from_f64(self.loss_sum(&part) * scale))
    }

    fn pointwise_loss<E: Float>(
        &self,
        kind: PointwiseLoss,
        n: usize,
        scale: f64,
        pred: &CudaBuf<E>,
        target: &CudaBuf<E>,
        grad: &mut CudaBuf<E>,
    ) -> E {
        assert!(pred.len() >= n && target.len() >= n, "pointwise_loss: buffer too small");
        self.resize(grad, n);
        if n == 0 {
            return E::from_f64(0.0 * scale);
        }
        let k: i32 = match kind {
            PointwiseLoss::Mse => 0,
            PointwiseLoss::L1 => 1,
            PointwiseLoss::BceWithLogits => 2,
            PointwiseLoss::KlDiv => 3,
        };
        let (cfg, blocks) = det::grid(n);
        let mut part = self.zeros::<f64>(blocks);
        let f = self.kernel::<E>(&MODULE, "pointwise_loss");
        let (pv, tv, mut gv, mut partv) = (pred.view(), target.view(), grad.view_mut(), part.view_mut());
        let n64 = n as u64;
        let mut l = self.stream().launch_builder(&f);
        l.arg(&k)
            .arg(&pv)
            .arg(&tv)
            .arg(&mut gv)
            .arg(&n64)
            .arg(&scale)
            .arg(&mut partv);
        // SAFETY: pointwise_loss_<t>(int kind, const T* pred, const T* target,
        // T* grad, u64 n, double scale, double* part) reads pred/target[0..n)
        // (checked), writes grad[0..n) (resized) and part[block] for each of
        // the `blocks` blocks (part holds `blocks`).
        let r = unsafe { l.launch(cfg) };
        self.launched(r, "pointwise_loss");
        E::from_f64(self.loss_sum(&part) * scale)
    }

    fn count_correct<E: Float>(
        &self,
        d: ClassDims,
        logits: &CudaBuf<E>,
        labels: &CudaBuf<u32>,
    ) -> Result<usize, BadLabel> {
        assert!(
            logits.len() >= d.rows * d.classes && labels.len() >= d.rows,
            "count_correct: buffer too small"
        );
        self.check_labels(labels, d.rows, d.classes)?;
        if d.rows == 0 {
            return Ok(0);
        }
        let mut correct = self.idx_from_slice(&[0]);
        let f = self.kernel::<E>(&MODULE, "count_correct");
        let (xv, lv, mut cv) = (logits.view(), labels.view(), correct.view_mut());
        let (r64, c64) = (d.rows as u64, d.classes as u64);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&xv).arg(&lv).arg(&r64).arg(&c64).arg(&mut cv);
        // SAFETY: count_correct_<t>(const T* x, const u32* labels, u64 rows, u64
        // classes, u32* correct), thread r < rows reads x row r (below rows *
        // classes) and labels[r] (sizes checked), adds to correct[0] (1 element).
        let r = unsafe { l.launch(cfg_1d(d.rows)) };
        self.launched(r, "count_correct");
        Ok(self.idx_to_vec(&correct)[0] as usize)
    }
}
