//! `AttentionKernel for Cuda` (`attention.cu`): the masked softmax in place
//! (one block per row) and the head split/merge permutations.

use super::{AttentionKernel, AttnMask, HeadDims, ScoreDims};
use crate::cuda::{cfg_1d, cfg_rows, Cuda, CudaModule};
use crate::dtype::Float;
use crate::Storage;
use dl_cuda::cudarc::driver::PushKernelArg;
use dl_cuda::CudaBuf;

/// The `attention` module: `attention.cu` after the shared headers.
pub(crate) const MODULE: CudaModule = CudaModule {
    name: "attention",
    src: concat!(include_str!("../util/common.cuh"), include_str!("attention.cu")),
};

/// `(causal, has_window, window)` kernel arguments of a mask.
fn mask_args(m: AttnMask) -> (i32, i32, u64) {
    (
        m.causal as i32,
        m.window.is_some() as i32,
        m.window.map_or(0, |w| w as u64),
    )
}

impl AttentionKernel for Cuda {
    fn masked_softmax_forward<E: Float>(&self, d: ScoreDims, s: &mut CudaBuf<E>) {
        let ScoreDims { count, tq, tk, mask } = d;
        let n = d.check("masked_softmax_forward", &[s.len()]);
        if n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "masked_softmax_fwd");
        let (c, hw, w) = mask_args(mask);
        let (q64, k64) = (tq as u64, tk as u64);
        let mut sv = s.view_mut();
        let mut l = self.stream().launch_builder(&f);
        l.arg(&mut sv).arg(&q64).arg(&k64).arg(&c).arg(&hw).arg(&w);
        // SAFETY: masked_softmax_fwd_<t>(T* s, u64 tq, u64 tk, int causal, int
        // has_window, u64 wnd), block r < count * tq rewrites s[r * tk..(r + 1)
        // * tk) <= n in place; s holds >= n elements (checked).
        let r = unsafe { l.launch(cfg_rows(count * tq)) };
        self.launched(r, "masked_softmax_fwd");
    }

    fn masked_softmax_backward<E: Float>(&self, d: ScoreDims, p: &CudaBuf<E>, dp: &mut CudaBuf<E>) {
        let ScoreDims { count, tq, tk, mask } = d;
        let n = d.check("masked_softmax_backward", &[p.len(), dp.len()]);
        if n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "masked_softmax_bwd");
        let (c, hw, w) = mask_args(mask);
        let (q64, k64) = (tq as u64, tk as u64);
        let (pv, mut dv) = (p.view(), dp.view_mut());
        let mut l = self.stream().launch_builder(&f);
        l.arg(&pv).arg(&mut dv).arg(&q64).arg(&k64).arg(&c).arg(&hw).arg(&w);
        // SAFETY: masked_softmax_bwd_<t>(const T* p, T* dp, u64 tq, u64 tk, int
        // causal, int has_window, u64 wnd), block r < count * tq reads p and
        // rewrites dp in [r * tk, (r + 1) * tk) <= n; both hold >= n (checked).
        let r = unsafe { l.launch(cfg_rows(count * tq)) };
        self.launched(r, "masked_softmax_bwd");
    }

    fn split_heads<E: Float>(&self, d: HeadDims, chunk: usize, src: &CudaBuf<E>, dst: &mut CudaBuf<E>) {
        assert!(chunk < d.chunks, "split_heads: chunk {chunk} of {}", d.chunks);
        assert!(src.len() >= d.packed_len(), "split_heads: source too small");
        let len = d.head_major_len();
        self.resize(dst, len);
        if len == 0 {
            return;
        }
        self.heads_launch("split_heads", d, chunk, src, dst, len);
    }

    fn merge_heads<E: Float>(&self, d: HeadDims, chunk: usize, src: &CudaBuf<E>, dst: &mut CudaBuf<E>) {
        assert!(chunk < d.chunks, "merge_heads: chunk {chunk} of {}", d.chunks);
        assert!(src.len() >= d.head_major_len(), "merge_heads: source too small");
        self.resize(dst, d.packed_len());
        if d.packed_len() == 0 {
            return;
        }
        self.heads_launch("merge_heads", d, chunk, src, dst, d.head_major_len());
    }
}

impl Cuda {
    /// Launches `split_heads` or `merge_heads` over the `len` head-major elements.
    fn heads_launch<E: Float>(
        &self,
        name: &str,
        d: HeadDims,
        chunk: usize,
        src: &CudaBuf<E>,
        dst: &mut CudaBuf<E>,
        len: usize,
    ) {
        let f = self.kernel::<E>(&MODULE, name);
        let a = [d.n, d.t, d.heads, d.head_dim, d.chunks, chunk].map(|v| v as u64);
        let (sv, mut dv) = (src.view(), dst.view_mut());
        let mut l = self.stream().launch_builder(&f);
        l.arg(&sv).arg(&mut dv);
        for v in &a {
            l.arg(v);
        }
        // SAFETY: split_heads_<t> / merge_heads_<t>(const T* src, T* dst, u64 n,
        // t, heads, dh, chunks, chunk), one thread per head-major element e <
        // heads * n * t * dh = len: the head-major side is indexed by e, the
        // packed side by (n * t + t) * width + (chunk * heads + h) * dh + j <
        // packed_len with chunk < chunks; callers checked src and resized dst.
        let r = unsafe { l.launch(cfg_1d(len)) };
        self.launched(r, name);
    }
}
