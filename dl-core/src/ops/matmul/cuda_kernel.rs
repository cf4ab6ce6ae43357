//! `GemmKernel for Cuda`: cuBLAS strided-batched GEMM through
//! `dl_cuda::blas::gemm` (row-major, every transpose combination); inside
//! an [`autocast`](crate::amp::autocast) scope, `f32` products run on the
//! tensor cores in bf16/f16 with `f32` accumulation
//! (`dl_cuda::blas::gemm_low`), with the roundings of `autocast.cu` around
//! them: the same numerics as the CPU's emulation (`autocast.rs`), up to
//! the order of the `f32` sums.

use super::{Batch, BiasAxis, Gemm, GemmBiasKernel, GemmKernel, GemmWorkspace};
use crate::amp::Precision;
use crate::cuda::{cfg_1d, Cuda, CudaModule};
use crate::dtype::Float;
use crate::ops::bias::{BiasDims, BiasKernel};
use dl_cuda::blas::{gemm, gemm_low, LowType, RowGemm};
use dl_cuda::cudarc::driver::{CudaView, PushKernelArg};
use dl_cuda::CudaBuf;

/// The `autocast` module: `autocast.cu` after the shared headers.
pub(crate) const MODULE: CudaModule = CudaModule {
    name: "autocast",
    src: concat!(include_str!("../util/common.cuh"), include_str!("autocast.cu")),
};

/// The row-major cuBLAS description of `g` over `batch`.
fn row_gemm<E: Float, T: Copy>(g: &Gemm<E>, batch: &Batch, alpha: T, beta: T) -> RowGemm<T> {
    RowGemm {
        m: g.m,
        n: g.n,
        k: g.k,
        trans_a: g.trans_a,
        trans_b: g.trans_b,
        alpha,
        beta,
        count: batch.count,
        stride_a: batch.a_stride,
        stride_b: batch.b_stride,
        stride_c: batch.c_stride,
    }
}

/// Elements that `count` operands of `size` at `stride` apart span.
fn span(count: usize, stride: usize, size: usize) -> usize {
    (count - 1) * stride + size
}

/// `buf` as an `f32` buffer (the caller checked `E::DTYPE`).
pub(crate) fn f32_buf<E: Float>(buf: &CudaBuf<E>) -> &CudaBuf<f32> {
    (buf as &dyn std::any::Any)
        .downcast_ref()
        .expect("autocast: an f32 product on a buffer that is not f32")
}

/// `buf` as an `f32` buffer, mutably (the caller checked `E::DTYPE`).
pub(crate) fn f32_buf_mut<E: Float>(buf: &mut CudaBuf<E>) -> &mut CudaBuf<f32> {
    (buf as &mut dyn std::any::Any)
        .downcast_mut()
        .expect("autocast: an f32 product on a buffer that is not f32")
}

/// The kernels' code of a low precision (1 bf16, 2 f16).
fn code(p: Precision) -> i32 {
    match p {
        Precision::Bf16 => 1,
        Precision::F16 => 2,
        Precision::F32 => unreachable!("autocast: f32 is not a low precision"),
    }
}

impl Cuda {
    /// The 16-bit bits of `x` in precision `p`, in a scratch buffer.
    fn to_low(&self, p: Precision, x: CudaView<'_, f32>) -> CudaBuf<u16> {
        let n = x.len();
        let mut y = self.check(
            CudaBuf::<u16>::scratch(self.device().allocator(), n),
            "autocast scratch",
        );
        if n > 0 {
            let f = self.func(&MODULE, "amp_to_low");
            let (pc, n64) = (code(p), n as u64);
            let mut yv = y.view_mut();
            let mut b = self.stream().launch_builder(&f);
            b.arg(&pc).arg(&x).arg(&mut yv).arg(&n64);
            // SAFETY: amp_to_low(int p, const float* x, unsigned short* y,
            // u64 n) reads x[0..n) and writes y[0..n); both hold n elements.
            let r = unsafe { b.launch(cfg_1d(n)) };
            self.launched(r, "amp_to_low");
        }
        y
    }

    /// The product of an autocast scope of precision `p` on `f32` data:
    /// A, B (and the bias) rounded to `p`, multiplied with `f32`
    /// accumulation, the result (after the bias) rounded to `p` once; with
    /// `beta != 0`, `C = beta C + round(product)` (the CPU's `gemm_low`).
    /// `bias` is added over the whole of `c` with its dimensions (a single
    /// product, or a convolution's batch of products covering `c`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn gemm_autocast(
        &self,
        p: Precision,
        g: Gemm<f32>,
        bt: Batch,
        a: &CudaBuf<f32>,
        b: &CudaBuf<f32>,
        c: &mut CudaBuf<f32>,
        bias: Option<(&CudaBuf<f32>, BiasDims)>,
    ) {
        if bt.count == 0 || g.m == 0 || g.n == 0 {
            return;
        }
        let size = g.m * g.n;
        assert!(bt.count == 1 || bt.c_stride >= size, "gemm: C products overlap");
        let (sa, sb) = (
            span(bt.count, bt.a_stride, g.m * g.k),
            span(bt.count, bt.b_stride, g.k * g.n),
        );
        let (av, bv) = (a.view(), b.view());
        assert!(
            bt.a_offset + sa <= av.len() && bt.b_offset + sb <= bv.len() && bt.c_offset <= c.len(),
            "gemm: an operand is shorter than its batch"
        );
        let a16 = self.to_low(p, av.slice(bt.a_offset..bt.a_offset + sa));
        let b16 = self.to_low(p, bv.slice(bt.b_offset..bt.b_offset + sb));
        let low = if p == Precision::Bf16 {
            LowType::Bf16
        } else {
            LowType::F16
        };
        let rounded_bias = bias.map(|(v, d)| {
            let mut r = self.check(
                CudaBuf::<f32>::scratch(self.device().allocator(), v.len()),
                "autocast scratch",
            );
            self.round_into(p, v, &mut r, 0, v.len(), 1, v.len(), 0.0, false);
            (r, d)
        });
        let pc = code(p);
        if g.beta == 0.0 {
            // The product straight into C, then the bias, then one rounding.
            let rg = row_gemm(&g, &bt, g.alpha, 0.0);
            let mut cv = c.view_mut();
            let mut cv = cv.slice_mut(bt.c_offset..);
            self.check(
                gemm_low(self.device(), low, &rg, &a16.view(), &b16.view(), &mut cv),
                "gemm (autocast)",
            );
            if let Some((rb, d)) = &rounded_bias {
                self.bias_add(*d, rb, c);
            }
            let (stride, count, size64) = (bt.c_stride.max(size) as u64, bt.count as u64, size as u64);
            let f = self.func(&MODULE, "amp_round_inplace");
            let mut cv = c.view_mut();
            let mut cv = cv.slice_mut(bt.c_offset..);
            let mut l = self.stream().launch_builder(&f);
            l.arg(&pc).arg(&mut cv).arg(&stride).arg(&count).arg(&size64);
            // SAFETY: amp_round_inplace(int p, float* c, u64 stride, u64
            // count, u64 size) updates c[i * stride + j] for i < count,
            // j < size: inside C's batch, which gemm_low checked.
            let r = unsafe { l.launch(cfg_1d(bt.count * size)) };
            self.launched(r, "amp_round_inplace");
        } else {
            // The product into packed scratch, rounded, then added to C.
            assert!(
                bias.is_none() || bt.count == 1,
                "gemm: a bias with beta != 0 on a batch"
            );
            let mut tmp = self.check(
                CudaBuf::<f32>::scratch(self.device().allocator(), bt.count * size),
                "autocast scratch",
            );
            let packed = Batch {
                c_offset: 0,
                c_stride: size,
                ..bt
            };
            let rg = row_gemm(&g, &packed, g.alpha, 0.0);
            self.check(
                gemm_low(self.device(), low, &rg, &a16.view(), &b16.view(), &mut tmp.view_mut()),
                "gemm (autocast)",
            );
            if let Some((rb, d)) = &rounded_bias {
                self.bias_add(*d, rb, &mut tmp);
            }
            assert!(
                bt.c_offset + span(bt.count, bt.c_stride, size) <= c.len(),
                "gemm: C is shorter than its batch"
            );
            self.round_into(
                p,
                &tmp,
                c,
                bt.c_offset,
                bt.c_stride.max(size),
                bt.count,
                size,
                g.beta,
                true,
            );
        }
    }

    /// `dst[at + i * stride + j] = round(src[i * size + j])`, or
    /// `beta * dst[..] + round(src[..])` with `accumulate`, for `count`
    /// products of `size` elements.
    #[allow(clippy::too_many_arguments)]
    fn round_into(
        &self,
        p: Precision,
        src: &CudaBuf<f32>,
        dst: &mut CudaBuf<f32>,
        at: usize,
        stride: usize,
        count: usize,
        size: usize,
        beta: f32,
        accumulate: bool,
    ) {
        let n = count * size;
        if n == 0 {
            return;
        }
        assert!(
            src.len() >= n && at + span(count, stride, size) <= dst.len(),
            "autocast: rounding out of bounds"
        );
        let f = self.func(&MODULE, "amp_round_into");
        let (pc, stride64, count64, size64, acc) =
            (code(p), stride as u64, count as u64, size as u64, accumulate as i32);
        let sv = src.view();
        let mut dv = dst.view_mut();
        let mut dv = dv.slice_mut(at..);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&pc)
            .arg(&sv)
            .arg(&mut dv)
            .arg(&stride64)
            .arg(&count64)
            .arg(&size64)
            .arg(&beta)
            .arg(&acc);
        // SAFETY: amp_round_into(int p, const float* src, float* dst, u64
        // stride, u64 count, u64 size, float beta, int accumulate) reads
        // src[0..count * size) and updates dst[i * stride + j] (i < count,
        // j < size): inside both buffers (checked above); they are distinct
        // buffers (one borrowed shared, one mutably).
        let r = unsafe { l.launch(cfg_1d(n)) };
        self.launched(r, "amp_round_into");
    }
}

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
        if let Some(p) = crate::amp::low_for::<E>() {
            let g32 = g.to_f32();
            return self.gemm_autocast(p, g32, batch, f32_buf(a), f32_buf(b), f32_buf_mut(c), None);
        }
        let (av, bv, mut cv) = (a.view(), b.view(), c.view_mut());
        assert!(
            batch.a_offset <= av.len() && batch.b_offset <= bv.len() && batch.c_offset <= cv.len(),
            "gemm: batch offset past the end of a buffer"
        );
        let (av, bv) = (av.slice(batch.a_offset..), bv.slice(batch.b_offset..));
        let mut cv = cv.slice_mut(batch.c_offset..);
        let rg = row_gemm(&g, &batch, g.alpha, g.beta);
        // Operands that do not fit are a caller bug (InvalidArgument): panic like the CPU's asserts.
        self.check(gemm(self.device(), &rg, &av, &bv, &mut cv), "gemm");
    }
}

/// The product, then the bias kernel (no fused epilogue on CUDA); under
/// autocast the bias is added before the result's one rounding, as the
/// CPU's fused epilogue does.
impl GemmBiasKernel for Cuda {
    fn gemm_bias_ws<E: Float>(
        &self,
        ws: &mut GemmWorkspace,
        g: Gemm<E>,
        a: &CudaBuf<E>,
        b: &CudaBuf<E>,
        bias: &CudaBuf<E>,
        axis: BiasAxis,
        c: &mut CudaBuf<E>,
    ) {
        let d = axis.dims(g.m, g.n);
        if let Some(p) = crate::amp::low_for::<E>() {
            let g32 = g.to_f32();
            let bias = Some((f32_buf(bias), d));
            return self.gemm_autocast(p, g32, Batch::one(), f32_buf(a), f32_buf(b), f32_buf_mut(c), bias);
        }
        self.gemm_ws(ws, g, a, b, c);
        self.bias_add(d, bias, c);
    }
}
