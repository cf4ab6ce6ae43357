//! Packing memory of the CPU GEMM, owned by the caller ([`GemmWorkspace`]).

use crate::dtype::Float;
use std::cell::Cell;

/// One cache line of packing memory (the buffers are 64-byte aligned, so
/// a packed sliver's vector loads do not straddle lines).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Line([u8; 64]);

/// The packing buffers of one product running on one thread at a time:
/// the packed `B` panel (shared by the tasks of a multi-threaded product)
/// and the packed rows of `A` (one `MC` block per task, side by side).
#[derive(Default)]
pub(crate) struct PackSlot {
    a: Vec<Line>,
    b: Vec<Line>,
}

/// Grows `v` (never shrinks it) to hold `len` elements of `E` and returns
/// its first element. The contents are unspecified but initialised.
///
/// # Panics
/// When `len` elements of `E` overflow `usize` bytes, or `E` needs more
/// than 64-byte alignment.
fn grow<E: Float>(v: &mut Vec<Line>, len: usize) -> *mut E {
    assert!(std::mem::align_of::<E>() <= 64, "gemm: element alignment above 64");
    let bytes = len
        .checked_mul(std::mem::size_of::<E>())
        .expect("gemm: packing buffer size overflows usize");
    let lines = bytes.div_ceil(64);
    if v.len() < lines {
        v.resize(lines, Line([0; 64]));
    }
    v.as_mut_ptr().cast::<E>()
}

impl PackSlot {
    /// The `A` and `B` buffers, grown to `a_len` and `b_len` elements of `E`.
    /// The pointers stay valid until the slot is next borrowed mutably.
    pub(crate) fn buffers<E: Float>(&mut self, a_len: usize, b_len: usize) -> (*mut E, *mut E) {
        (grow::<E>(&mut self.a, a_len), grow::<E>(&mut self.b, b_len))
    }

    fn bytes(&self) -> usize {
        (self.a.len() + self.b.len()) * 64
    }
}

/// The packing memory of the CPU GEMM, owned by whoever calls it (a layer's
/// cache, an op's caller), so that a training step allocates nothing by
/// construction: the buffers only grow, to the largest product seen, and
/// are reused by every later product.
///
/// It holds one *slot* (a packed `B` panel and the packed `A` blocks) per
/// product that runs at once: a multi-threaded product uses one slot (its
/// tasks share the packed `B` panel and each reads its own `MC` block of
/// the packed `A` rows); a batch of small products (a convolution's
/// per-sample GEMMs) runs in as many fixed groups as the pool has threads,
/// each group with its own slot. Each product is computed the same way
/// whatever slot or thread it lands on, so the results do not depend on
/// the number of threads.
///
/// Other backends ignore it (cuBLAS manages its own memory); an unused
/// workspace holds no memory. Its contents carry no meaning between
/// calls: `Clone` gives an empty workspace.
///
/// ```
/// use dl_core::{Cpu, GemmKernel, ops::matmul::{Gemm, GemmWorkspace}};
/// let mut ws = GemmWorkspace::new(); // keep it (in a cache) and reuse it
/// let (a, b) = (vec![1.0f32; 64 * 64], vec![2.0f32; 64 * 64]);
/// let mut c = vec![0.0f32; 64 * 64];
/// Cpu.gemm_ws(&mut ws, Gemm::new(64, 64, 64, false, false), &a, &b, &mut c);
/// assert_eq!(c[0], 128.0);
/// let held = ws.bytes();
/// Cpu.gemm_ws(&mut ws, Gemm::new(64, 64, 64, false, false), &a, &b, &mut c);
/// assert_eq!(ws.bytes(), held); // grown once, then reused
/// ```
#[derive(Default)]
pub struct GemmWorkspace {
    slots: Vec<PackSlot>,
}

thread_local! {
    /// The calling thread's workspace for products that have no caller-owned
    /// one (inference: `Layer::forward_into` has no cache).
    static LOCAL: Cell<GemmWorkspace> = const { Cell::new(GemmWorkspace::new()) };
}

impl GemmWorkspace {
    /// An empty workspace (allocates nothing until a product needs it).
    pub const fn new() -> Self {
        Self { slots: Vec::new() }
    }

    /// Bytes of packing memory held.
    pub fn bytes(&self) -> usize {
        self.slots.iter().map(PackSlot::bytes).sum()
    }

    /// Frees the packing memory (the next product grows it again).
    pub fn release(&mut self) {
        self.slots = Vec::new();
    }

    /// Runs `f` with the calling thread's own workspace, kept in a
    /// thread-local between calls: for products that have no caller-owned
    /// workspace, such as inference (`Layer::forward_into` takes `&self`
    /// and no cache). It grows on a thread's first products and is reused
    /// after that, so a serving loop on a fixed set of threads allocates
    /// nothing in steady state. A nested call on the same thread (a rayon
    /// job stolen while `f` runs) gets a fresh, empty workspace.
    ///
    /// ```
    /// use dl_core::{Cpu, GemmKernel, ops::matmul::{Gemm, GemmWorkspace}};
    /// let (a, b, mut c) = (vec![1.0f32; 4], vec![1.0f32; 4], vec![0.0f32; 4]);
    /// GemmWorkspace::with_thread_local(|ws| Cpu.gemm_ws(ws, Gemm::new(2, 2, 2, false, false), &a, &b, &mut c));
    /// assert_eq!(c, vec![2.0; 4]);
    /// ```
    pub fn with_thread_local<R>(f: impl FnOnce(&mut GemmWorkspace) -> R) -> R {
        let mut ws = LOCAL.with(Cell::take);
        let r = f(&mut ws);
        LOCAL.with(|s| {
            let other = s.take();
            s.set(if other.bytes() > ws.bytes() { other } else { ws });
        });
        r
    }

    /// The first `count` slots, created empty where missing.
    pub(crate) fn slots(&mut self, count: usize) -> &mut [PackSlot] {
        if self.slots.len() < count {
            self.slots.resize_with(count, PackSlot::default);
        }
        &mut self.slots[..count]
    }
}

impl Clone for GemmWorkspace {
    /// An empty workspace: packing memory carries nothing between calls.
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for GemmWorkspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GemmWorkspace")
            .field("slots", &self.slots.len())
            .field("bytes", &self.bytes())
            .finish()
    }
}
