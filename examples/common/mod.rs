//! Helpers shared by the examples: argument parsing with the example's
//! defaults, device choice, MNIST loading with typed errors, and exits.
//!
//! Exit codes: 2 for a bad argument (with the usage text), 1 for a data,
//! device, training or checkpoint error (the typed error is printed).
#![allow(dead_code)]

pub mod cli;

use cli::Args;
use dl::nn::data::{load_mnist_with, InMemoryDataset, MnistOptions, Split};
use std::fmt::Display;
use std::sync::Arc;
use std::time::Instant;

/// Parses the command line over `defaults` (exit 2 with the usage on a bad
/// argument) and resolves `--device` (exit 1 when `cuda` is not usable).
/// The examples are written generically over the backend: `--device
/// cuda|auto` picks a GPU when `dl` is built with the `cuda` feature
/// (`cargo run --release --features cuda --example ...`).
pub fn setup(program: &str, about: &str, defaults: Args) -> (Args, cli::Picked) {
    let args = Args::parse_or_exit(program, about, defaults);
    let dev = or_exit(program, args.device());
    (args, dev)
}

/// `on_device!(dev => expr)`: evaluates `expr` with `dev` bound to the device
/// that [`setup`] picked, whatever its backend (`expr` calls a function
/// generic over `B: Backend`).
macro_rules! on_device {
    ($dev:ident => $body:expr) => {
        match $dev {
            common::cli::Picked::Cpu($dev) => $body,
            #[cfg(feature = "cuda")]
            common::cli::Picked::Cuda($dev) => $body,
        }
    };
}
pub(crate) use on_device;

/// The value, or prints `program: error: e` and exits with status 1.
/// Compiled into a test (the smoke test includes an example's code), it
/// panics with the message instead: exiting would end the whole test
/// binary, and every other test with it, without a failure report.
pub fn or_exit<T, E: Display>(program: &str, r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) if cfg!(test) => panic!("{program}: error: {e}"),
        Err(e) => {
            eprintln!("{program}: error: {e}");
            std::process::exit(1)
        }
    }
}

/// MNIST from `args.data`, pixels scaled to `[0, 1]` and normalised with
/// the training set's mean and standard deviation; the training split
/// limited to `--limit` samples when given. Exits 1 on a data error.
pub fn mnist(program: &str, args: &Args) -> (Arc<InMemoryDataset>, Arc<InMemoryDataset>) {
    let t = Instant::now();
    let limit = (args.limit > 0).then_some(args.limit);
    let train = or_exit(
        program,
        load_mnist_with(&args.data, Split::Train, MnistOptions { normalize: true, limit }),
    );
    let test = or_exit(
        program,
        load_mnist_with(
            &args.data,
            Split::Test,
            MnistOptions {
                normalize: true,
                limit: None,
            },
        ),
    );
    say(
        args,
        format!(
            "data: {} training and {} test images from {} ({:.1}s)",
            train.labels().len(),
            test.labels().len(),
            args.data.display(),
            t.elapsed().as_secs_f64()
        ),
    );
    (Arc::new(train), Arc::new(test))
}

/// Prints `msg` unless `--quiet`.
pub fn say(args: &Args, msg: impl Display) {
    if !args.quiet {
        println!("{msg}");
    }
}

/// `12.3s` or `2m 05s`.
pub fn fmt_secs(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        let t = s.round() as u64;
        format!("{}m {:02}s", t / 60, t % 60)
    }
}

/// Creates `checkpoints/` (git-ignored) under the current directory and
/// returns `checkpoints/<file>`.
pub fn checkpoint_path(program: &str, file: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new("checkpoints");
    or_exit(
        program,
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display())),
    );
    dir.join(file)
}

/// How many rows of `logits` (`[n, classes]`, on the host) have their first
/// maximum at the label.
pub fn correct(logits: &[f32], classes: usize, labels: &[usize]) -> usize {
    logits
        .chunks_exact(classes)
        .zip(labels)
        .filter(|(row, &label)| {
            let best = row
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
            best.0 == label
        })
        .count()
}

/// Median of `reps` timed calls of `f` (after `warm` untimed ones), in µs.
pub fn median_us(warm: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warm {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}
