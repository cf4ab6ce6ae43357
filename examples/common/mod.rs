//! Helpers shared by the examples: argument parsing with the example's
//! defaults, device choice, MNIST loading with typed errors, exits, and
//! the `fit` settings and learning-rate schedules several examples use.
//!
//! Exit codes: 2 for a bad argument (with the usage text), 1 for a data,
//! device, training or checkpoint error (the typed error is printed).
#![allow(dead_code)]

pub mod cli;

use cli::Args;
use dl::nn::checkpoint;
use dl::nn::data::tabular::Tabular;
use dl::nn::data::{load_mnist_with, InMemoryDataset, MnistOptions, Split};
use dl::nn::train::{Evaluation, Teaching};
use dl::prelude::*;
use std::fmt::Display;
use std::path::{Path, PathBuf};
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

/// The median of `v` (the upper one of an even count); `v` is not empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Correct answers and samples of `model`, a 10-class classifier, over one
/// pass of `loader` in inference mode (`eval()`, `forward`, arg-max).
///
/// # Errors
/// The loader's, when its samples do not fit the network.
pub fn count_correct<B: Backend, N: Network<B, f32, Output = S1<10>>>(
    model: &mut N,
    loader: &mut DataLoader<InMemoryDataset>,
    dev: &B,
) -> Result<(usize, usize), dl::nn::data::DataError> {
    model.set_training(false);
    let (mut right, mut seen) = (0usize, 0usize);
    for (x, y) in loader.epoch(dev)? {
        let logits = model.forward(&x);
        right += correct(&logits.to_vec(), 10, &y);
        seen += y.len();
    }
    Ok((right, seen))
}

/// Median of `reps` timed calls of `f` (after `warm` untimed ones), in µs.
pub fn median_us(warm: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warm {
        f();
    }
    median(
        (0..reps)
            .map(|_| {
                let s = Instant::now();
                f();
                s.elapsed().as_secs_f64() * 1e6
            })
            .collect(),
    )
}

/// Says `data: R training and S test rows of F features from FILE`.
pub fn say_rows(args: &Args, train: &Tabular, test: &Tabular) {
    say(
        args,
        format!(
            "data: {} training and {} test rows of {} features from {}",
            train.rows,
            test.rows,
            train.cols,
            args.data.display()
        ),
    );
}

/// `fit`'s settings from the command line: `opt` and `loss`, `--epochs`,
/// `--batch-size`, shuffled with `--seed`, `--quiet`. A caller changes any
/// of them, or adds more, with the builder.
pub fn fit_config<'a, N, O, L>(args: &Args, opt: O, loss: L) -> FitConfig<'a, N, O, L> {
    FitConfig::new(opt, loss)
        .epochs(args.epochs)
        .batch_size(args.batch_size)
        .shuffle_seed(args.seed)
        .quiet(args.quiet)
}

/// A `fit` callback: `lr`, then a tenth of it in the last of `epochs`
/// epochs when there is more than one (the `mnist_cnn` example's schedule).
pub fn step_decay(lr: f64, epochs: usize) -> LrScheduler<impl FnMut(usize) -> f64> {
    LrScheduler::new(move |e| if epochs > 1 && e + 1 == epochs { lr / 10.0 } else { lr })
}

/// A `fit` callback: `lr` cosine-decayed per epoch over `epochs` epochs
/// to a twentieth of it.
pub fn cosine_to_a_twentieth(lr: f64, epochs: usize) -> LrScheduler<impl FnMut(usize) -> f64> {
    let schedule = CosineAnnealing {
        t_max: epochs.max(1),
        eta_min: lr / 20.0,
    };
    LrScheduler::new(move |epoch| schedule.lr(lr, epoch))
}

/// Trains `model` on `train` with `config`, saying
/// `{who}trained N epoch(s) in T`; returns the history.
pub fn fit_timed<N, B, O, L, T>(
    program: &str,
    args: &Args,
    who: &str,
    model: &mut N,
    train: &Arc<InMemoryDataset>,
    config: FitConfig<'_, N, O, L, T>,
) -> History
where
    B: Backend,
    N: Network<B, f32>,
    O: Optimizer<B, f32>,
    L: Loss<N::Output, B, f32>,
    L::Target: dl::nn::train::FitTarget<N::Output, B, f32>,
    T: Teaching<N::Input, N::Output, B, f32>,
{
    let t = Instant::now();
    let history = or_exit(program, model.fit(train, config));
    say(
        args,
        format!(
            "{who}trained {} epoch(s) in {}",
            history.epochs.len(),
            fmt_secs(t.elapsed().as_secs_f64())
        ),
    );
    history
}

/// Trains `model` on `train` with `config`, validating on `test` after
/// every epoch, says the history, then evaluates on `test` and says
/// `test: EVALUATION after N epoch(s), T of training`.
pub fn fit_and_test<N, B, O>(
    program: &str,
    args: &Args,
    model: &mut N,
    train: &Arc<InMemoryDataset>,
    test: &Arc<InMemoryDataset>,
    config: FitConfig<'_, N, O, CrossEntropy>,
) -> Evaluation
where
    B: Backend,
    N: Network<B, f32, Output = S1<10>>,
    O: Optimizer<B, f32>,
{
    let start = Instant::now();
    let config = config.validation(test).validation_batch_size(500);
    let history = or_exit(program, model.fit(train, config));
    let secs = start.elapsed().as_secs_f64();
    say(args, &history);
    let eval = or_exit(program, model.evaluate(test, &CrossEntropy::new(), 500));
    say(
        args,
        format!(
            "test: {eval} after {} epoch(s), {} of training",
            history.epochs.len(),
            fmt_secs(secs)
        ),
    );
    eval
}

/// The run of the examples that train one MNIST classifier `N` with `fit`
/// and nothing else (`attention`, `sequence`): the data, `N` initialised
/// from `--seed` and its summary, Adam at `--lr` with the learning rate
/// cosine-decayed per epoch to a twentieth of it (a callback), validation
/// and test on the test set ([`fit_and_test`]); ends with `test_accuracy=`.
pub fn fit_cosine_and_test<B, N>(program: &str, args: &Args, dev: &B)
where
    B: Backend,
    N: Network<B, f32, Output = S1<10>>,
{
    let (train, test) = mnist(program, args);
    let mut model = N::init(dev, args.seed);
    say(args, N::summary());
    let config = fit_config(args, Adam::<B>::new(args.lr), CrossEntropy::new())
        .callback(cosine_to_a_twentieth(args.lr, args.epochs));
    let eval = fit_and_test(program, args, &mut model, &train, &test, config);
    println!("test_accuracy={:.4}", eval.accuracy);
}

/// Where the `mnist_cnn` example saves its trained network.
pub const MNIST_CNN_CHECKPOINT: &str = "checkpoints/mnist_cnn.safetensors";

/// The `mnist_cnn` example's defaults: 3 epochs of Adam at 1e-3, batch 64
/// (also those of the examples that start from its network).
pub fn mnist_cnn_args() -> Args {
    Args::training(3, 64, 1e-3)
}

/// `model`, the `mnist_cnn` example's network, trained: loaded from that
/// example's checkpoint when `--data` is the default MNIST directory and
/// the file exists, else trained on `train` as that example does (Adam at
/// `--lr`, a tenth of it in the last epoch; no validation).
pub fn trained_as_mnist_cnn<N: Network<Cpu, f32, Output = S1<10>>>(
    program: &str,
    args: &Args,
    model: &mut N,
    train: &Arc<InMemoryDataset>,
) {
    if load_trained(program, args, "", model, &[MNIST_CNN_CHECKPOINT]).is_none() {
        let config =
            fit_config(args, Adam::new(args.lr), CrossEntropy::new()).callback(step_decay(args.lr, args.epochs));
        fit_timed(program, args, "", model, train, config);
    }
}

/// The start of the examples that work on the `mnist_cnn` example's
/// trained network `N` (`quantize`, `prune`, on the CPU): that example's
/// defaults for the command line, MNIST, and `N` loaded or trained as
/// [`trained_as_mnist_cnn`] does.
pub fn start_from_mnist_cnn<N: Network<Cpu, f32, Output = S1<10>>>(
    program: &str,
    about: &str,
) -> (Args, N, Arc<InMemoryDataset>, Arc<InMemoryDataset>) {
    let (args, _) = setup(program, about, mnist_cnn_args());
    let (train, test) = mnist(program, &args);
    let mut model = N::init(&Cpu, args.seed);
    trained_as_mnist_cnn(program, &args, &mut model, &train);
    (args, model, train, test)
}

/// Loads `model` from the first of `files` that exists, when `--data` is
/// the default MNIST directory (the checkpoints were trained on it), and
/// says `{who}loaded FILE`; `None` when none was loaded.
pub fn load_trained<M: Module<Cpu, f32>>(
    program: &str,
    args: &Args,
    who: &str,
    model: &mut M,
    files: &[&str],
) -> Option<PathBuf> {
    if args.data != Args::default().data {
        return None;
    }
    let file = files.iter().map(Path::new).find(|p| p.exists())?;
    or_exit(program, checkpoint::load(model, file, true));
    say(args, format!("{who}loaded {}", file.display()));
    Some(file.to_path_buf())
}
