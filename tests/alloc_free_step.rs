//! After warm-up, a training step of the B1 (MLP), B2 (CNN) and B4
//! (attention) benchmark networks performs no heap allocation: a counting
//! global allocator observes the steps. Not a timing test.
//!
//! The steps run inside `dl::core::cpu::in_pool` (from outside rayon's
//! pool, its injector queue allocates a block every 63 parallel jobs), and
//! the CPU GEMM packs its operands into the `GemmWorkspace` each layer keeps
//! in its cache (buffers that only grow; `dl-core/src/ops/matmul/workspace.rs`):
//! a product called without one allocates a fresh workspace, so a layer
//! that forgot its workspace fails these tests. `DL_ALLOC_TRACE=1` prints
//! where the first counted allocations come from.
//!
//! The counter counts allocations of every thread (rayon's workers too)
//! while `COUNTING` is on. So this file has its own `main` (`harness =
//! false` in `Cargo.toml`): libtest would run the tests on threads of their
//! own while its main thread prints the results of the others, and those
//! prints allocate while a test counts (CI saw a stray allocation that way).
//! Here the tests run one after another on the main thread, and nothing
//! else runs while one counts. `cargo test --test alloc_free_step -- b1`
//! runs the tests whose names contain `b1`.

use dl::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[path = "../bench/nets.rs"]
#[allow(dead_code)]
#[macro_use]
mod nets;
use nets::{synthetic, AttnBlock, Cnn, Mlp};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged, so `System`'s guarantees hold; the counters are
// atomics and allocate nothing themselves.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            trace();
        }
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            trace();
        }
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            trace();
        }
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }
}

thread_local! {
    static IN_TRACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
static TRACED: AtomicUsize = AtomicUsize::new(0);

/// With `DL_ALLOC_TRACE=1`, prints where the first allocations come from.
fn trace() {
    if IN_TRACE.with(|t| t.replace(true)) {
        return;
    }
    if std::env::var_os("DL_ALLOC_TRACE").is_none() {
        IN_TRACE.with(|t| t.set(false));
        return;
    }
    let bt = std::backtrace::Backtrace::force_capture().to_string();
    if TRACED.fetch_add(1, Ordering::Relaxed) < 40 {
        let frames: Vec<&str> = bt
            .lines()
            .filter(|l| {
                !l.trim_start().starts_with("at ") && (l.contains("dl_") || l.contains("gemm") || l.contains("rayon"))
            })
            .take(6)
            .collect();
        eprintln!("alloc:\n{}", frames.join("\n"));
    }
    IN_TRACE.with(|t| t.set(false));
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made while `f` runs.
fn count_allocs(f: impl FnOnce()) -> usize {
    ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCS.load(Ordering::SeqCst)
}

/// Two warm-up steps outside the pool and two inside, then counts the
/// allocations of `STEPS` more.
macro_rules! steps_allocate {
    ($net:ty, $shape:ty, $batch:expr) => {{
        const STEPS: usize = 5;
        let (x, labels, _) = synthetic::<$shape>($batch, 7);
        let mut model = <$net>::init(&Cpu, 7);
        let mut opt: Sgd = Sgd::new(0.01);
        let mut cache = <$net>::new_cache(&Cpu);
        let mut dlogits = Tensor::empty(&Cpu);
        let mut losses = Vec::with_capacity(STEPS + 4);
        for _ in 0..2 {
            losses.push(train_step!(model, opt, &x, &labels, &mut cache, &mut dlogits));
        }
        // On a worker thread of the pool: see `dl::core::cpu::in_pool`.
        let n = dl::core::cpu::in_pool(|| {
            for _ in 0..2 {
                losses.push(train_step!(model, opt, &x, &labels, &mut cache, &mut dlogits));
            }
            count_allocs(|| {
                for _ in 0..STEPS {
                    losses.push(train_step!(model, opt, &x, &labels, &mut cache, &mut dlogits));
                }
            })
        });
        // The steps did train: the loss on the fixed batch went down.
        assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
        assert!(losses[STEPS + 3] < losses[0], "{losses:?}");
        n
    }};
}

fn b1_mlp_training_step_allocates_nothing() {
    assert_eq!(steps_allocate!(Mlp, S1<784>, 8), 0);
}

fn b2_cnn_training_step_allocates_nothing() {
    assert_eq!(steps_allocate!(Cnn, S3<1, 28, 28>, 8), 0);
}

fn b4_attention_training_step_allocates_nothing() {
    assert_eq!(steps_allocate!(AttnBlock, S2<64, 128>, 2), 0);
}

/// Distillation (`FitConfig::teacher`): a student step plus the frozen
/// teacher's inference pass and the soft-target term, through the same
/// `Teaching::apply` that `fit` calls, allocates nothing after warm-up.
fn b1_distillation_step_allocates_nothing() {
    use dl::nn::train::{Teacher, Teaching};
    const STEPS: usize = 5;
    let (x, labels, _) = synthetic::<S1<784>>(8, 7);
    let mut model = Mlp::init(&Cpu, 7);
    let mut teacher_model = Mlp::init(&Cpu, 8);
    let mut teacher = Teacher::new(&mut teacher_model, 4.0, 0.7);
    Teaching::<S1<784>, S1<10>, Cpu, f32>::begin(&mut teacher).unwrap();
    let mut scratch = Teaching::<S1<784>, S1<10>, Cpu, f32>::new_scratch(&teacher, &Cpu);
    let mut opt: Sgd = Sgd::new(0.01);
    let mut cache = Mlp::new_cache(&Cpu);
    let mut dlogits = Tensor::empty(&Cpu);
    let mut losses = Vec::with_capacity(STEPS + 4);
    let mut step = |model: &mut Mlp, losses: &mut Vec<f32>| {
        model.zero_grad();
        let logits = model.forward_train_with(&x, &mut cache);
        let hard = dl::nn::loss::cross_entropy::cross_entropy_idx_into(logits, &labels, 0.0, &mut dlogits)
            .expect("valid labels");
        let loss = teacher
            .apply(&x, logits, hard, &mut dlogits, &mut scratch)
            .expect("valid settings");
        model.backward_params(&mut cache, &dlogits);
        opt.step(model);
        losses.push(loss);
    };
    for _ in 0..2 {
        step(&mut model, &mut losses);
    }
    let n = dl::core::cpu::in_pool(|| {
        for _ in 0..2 {
            step(&mut model, &mut losses);
        }
        count_allocs(|| {
            for _ in 0..STEPS {
                step(&mut model, &mut losses);
            }
        })
    });
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(losses[STEPS + 3] < losses[0], "{losses:?}");
    assert_eq!(n, 0);
}

fn the_counter_sees_allocations() {
    let n = count_allocs(|| {
        std::hint::black_box(vec![1u8; 16]);
    });
    assert_eq!(n, 1);
}

/// `fit` in steady state, measured (issue 14): allocations of one epoch of
/// `S` steps, at two data set sizes, give the allocations per step (the
/// slope) and per epoch (the rest: the loader's thread and queue, the
/// history record, the epoch line). What remains per step is the loader's
/// batch (a host buffer of samples and one of labels, sent to the training
/// thread through a channel) and its upload to the backend; the bound
/// below holds the count where it is today.
fn fit_allocations_per_step_in_steady_state() {
    let epoch_allocs = |steps: usize| {
        let batch = 32;
        let (x, _, labels) = synthetic::<S1<784>>(batch * steps, 3);
        let data = std::sync::Arc::new(InMemoryDataset::new(x.to_vec(), labels, 784, 10).unwrap());
        let mut model = <Mlp>::init(&Cpu, 3);
        let mut cfg = FitConfig::new(Sgd::new(0.01), CrossEntropy::new())
            .epochs(1)
            .batch_size(batch)
            .quiet(true);
        model.fit_mut(&data, &mut cfg).unwrap(); // warm-up: buffers grow
        count_allocs(|| {
            model.fit_mut(&data, &mut cfg).unwrap();
        })
    };
    let (small, large) = (epoch_allocs(4), epoch_allocs(20));
    let per_step = (large as f64 - small as f64) / 16.0;
    let per_epoch = small as f64 - 4.0 * per_step;
    println!("fit: {per_step:.1} allocations per step, {per_epoch:.0} per epoch (steady state)");
    assert!(per_step <= 10.0, "{per_step} allocations per step (7.2 on 2026-12-06)");
}

/// Runs the tests whose names contain every filter argument (all with
/// none) and no `--skip` argument, one after another on this thread; a failing test panics, which
/// fails the binary.
fn main() {
    let tests: [(&str, fn()); 6] = [
        ("the_counter_sees_allocations", the_counter_sees_allocations),
        (
            "b1_mlp_training_step_allocates_nothing",
            b1_mlp_training_step_allocates_nothing,
        ),
        (
            "b2_cnn_training_step_allocates_nothing",
            b2_cnn_training_step_allocates_nothing,
        ),
        (
            "b4_attention_training_step_allocates_nothing",
            b4_attention_training_step_allocates_nothing,
        ),
        (
            "b1_distillation_step_allocates_nothing",
            b1_distillation_step_allocates_nothing,
        ),
        (
            "fit_allocations_per_step_in_steady_state",
            fit_allocations_per_step_in_steady_state,
        ),
    ];
    // libtest's flags: `--skip NAME` is honoured, `--list` lists, the
    // value of the others that take one is not a filter.
    let (mut filters, mut skips, mut list) = (Vec::new(), Vec::new(), false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--skip" => skips.extend(args.next()),
            "--list" => list = true,
            "--test-threads" | "--color" | "--format" | "--logfile" | "-Z" => drop(args.next()),
            _ if a.starts_with('-') => {}
            _ => filters.push(a),
        }
    }
    let chosen: Vec<_> = tests
        .iter()
        .filter(|(name, _)| filters.iter().all(|f| name.contains(f.as_str())))
        .filter(|(name, _)| !skips.iter().any(|s| name.contains(s.as_str())))
        .collect();
    if list {
        chosen.iter().for_each(|(name, _)| println!("{name}: test"));
        return;
    }
    println!("\nrunning {} tests", chosen.len());
    for (name, test) in &chosen {
        test();
        println!("test {name} ... ok");
    }
    println!("\ntest result: ok. {} passed; 0 failed\n", chosen.len());
}
