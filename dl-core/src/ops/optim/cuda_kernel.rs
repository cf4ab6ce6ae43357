//! `OptimKernel for Cuda` (`optim.cu`): the CPU's per-element updates in
//! the same operation order; sums through the deterministic two-stage
//! reduction (`crate::cuda::det`), in f64.

use super::{AdagradHyper, AdamHyper, OptimKernel, Penalty, RmsPropHyper, SgdHyper};
use crate::cuda::{cfg_1d, det, Cuda, CudaModule};
use crate::dtype::Float;
use crate::Storage;
use dl_cuda::cudarc::driver::PushKernelArg;
use dl_cuda::CudaBuf;

/// The `optim` module: `optim.cu` after the shared headers.
pub(crate) const MODULE: CudaModule = CudaModule {
    name: "optim",
    src: concat!(
        include_str!("../util/common.cuh"),
        include_str!("../util/det_sum.cuh"),
        include_str!("optim.cu")
    ),
};

impl Cuda {
    /// `sum x^2` (`absolute = 0`) or `sum |x|` (1), deterministic, in f64.
    fn sum_sq_abs<E: Float>(&self, x: &CudaBuf<E>, absolute: i32) -> f64 {
        let n = x.len();
        if n == 0 {
            return 0.0;
        }
        let (cfg, blocks) = det::grid(n);
        let mut part = self.zeros::<f64>(blocks);
        {
            let f = self.kernel::<E>(&MODULE, "sum_sq_abs");
            let (xv, mut pv) = (x.view(), part.view_mut());
            let n64 = n as u64;
            let mut l = self.stream().launch_builder(&f);
            l.arg(&xv).arg(&n64).arg(&absolute).arg(&mut pv);
            // SAFETY: sum_sq_abs_<t>(const T* x, u64 n, int absolute, double*
            // part) reads x[0..n) (its length) and writes part[block] for each
            // of the `blocks` blocks (part holds `blocks`).
            let r = unsafe { l.launch(cfg) };
            self.launched(r, "sum_sq_abs");
        }
        det::finish(self, &MODULE, &part)
    }
}

impl OptimKernel for Cuda {
    fn sgd_update<E: Float>(&self, h: &SgdHyper, p: &mut CudaBuf<E>, g: &CudaBuf<E>, buf: &mut CudaBuf<E>) {
        let use_m = h.momentum != 0.0;
        h.assert_lens(p.len(), g.len(), buf.len());
        let n = p.len();
        if n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "sgd_update");
        let (mut pv, gv, mut bv) = (p.view_mut(), g.view(), buf.view_mut());
        let n64 = n as u64;
        let damp = 1.0 - h.dampening;
        let flags = [
            use_m as i32,
            (h.weight_decay != 0.0) as i32,
            h.first_step as i32,
            h.nesterov as i32,
        ];
        let mut l = self.stream().launch_builder(&f);
        l.arg(&mut pv).arg(&gv).arg(&mut bv).arg(&n64);
        l.arg(&h.lr).arg(&h.momentum).arg(&damp).arg(&h.weight_decay);
        for v in &flags {
            l.arg(v);
        }
        // SAFETY: sgd_update_<t>(T* p, const T* g, T* buf, u64 n, double lr,
        // double m, double damp, double wd, int use_m, int use_wd, int first,
        // int nesterov) updates p[0..n), reads g[0..n) (same length, checked)
        // and touches buf[0..n) only when use_m, when buf has n elements (checked).
        let r = unsafe { l.launch(cfg_1d(n)) };
        self.launched(r, "sgd_update");
    }

    fn adagrad_update<E: Float>(&self, h: &AdagradHyper, p: &mut CudaBuf<E>, g: &CudaBuf<E>, sum: &mut CudaBuf<E>) {
        h.assert_lens(p.len(), g.len(), sum.len());
        let n = p.len();
        if n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "adagrad_update");
        let (mut pv, gv, mut sv) = (p.view_mut(), g.view(), sum.view_mut());
        let (n64, use_wd) = (n as u64, (h.weight_decay != 0.0) as i32);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&mut pv).arg(&gv).arg(&mut sv).arg(&n64);
        l.arg(&h.clr).arg(&h.eps).arg(&h.weight_decay).arg(&use_wd);
        // SAFETY: adagrad_update_<t>(T* p, const T* g, T* sum, u64 n, double clr,
        // double eps, double wd, int use_wd) touches [0..n) of p, g, sum (all
        // of length n, checked).
        let r = unsafe { l.launch(cfg_1d(n)) };
        self.launched(r, "adagrad_update");
    }

    fn rmsprop_update<E: Float>(
        &self,
        h: &RmsPropHyper,
        p: &mut CudaBuf<E>,
        g: &CudaBuf<E>,
        square_avg: &mut CudaBuf<E>,
        momentum_buf: &mut CudaBuf<E>,
        grad_avg: &mut CudaBuf<E>,
    ) {
        let (use_m, centered) = (h.momentum > 0.0, h.centered);
        h.assert_lens(p.len(), g.len(), square_avg.len(), momentum_buf.len(), grad_avg.len());
        let n = p.len();
        if n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "rmsprop_update");
        let (mut pv, gv) = (p.view_mut(), g.view());
        let (mut sv, mut bv, mut av) = (square_avg.view_mut(), momentum_buf.view_mut(), grad_avg.view_mut());
        let n64 = n as u64;
        let oma = 1.0 - h.alpha;
        let flags = [use_m as i32, centered as i32, (h.weight_decay != 0.0) as i32];
        let mut l = self.stream().launch_builder(&f);
        l.arg(&mut pv).arg(&gv).arg(&mut sv).arg(&mut bv).arg(&mut av).arg(&n64);
        l.arg(&h.lr)
            .arg(&h.alpha)
            .arg(&oma)
            .arg(&h.eps)
            .arg(&h.weight_decay)
            .arg(&h.momentum);
        for v in &flags {
            l.arg(v);
        }
        // SAFETY: rmsprop_update_<t>(T* p, const T* g, T* sq, T* buf, T* ga, u64
        // n, double lr, alpha, oma, eps, wd, m, int use_m, int centered, int
        // use_wd) touches [0..n) of p, g, sq, of buf only when use_m and of ga
        // only when centered; those have n elements then (checked).
        let r = unsafe { l.launch(cfg_1d(n)) };
        self.launched(r, "rmsprop_update");
    }

    fn adam_update<E: Float>(
        &self,
        h: &AdamHyper,
        p: &mut CudaBuf<E>,
        g: &CudaBuf<E>,
        exp_avg: &mut CudaBuf<E>,
        exp_avg_sq: &mut CudaBuf<E>,
        max_exp_avg_sq: &mut CudaBuf<E>,
    ) {
        h.assert_lens(p.len(), g.len(), exp_avg.len(), exp_avg_sq.len(), max_exp_avg_sq.len());
        let n = p.len();
        if n == 0 {
            return;
        }
        let c = h.consts();
        let consts = [
            c.step_size,
            c.bc2_sqrt,
            c.shrink,
            h.eps,
            h.weight_decay,
            c.one_minus_beta1,
            h.beta2,
            c.one_minus_beta2,
        ];
        let flags = [(h.weight_decay != 0.0) as i32, h.decoupled as i32, h.amsgrad as i32];
        let f = self.kernel::<E>(&MODULE, "adam_update");
        let (mut pv, gv) = (p.view_mut(), g.view());
        let (mut mv, mut vv, mut xv) = (exp_avg.view_mut(), exp_avg_sq.view_mut(), max_exp_avg_sq.view_mut());
        let n64 = n as u64;
        let mut l = self.stream().launch_builder(&f);
        l.arg(&mut pv).arg(&gv).arg(&mut mv).arg(&mut vv).arg(&mut xv).arg(&n64);
        for v in &consts {
            l.arg(v);
        }
        for v in &flags {
            l.arg(v);
        }
        // SAFETY: adam_update_<t>(T* p, const T* g, T* m, T* v, T* vmax, u64 n,
        // double step_size, bc2_sqrt, shrink, eps, wd, b1c, b2, b2c, int use_wd,
        // int decoupled, int amsgrad) touches [0..n) of p, g, m, v, and of vmax
        // only when amsgrad, when it has n elements (checked).
        let r = unsafe { l.launch(cfg_1d(n)) };
        self.launched(r, "adam_update");
    }

    fn sum_squares<E: Float>(&self, x: &CudaBuf<E>) -> f64 {
        self.sum_sq_abs(x, 0)
    }

    fn sum_abs<E: Float>(&self, x: &CudaBuf<E>) -> f64 {
        self.sum_sq_abs(x, 1)
    }

    fn scale<E: Float>(&self, x: &mut CudaBuf<E>, s: f64) {
        let n = x.len();
        if n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "scale");
        let mut xv = x.view_mut();
        let n64 = n as u64;
        let mut l = self.stream().launch_builder(&f);
        l.arg(&mut xv).arg(&n64).arg(&s);
        // SAFETY: scale_<t>(T* x, u64 n, double s) updates x[0..n) (its length).
        let r = unsafe { l.launch(cfg_1d(n)) };
        self.launched(r, "scale");
    }

    fn penalty_grad<E: Float>(&self, kind: Penalty, lambda: f64, w: &CudaBuf<E>, g: &mut CudaBuf<E>) {
        assert_eq!(w.len(), g.len(), "penalty_grad: weight and gradient lengths differ");
        let n = w.len();
        if n == 0 {
            return;
        }
        let k: i32 = match kind {
            Penalty::L1 => 0,
            Penalty::L2 => 1,
        };
        let f = self.kernel::<E>(&MODULE, "penalty_grad");
        let (wv, mut gv) = (w.view(), g.view_mut());
        let n64 = n as u64;
        let mut l = self.stream().launch_builder(&f);
        l.arg(&wv).arg(&mut gv).arg(&n64).arg(&k).arg(&lambda);
        // SAFETY: penalty_grad_<t>(const T* w, T* g, u64 n, int kind, double
        // lambda) reads w[0..n) and updates g[0..n) (equal lengths, checked).
        let r = unsafe { l.launch(cfg_1d(n)) };
        self.launched(r, "penalty_grad");
    }
}
