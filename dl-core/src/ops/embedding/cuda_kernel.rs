//! `EmbeddingKernel for Cuda` (`embedding.cu`). The backward walks the
//! tokens in order per column, so repeated ids add as on the CPU.

use super::EmbeddingKernel;
use crate::cuda::{cfg_1d, Cuda, CudaModule};
use crate::dtype::Float;
use crate::Storage;
use dl_cuda::cudarc::driver::PushKernelArg;
use dl_cuda::CudaBuf;

/// The `embedding` module: `embedding.cu` after the shared headers.
pub(crate) const MODULE: CudaModule = CudaModule {
    name: "embedding",
    src: concat!(include_str!("../util/common.cuh"), include_str!("embedding.cu")),
};

impl EmbeddingKernel for Cuda {
    fn embedding_forward<E: Float>(
        &self,
        vocab: usize,
        dim: usize,
        ids: &CudaBuf<E>,
        w: &CudaBuf<E>,
        y: &mut CudaBuf<E>,
    ) -> usize {
        assert!(w.len() >= vocab * dim, "embedding_forward: buffer too small");
        let tokens = ids.len();
        self.resize(y, tokens * dim);
        if tokens == 0 {
            return 0;
        }
        let (t64, v64, d64) = (tokens as u64, vocab as u64, dim as u64);
        if dim > 0 {
            let f = self.kernel::<E>(&MODULE, "embedding_fwd");
            let (iv, wv, mut yv) = (ids.view(), w.view(), y.view_mut());
            let mut l = self.stream().launch_builder(&f);
            l.arg(&iv).arg(&wv).arg(&mut yv).arg(&t64).arg(&v64).arg(&d64);
            // SAFETY: embedding_fwd_<t>(const T* ids, const T* w, T* y, u64
            // tokens, u64 vocab, u64 dim) writes y[0..tokens * dim) (resized),
            // reads ids[0..tokens) and w rows < vocab (w >= vocab * dim, checked).
            let r = unsafe { l.launch(cfg_1d(tokens * dim)) };
            self.launched(r, "embedding_fwd");
        }
        let mut bad = self.idx_from_slice(&[0]);
        let f = self.kernel::<E>(&MODULE, "embedding_invalid");
        let (iv, mut bv) = (ids.view(), bad.view_mut());
        let mut l = self.stream().launch_builder(&f);
        l.arg(&iv).arg(&t64).arg(&v64).arg(&mut bv);
        // SAFETY: embedding_invalid_<t>(const T* ids, u64 tokens, u64 vocab,
        // u32* bad) reads ids[0..tokens) and adds to bad[0] (1 element).
        let r = unsafe { l.launch(cfg_1d(tokens)) };
        self.launched(r, "embedding_invalid");
        self.idx_to_vec(&bad)[0] as usize
    }

    fn embedding_backward<E: Float>(
        &self,
        vocab: usize,
        dim: usize,
        ids: &CudaBuf<E>,
        dy: &CudaBuf<E>,
        dw: &mut CudaBuf<E>,
    ) {
        let tokens = ids.len();
        assert!(
            dw.len() >= vocab * dim && dy.len() >= tokens * dim,
            "embedding_backward: buffer too small"
        );
        if tokens == 0 || dim == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "embedding_bwd");
        let (iv, gv, mut wv) = (ids.view(), dy.view(), dw.view_mut());
        let (t64, v64, d64) = (tokens as u64, vocab as u64, dim as u64);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&iv).arg(&gv).arg(&mut wv).arg(&t64).arg(&v64).arg(&d64);
        // SAFETY: embedding_bwd_<t>(const T* ids, const T* dy, T* dw, u64
        // tokens, u64 vocab, u64 dim), one thread per column j < dim: reads
        // dy below tokens * dim and updates dw rows < vocab; sizes checked.
        let r = unsafe { l.launch(cfg_1d(dim)) };
        self.launched(r, "embedding_bwd");
    }
}
