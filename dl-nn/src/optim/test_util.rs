//! Test helpers shared by the optimizer files: a toy model with a frozen
//! parameter and a buffer, a per-element reference check, state-dict
//! round trips and an allocation counter.

use super::Optimizer;
use crate::module::Module;
use dl_core::{Cpu, ParamKind, RawParam, Rng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the allocations of the threads of a [`CountedPool`] (its rayon
/// workers, and the caller inside [`CountedPool::count`]) into that pool's
/// counter, so rayon's workers are seen too while other tests' threads
/// (which run at the same time) are not.
struct Counting;

thread_local! {
    static COUNTER: Cell<Option<&'static AtomicUsize>> = const { Cell::new(None) };
}

fn count() {
    if let Some(c) = COUNTER.try_with(Cell::get).ok().flatten() {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call to the system allocator unchanged; the
// counter is a const-initialised thread-local `Cell` and an atomic, which
// never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A rayon pool of 2 workers whose allocations, and the caller's inside
/// [`CountedPool::count`], go to a counter of its own.
pub(crate) struct CountedPool {
    pool: rayon::ThreadPool,
    counter: &'static AtomicUsize,
}

impl CountedPool {
    pub(crate) fn new() -> Self {
        let counter: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .start_handler(move |_| COUNTER.with(|c| c.set(Some(counter))))
            .build()
            .expect("a 2-thread pool");
        Self { pool, counter }
    }
    /// Runs `warm_up`, then `f` inside the pool, and returns the
    /// allocations that `f` made on the pool's threads and the caller.
    pub(crate) fn count<R: Send>(&self, warm_up: impl FnOnce() + Send, f: impl FnOnce() -> R + Send) -> (R, usize) {
        // Each worker's first steal registers it with crossbeam's epoch
        // collector (one allocation per thread, ever): make every worker
        // steal before counting, whatever the warm-up's scheduling was.
        use rayon::prelude::*;
        for _ in 0..4 {
            self.pool.broadcast(|_| {
                (0..1u32 << 14)
                    .into_par_iter()
                    .with_max_len(64)
                    .map(u64::from)
                    .sum::<u64>()
            });
        }
        self.pool.install(|| {
            COUNTER.with(|c| c.set(Some(self.counter)));
            warm_up();
            let before = self.counter.load(Ordering::Relaxed);
            let r = f();
            let n = self.counter.load(Ordering::Relaxed) - before;
            (r, n)
        })
    }
}

/// Visit order: `w` (index 0), `frozen` (index 1, frozen), `running` (a
/// buffer, no index), `b` (index 2).
#[derive(Clone, Debug)]
pub(crate) struct Toy {
    pub(crate) w: RawParam<Cpu, f64>,
    pub(crate) frozen: RawParam<Cpu, f64>,
    pub(crate) running: RawParam<Cpu, f64>,
    pub(crate) b: RawParam<Cpu, f64>,
}

impl Module<Cpu, f64> for Toy {
    const NUM_PARAMS: usize = 11;
    fn init_with(dev: &Cpu, rng: &mut Rng) -> Self {
        let mut mk = |dims: Vec<usize>, kind| {
            let mut p = RawParam::zeros(dev, dims, kind);
            let v: Vec<f64> = (0..p.numel()).map(|_| rng.normal()).collect();
            p.set_value(&v).unwrap();
            p
        };
        let mut frozen = mk(vec![2], ParamKind::Trainable);
        frozen.frozen = true;
        Self {
            w: mk(vec![2, 3], ParamKind::Trainable),
            frozen,
            running: mk(vec![2], ParamKind::Buffer),
            b: mk(vec![3], ParamKind::Trainable),
        }
    }
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &RawParam<Cpu, f64>)) {
        f(&format!("{prefix}w"), &self.w);
        f(&format!("{prefix}frozen"), &self.frozen);
        f(&format!("{prefix}running"), &self.running);
        f(&format!("{prefix}b"), &self.b);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut RawParam<Cpu, f64>)) {
        f(&format!("{prefix}w"), &mut self.w);
        f(&format!("{prefix}frozen"), &mut self.frozen);
        f(&format!("{prefix}running"), &mut self.running);
        f(&format!("{prefix}b"), &mut self.b);
    }
    fn for_each_param(&mut self, f: &mut dyn FnMut(&mut RawParam<Cpu, f64>)) {
        f(&mut self.w);
        f(&mut self.frozen);
        f(&mut self.running);
        f(&mut self.b);
    }
}

/// A seeded toy model.
pub(crate) fn model() -> Toy {
    Toy::init(&Cpu, 11)
}

/// Gives every parameter and buffer a gradient for step `t`.
pub(crate) fn set_grads(m: &mut Toy, t: u64) {
    let mut k = 0.0;
    m.for_each_param(&mut |p| {
        for g in p.grad.iter_mut() {
            k += 1.0;
            *g = (k * 0.37 + t as f64 * 1.3).sin();
        }
    });
}

/// Runs 4 steps of `opt` on the toy model and compares `w` and `b` with the
/// per-element `reference(p, g, state, t)` (state starts at 0, `t` from 1);
/// the frozen parameter and the buffer must not move.
#[track_caller]
pub(crate) fn check_optimizer<O: Optimizer<Cpu, f64>>(
    mut opt: O,
    reference: impl Fn(&mut f64, f64, &mut [f64; 3], u64),
) {
    check_optimizer_init(&mut opt, [0.0; 3], reference);
}

/// [`check_optimizer`] with the initial state values.
#[track_caller]
pub(crate) fn check_optimizer_init<O: Optimizer<Cpu, f64>>(
    opt: &mut O,
    init: [f64; 3],
    reference: impl Fn(&mut f64, f64, &mut [f64; 3], u64),
) {
    let mut m = model();
    let (frozen, running) = (m.frozen.value.clone(), m.running.value.clone());
    let mut rw: Vec<f64> = m.w.value.clone();
    let mut rb: Vec<f64> = m.b.value.clone();
    let mut sw = vec![init; rw.len()];
    let mut sb = vec![init; rb.len()];
    for t in 1..=4 {
        set_grads(&mut m, t);
        for (i, p) in rw.iter_mut().enumerate() {
            reference(p, m.w.grad[i], &mut sw[i], t);
        }
        for (i, p) in rb.iter_mut().enumerate() {
            reference(p, m.b.grad[i], &mut sb[i], t);
        }
        opt.step(&mut m);
        for (a, e) in m.w.value.iter().chain(&m.b.value).zip(rw.iter().chain(&rb)) {
            assert!((a - e).abs() <= 1e-12 + 1e-12 * e.abs(), "step {t}: {a} vs {e}");
        }
    }
    assert_eq!(m.frozen.value, frozen, "a frozen parameter moved");
    assert_eq!(m.running.value, running, "a buffer moved");
}

/// Steps twice, saves, restores into a fresh optimizer, and checks that
/// both then take bit-identical steps; `names` must all be in the state.
#[track_caller]
pub(crate) fn round_trip<O: Optimizer<Cpu, f64>>(make: impl Fn() -> O, names: &[&str]) {
    let mut a = make();
    let mut m = model();
    for t in 1..=2 {
        set_grads(&mut m, t);
        a.step(&mut m);
    }
    let sd = a.state_dict();
    for n in names {
        assert!(
            sd.iter().any(|(k, _, _)| k == n),
            "state has no `{n}`: {:?}",
            sd.iter().map(|e| &e.0).collect::<Vec<_>>()
        );
    }
    assert!(
        !sd.iter().any(|(k, _, _)| k.starts_with("state.1.")),
        "the frozen parameter has state"
    );
    assert!(
        sd.iter().any(|(k, _, _)| k.starts_with("state.2.")),
        "parameter 2 has no state"
    );
    let mut b = make();
    b.load_state_dict(&sd).unwrap();
    assert_eq!(b.state_dict(), sd, "a restored state reads back differently");
    let mut m2 = m.clone();
    b.validate(&mut m2).unwrap();
    for t in 3..=4 {
        set_grads(&mut m, t);
        set_grads(&mut m2, t);
        a.step(&mut m);
        b.step(&mut m2);
        assert_eq!(m.w.value, m2.w.value, "step {t} differs after a restore");
        assert_eq!(m.b.value, m2.b.value, "step {t} differs after a restore");
    }
}

/// Tampered states are rejected with a message; a state of another shape
/// fails `validate`.
#[track_caller]
pub(crate) fn bad_states<O: Optimizer<Cpu, f64>>(make: impl Fn() -> O, buffer: &str) {
    let mut a = make();
    let mut m = model();
    set_grads(&mut m, 1);
    a.step(&mut m);
    let sd = a.state_dict();
    let key = format!("state.0.{buffer}");
    let pos = sd.iter().position(|e| e.0 == key).expect("buffer entry");
    let mut short = sd.clone();
    short[pos].2.pop();
    assert!(make().load_state_dict(&short).unwrap_err().contains(&key));
    let mut missing = sd.clone();
    missing.remove(pos);
    assert!(make().load_state_dict(&missing).unwrap_err().contains("missing"));
    let mut unknown = sd.clone();
    unknown.push(("state.0.bogus".into(), vec![], vec![0.0]));
    assert!(make().load_state_dict(&unknown).unwrap_err().contains("bogus"));
    let no_step: Vec<_> = sd.iter().filter(|e| e.0 != "step").cloned().collect();
    assert!(make().load_state_dict(&no_step).is_err());
    // Inconsistent shapes within one parameter's state are caught on load ...
    let mut reshaped = sd.clone();
    let bufs: Vec<usize> = (0..sd.len())
        .filter(|&i| sd[i].0.starts_with("state.0.") && sd[i].0 != "state.0.step")
        .collect();
    reshaped[pos].1 = vec![3, 2, 1];
    if bufs.len() > 1 {
        assert!(make().load_state_dict(&reshaped).unwrap_err().contains("differs"));
    }
    // ... and a consistent state of another shape by `validate`.
    for &i in &bufs {
        reshaped[i].1 = vec![3, 2, 1];
    }
    let mut b = make();
    b.load_state_dict(&reshaped).unwrap();
    let e = b.validate(&mut m).unwrap_err();
    assert!(e.contains("state 0"), "{e}");
}

/// After the first step, further steps allocate nothing, on the calling
/// thread or on rayon's workers: the toy model and a parameter large
/// enough for the update to run in parallel, in a counted 2-thread pool.
#[track_caller]
pub(crate) fn stable_buffers<O: Optimizer<Cpu, f64> + Send>(opt: O) {
    let mut m = (
        model(),
        RawParam::<Cpu, f64>::zeros(&Cpu, vec![dl_core::cpu::PAR_THRESHOLD * 3], ParamKind::Trainable),
    );
    set_grads(&mut m.0, 1);
    m.1.grad
        .iter_mut()
        .enumerate()
        .for_each(|(i, g)| *g = (i % 7) as f64 * 0.1);
    let pool = CountedPool::new();
    let m = std::sync::Mutex::new(m);
    let opt = std::sync::Mutex::new(opt);
    let ((), counted) = pool.count(
        || opt.lock().unwrap().step(&mut *m.lock().unwrap()),
        || {
            let (mut opt, mut m) = (opt.lock().unwrap(), m.lock().unwrap());
            for _ in 0..3 {
                opt.step(&mut *m);
            }
        },
    );
    assert_eq!(counted, 0, "a step after the first allocated");
}

/// The toy model plus one large parameter (index 3).
impl Module<Cpu, f64> for (Toy, RawParam<Cpu, f64>) {
    const NUM_PARAMS: usize = 0;
    fn init_with(_dev: &Cpu, _rng: &mut Rng) -> Self {
        unreachable!("built by hand")
    }
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &RawParam<Cpu, f64>)) {
        self.0.visit(prefix, f);
        f(&format!("{prefix}big"), &self.1);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut RawParam<Cpu, f64>)) {
        self.0.visit_mut(prefix, f);
        f(&format!("{prefix}big"), &mut self.1);
    }
    fn for_each_param(&mut self, f: &mut dyn FnMut(&mut RawParam<Cpu, f64>)) {
        self.0.for_each_param(f);
        f(&mut self.1);
    }
}

/// The counter sees rayon's workers: an allocation on a worker of the
/// counted pool is counted (it was invisible to the per-thread counter).
#[test]
fn the_allocation_counter_sees_worker_threads() {
    use rayon::prelude::*;
    let pool = CountedPool::new();
    let (v, n) = pool.count(
        || (),
        || (0..64).into_par_iter().map(|i| vec![0u8; i + 1]).collect::<Vec<_>>(),
    );
    assert_eq!(v.len(), 64);
    assert!(n >= 64, "{n}");
}
