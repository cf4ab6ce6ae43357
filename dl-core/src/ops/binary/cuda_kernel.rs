//! `BinaryKernel for Cuda` (`binary.cu`).

use super::{BinaryDims, BinaryKernel, BinaryOp};
use crate::cuda::{cfg_1d, Cuda, CudaModule};
use crate::dtype::Float;
use crate::Storage;
use dl_cuda::cudarc::driver::PushKernelArg;
use dl_cuda::CudaBuf;

/// The `binary` module: `binary.cu` after the shared headers.
pub(crate) const MODULE: CudaModule = CudaModule {
    name: "binary",
    src: concat!(include_str!("../util/common.cuh"), include_str!("binary.cu")),
};

/// The op code of `binary.cu`.
fn code(op: BinaryOp) -> i32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
    }
}

impl BinaryKernel for Cuda {
    fn binary_forward<E: Float>(
        &self,
        op: BinaryOp,
        d: BinaryDims,
        a: &CudaBuf<E>,
        b: &CudaBuf<E>,
        out: &mut CudaBuf<E>,
    ) {
        let n = d.outer * d.inner;
        let b_len = if d.broadcast_b { d.inner } else { n };
        assert!(a.len() >= n && b.len() >= b_len, "binary_forward: buffer too small");
        self.resize(out, n);
        if n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "binary_fwd");
        let (av, bv, mut ov) = (a.view(), b.view(), out.view_mut());
        let (c, n64, in64, bc) = (code(op), n as u64, d.inner as u64, d.broadcast_b as i32);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&c).arg(&av).arg(&bv).arg(&mut ov).arg(&n64).arg(&in64).arg(&bc);
        // SAFETY: binary_fwd_<t>(int op, const T* a, const T* b, T* out, u64 n,
        // u64 inner, int bcast) reads a[0..n), b[0..n) or b[0..inner) when
        // bcast, writes out[0..n); sizes checked, out resized to n.
        let r = unsafe { l.launch(cfg_1d(n)) };
        self.launched(r, "binary_fwd");
    }

    fn binary_backward<E: Float>(
        &self,
        op: BinaryOp,
        d: BinaryDims,
        a: &CudaBuf<E>,
        b: &CudaBuf<E>,
        dy: &CudaBuf<E>,
        da: &mut CudaBuf<E>,
        db: &mut CudaBuf<E>,
    ) {
        let n = d.outer * d.inner;
        let b_len = if d.broadcast_b { d.inner } else { n };
        assert!(
            a.len() >= n && b.len() >= b_len && dy.len() >= n,
            "binary_backward: buffer too small"
        );
        self.resize(da, n);
        self.resize(db, b_len);
        if n == 0 {
            if d.broadcast_b {
                self.fill(db, E::ZERO);
            }
            return;
        }
        let (c, n64, in64, bc) = (code(op), n as u64, d.inner as u64, d.broadcast_b as i32);
        let f = self.kernel::<E>(&MODULE, "binary_bwd");
        {
            let (av, bv, gv, mut dav, mut dbv) = (a.view(), b.view(), dy.view(), da.view_mut(), db.view_mut());
            let mut l = self.stream().launch_builder(&f);
            l.arg(&c).arg(&av).arg(&bv).arg(&gv).arg(&mut dav).arg(&mut dbv);
            l.arg(&n64).arg(&in64).arg(&bc);
            // SAFETY: binary_bwd_<t>(int op, const T* a, const T* b, const T* dy,
            // T* da, T* db, u64 n, u64 inner, int bcast) reads a, dy [0..n) and
            // b as in the forward, writes da[0..n) and, only without bcast,
            // db[0..n); sizes checked, da and db resized.
            let r = unsafe { l.launch(cfg_1d(n)) };
            self.launched(r, "binary_bwd");
        }
        if d.broadcast_b {
            let f = self.kernel::<E>(&MODULE, "binary_db_bcast");
            let (av, bv, gv, mut dbv) = (a.view(), b.view(), dy.view(), db.view_mut());
            let o64 = d.outer as u64;
            let mut l = self.stream().launch_builder(&f);
            l.arg(&c).arg(&av).arg(&bv).arg(&gv).arg(&mut dbv).arg(&o64).arg(&in64);
            // SAFETY: binary_db_bcast_<t>(int op, const T* a, const T* b,
            // const T* dy, T* db, u64 outer, u64 inner) writes db[0..inner)
            // and reads a, dy at o * inner + j < n and b[j]; sizes checked.
            let r = unsafe { l.launch(cfg_1d(d.inner)) };
            self.launched(r, "binary_db_bcast");
        }
    }
}
