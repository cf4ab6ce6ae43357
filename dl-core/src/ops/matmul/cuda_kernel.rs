//! `GemmKernel for Cuda`: cuBLAS strided-batched GEMM through
//! `dl_cuda::blas::gemm` (row-major, every transpose combination). No `.cu`.

use super::{Batch, Gemm, GemmBiasKernel, GemmKernel, GemmWorkspace};
use crate::cuda::Cuda;
use crate::dtype::Float;
use dl_cuda::blas::{gemm, RowGemm};
use dl_cuda::CudaBuf;

impl GemmKernel for Cuda {
    /// cuBLAS manages its own memory: the workspace is not used.
    fn gemm_batched_ws<E: Float>(
        &self,
        _ws: &mut GemmWorkspace,
        g: Gemm<E>,
        batch: Batch,
        a: &CudaBuf<E>,
        b: &CudaBuf<E>,
        c: &mut CudaBuf<E>,
    ) {
        if batch.count == 0 || g.m == 0 || g.n == 0 {
            return;
        }
        let (av, bv, mut cv) = (a.view(), b.view(), c.view_mut());
        assert!(
            batch.a_offset <= av.len() && batch.b_offset <= bv.len() && batch.c_offset <= cv.len(),
            "gemm: batch offset past the end of a buffer"
        );
        let (av, bv) = (av.slice(batch.a_offset..), bv.slice(batch.b_offset..));
        let mut cv = cv.slice_mut(batch.c_offset..);
        let rg = RowGemm {
            m: g.m,
            n: g.n,
            k: g.k,
            trans_a: g.trans_a,
            trans_b: g.trans_b,
            alpha: g.alpha,
            beta: g.beta,
            count: batch.count,
            stride_a: batch.a_stride,
            stride_b: batch.b_stride,
            stride_c: batch.c_stride,
        };
        // Operands that do not fit are a caller bug (InvalidArgument): panic like the CPU's asserts.
        self.check(gemm(self.device(), &rg, &av, &bv, &mut cv), "gemm");
    }
}

/// The product, then the bias kernel (no fused epilogue on CUDA).
impl GemmBiasKernel for Cuda {}
