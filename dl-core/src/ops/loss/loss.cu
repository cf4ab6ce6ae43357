// Loss kernels; per-term math in double as the CPU's, sums deterministic
// (fixed grids and trees, det_sum.cuh). Integer counters use atomics
// (exact, so order-free).
// *bad = the smallest sample index whose label is >= classes (init u32 max).
extern "C" __global__ void check_labels(const u32* labels, u64 rows, u64 classes, u32* bad) {
    GRID_STRIDE(r, rows) {
        if ((u64)labels[r] >= classes) atomicMin(bad, (u32)r);
    }
}
// Cross-entropy with label smoothing, one block per row: writes the row's
// gradient (times scale) and its loss into row_loss[r]. A bad label
// (reported by check_labels) skips the row.
template <typename T> __device__ void cross_entropy_impl(const T* x, const u32* labels, T* grad, double* row_loss, u64 classes,
                                                         double smoothing, double scale) {
    __shared__ double sh[BLOCK];
    u64 r = blockIdx.x, off = r * classes;
    u64 y = labels[r];
    if (y >= classes) {
        if (threadIdx.x == 0) row_loss[r] = 0.0;
        return;
    }
    double m = -INFINITY;
    for (u64 j = threadIdx.x; j < classes; j += BLOCK) m = fmax(m, (double)x[off + j]);
    m = block_fmax(m, sh);
    double s = 0.0, zs = 0.0;
    for (u64 j = threadIdx.x; j < classes; j += BLOCK) {
        double z = (double)x[off + j] - m;
        s += exp(z);
        zs += z;
    }
    s = block_sum(s, sh);
    zs = block_sum(zs, sh);
    double ls = log(s);
    double inv = 1.0 / s, o = smoothing / (double)classes;
    for (u64 j = threadIdx.x; j < classes; j += BLOCK) {
        double p = exp((double)x[off + j] - m) * inv;
        double target = j == y ? 1.0 - smoothing + o : o;
        grad[off + j] = (T)(scale * (p - target));
    }
    if (threadIdx.x == 0) {
        double nll = ls - ((double)x[off + y] - m);
        double smooth = ls - zs / (double)classes;
        row_loss[r] = (1.0 - smoothing) * nll + smoothing * smooth;
    }
}
// Fixed-order sum of the row losses into part[block] (det_sum.cuh stage 1).
extern "C" __global__ void sum_rows_f64(const double* v, u64 n, double* part) {
    __shared__ double sh[BLOCK];
    double acc = 0.0;
    GRID_STRIDE(i, n) acc += v[i];
    double s = block_sum(acc, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}
// The element-wise loss terms of PointwiseLoss::term: kind 0 mse, 1 l1,
// 2 bce-with-logits, 3 kl-div. Returns the term; *d = d term / d p.
__device__ __forceinline__ double pointwise_term(int kind, double p, double t, double* d) {
    if (kind == 0) {
        double e = p - t;
        *d = 2.0 * e;
        return e * e;
    }
    if (kind == 1) {
        double e = p - t;
        *d = e > 0.0 ? 1.0 : (e < 0.0 ? -1.0 : e * 0.0);
        return fabs(e);
    }
    if (kind == 2) {
        double e = exp(-fabs(p));
        double sig = p >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        *d = sig - t;
        return fmax(p, 0.0) - p * t + log1p(e);
    }
    double xlogy = t == 0.0 ? 0.0 : t * log(t);
    *d = -t;
    return xlogy - t * p;
}
// grad[i] = scale * d term; part[block] = the block's fixed-order term sum.
template <typename T> __device__ void pointwise_loss_impl(int kind, const T* pred, const T* target, T* grad, u64 n, double scale,
                                                          double* part) {
    __shared__ double sh[BLOCK];
    double acc = 0.0;
    GRID_STRIDE(i, n) {
        double d;
        acc += pointwise_term(kind, (double)pred[i], (double)target[i], &d);
        grad[i] = (T)(scale * d);
    }
    double s = block_sum(acc, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}
// Rows whose first maximal logit (a NaN counts as maximal) is the label.
template <typename T> __device__ void count_correct_impl(const T* x, const u32* labels, u64 rows, u64 classes, u32* correct) {
    GRID_STRIDE(r, rows) {
        const T* row = x + r * classes;
        u64 best = 0;
        for (u64 k = 0; k < classes; k++) {
            T v = row[k];
            if (v != v) {
                best = k;
                break;
            }
            if (v > row[best]) best = k;
        }
        if (best == (u64)labels[r]) atomicAdd(correct, 1u);
    }
}
#define LOSS(T, S) \
    DL_KERNEL_T(cross_entropy, T, S, (const T* x, const u32* labels, T* grad, double* row_loss, u64 classes, double smoothing, \
                                      double scale), \
                (x, labels, grad, row_loss, classes, smoothing, scale)) \
    DL_KERNEL_T(pointwise_loss, T, S, (int kind, const T* pred, const T* target, T* grad, u64 n, double scale, double* part), \
                (kind, pred, target, grad, n, scale, part)) \
    DL_KERNEL_T(count_correct, T, S, (const T* x, const u32* labels, u64 rows, u64 classes, u32* correct), \
                (x, labels, rows, classes, correct))
LOSS(float, f32)
LOSS(double, f64)
