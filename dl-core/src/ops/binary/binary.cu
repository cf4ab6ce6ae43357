// Binary element-wise ops on [outer, inner]; b is [outer, inner] or, when
// bcast != 0, [inner] shared by every row. op: 0 add, 1 sub, 2 mul, 3 div
// (BinaryOp order).
template <typename T> __device__ __forceinline__ T bin_apply(int op, T a, T b) {
    return op == 0 ? a + b : op == 1 ? a - b : op == 2 ? a * b : a / b;
}
template <typename T> __device__ __forceinline__ T bin_da(int op, T, T b) {
    return op <= 1 ? (T)1 : op == 2 ? b : (T)1 / b;
}
template <typename T> __device__ __forceinline__ T bin_db(int op, T a, T b) {
    return op == 0 ? (T)1 : op == 1 ? (T)-1 : op == 2 ? a : -a / (b * b);
}
template <typename T>
__device__ void binary_fwd_impl(int op, const T* a, const T* b, T* out, u64 n, u64 inner, int bcast) {
    GRID_STRIDE(i, n) out[i] = bin_apply(op, a[i], b[bcast ? i % inner : i]);
}
// da for every element; db per element when not broadcast.
template <typename T>
__device__ void binary_bwd_impl(int op, const T* a, const T* b, const T* dy, T* da, T* db, u64 n, u64 inner, int bcast) {
    GRID_STRIDE(i, n) {
        T bv = b[bcast ? i % inner : i];
        da[i] = dy[i] * bin_da(op, a[i], bv);
        if (!bcast) db[i] = dy[i] * bin_db(op, a[i], bv);
    }
}
// Broadcast db[j] = sum over o in order of dy[o, j] * d op/db: one thread per column.
template <typename T>
__device__ void binary_db_bcast_impl(int op, const T* a, const T* b, const T* dy, T* db, u64 outer, u64 inner) {
    GRID_STRIDE(j, inner) {
        T acc = (T)0;
        for (u64 o = 0; o < outer; o++) {
            u64 i = o * inner + j;
            acc += dy[i] * bin_db(op, a[i], b[j]);
        }
        db[j] = acc;
    }
}
#define BINARY(T, S) \
    DL_KERNEL_T(binary_fwd, T, S, (int op, const T* a, const T* b, T* out, u64 n, u64 inner, int bcast), \
                (op, a, b, out, n, inner, bcast)) \
    DL_KERNEL_T(binary_bwd, T, S, \
                (int op, const T* a, const T* b, const T* dy, T* da, T* db, u64 n, u64 inner, int bcast), \
                (op, a, b, dy, da, db, n, inner, bcast)) \
    DL_KERNEL_T(binary_db_bcast, T, S, (int op, const T* a, const T* b, const T* dy, T* db, u64 outer, u64 inner), \
                (op, a, b, dy, db, outer, inner))
BINARY(float, f32)
BINARY(double, f64)
