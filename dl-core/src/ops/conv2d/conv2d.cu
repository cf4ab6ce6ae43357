// im2col / col2im / transpose for the GEMM-lowered convolution (the GEMMs
// run on cuBLAS). Column layouts as the CPU's: segments of oh*ow elements,
// one per (sample i, tap r = (c * k + p) * k + q); layout 0 is
// [n][ckk][ohw] (per sample), layout 1 is [ckk][n][ohw] (whole batch).
// One thread per column element (total n * ckk * ohw).
template <typename T> __device__ void im2col_impl(const T* x, T* col, u64 n, u64 c_in, u64 h, u64 w, u64 k, u64 stride, u64 pad,
                                                  u64 oh, u64 ow, int layout) {
    u64 ohw = oh * ow, ckk = c_in * k * k;
    GRID_STRIDE(e, n * ckk * ohw) {
        u64 seg = e / ohw, pos = e % ohw;
        u64 i = layout == 0 ? seg / ckk : seg % n;
        u64 r = layout == 0 ? seg % ckk : seg / n;
        u64 c = r / (k * k), ki = (r / k) % k, kj = r % k;
        long long iy = (long long)((pos / ow) * stride + ki) - (long long)pad;
        long long ix = (long long)((pos % ow) * stride + kj) - (long long)pad;
        bool in = iy >= 0 && iy < (long long)h && ix >= 0 && ix < (long long)w;
        col[e] = in ? x[((i * c_in + c) * h + (u64)iy) * w + (u64)ix] : (T)0;
    }
}
// dx[i, c, iy, ix] = sum over taps (ki, kj), in that order, of the per-sample
// column entry that reads it: the CPU's per-element order (bit-identical sums).
template <typename T> __device__ void col2im_impl(const T* col, T* dx, u64 n, u64 c_in, u64 h, u64 w, u64 k, u64 stride, u64 pad,
                                                  u64 oh, u64 ow) {
    u64 ohw = oh * ow, ckk = c_in * k * k;
    GRID_STRIDE(e, n * c_in * h * w) {
        u64 ix = e % w, iy = (e / w) % h, c = (e / (w * h)) % c_in, i = e / (w * h * c_in);
        T acc = (T)0;
        for (u64 ki = 0; ki < k; ki++) {
            long long ty = (long long)(iy + pad) - (long long)ki;
            if (ty < 0 || ty % (long long)stride != 0) continue;
            u64 oy = (u64)ty / stride;
            if (oy >= oh) continue;
            for (u64 kj = 0; kj < k; kj++) {
                long long tx = (long long)(ix + pad) - (long long)kj;
                if (tx < 0 || tx % (long long)stride != 0) continue;
                u64 ox = (u64)tx / stride;
                if (ox >= ow) continue;
                u64 r = (c * k + ki) * k + kj;
                acc += col[(i * ckk + r) * ohw + oy * ow + ox];
            }
        }
        dx[e] = acc;
    }
}
// dyt[o, i, p] = dy[i, o, p] ([n][c_out][ohw] -> [c_out][n][ohw]).
template <typename T> __device__ void transpose_nc_impl(const T* dy, T* dyt, u64 n, u64 c_out, u64 ohw) {
    GRID_STRIDE(e, n * c_out * ohw) {
        u64 p = e % ohw, seg = e / ohw;
        u64 o = seg / n, i = seg % n;
        dyt[e] = dy[(i * c_out + o) * ohw + p];
    }
}
#define CONV2D(T, S) \
    DL_KERNEL_T(im2col, T, S, (const T* x, T* col, u64 n, u64 c_in, u64 h, u64 w, u64 k, u64 stride, u64 pad, u64 oh, u64 ow, \
                               int layout), \
                (x, col, n, c_in, h, w, k, stride, pad, oh, ow, layout)) \
    DL_KERNEL_T(col2im, T, S, (const T* col, T* dx, u64 n, u64 c_in, u64 h, u64 w, u64 k, u64 stride, u64 pad, u64 oh, u64 ow), \
                (col, dx, n, c_in, h, w, k, stride, pad, oh, ow)) \
    DL_KERNEL_T(transpose_nc, T, S, (const T* dy, T* dyt, u64 n, u64 c_out, u64 ohw), (dy, dyt, n, c_out, ohw))
CONV2D(float, f32)
CONV2D(double, f64)
