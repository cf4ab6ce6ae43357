//! Reliability across crates: the examples' argument parser under random
//! argument vectors, and bit-identical training of `#[network]` models for
//! a seed (twice in one process, and on rayon pools of 1 and 2 threads).
#[path = "../examples/common/cli.rs"]
#[allow(dead_code)]
mod cli;
use cli::{ArgError, Args};
use dl::nn::checkpoint;
use dl::prelude::*;
use proptest::prelude::*;
use std::sync::Arc;

/// Cases of the argument-parser property test.
const CLI_CASES: u32 = 10_000;

/// One argument: an option (known, misspelt, `--opt=value`), a value
/// (numbers at the edges of their types, non-numbers, empty), or noise.
fn arg() -> impl Strategy<Value = String> {
    let opts = prop::sample::select(vec![
        "--data",
        "--epochs",
        "--batch-size",
        "--seed",
        "--lr",
        "--device",
        "--limit",
        "--quiet",
        "--help",
        "-h",
        "--",
        "-",
        "--epoch",
        "--EPOCHS",
        "--lr=",
        "=",
        "--=1",
    ]);
    let values = prop::sample::select(vec![
        "0",
        "1",
        "-1",
        "3",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "1e308",
        "1e309",
        "-0.0",
        "0.0",
        "NaN",
        "inf",
        "-inf",
        "0x10",
        " 1",
        "",
        "cpu",
        "cuda",
        "auto",
        "tpu",
        "/tmp",
        "é",
        "\u{0}",
    ]);
    prop_oneof![
        3 => opts.clone().prop_map(str::to_string),
        3 => values.clone().prop_map(str::to_string),
        2 => (opts, values).prop_map(|(o, v)| format!("{o}={v}")),
        1 => any::<String>(),
        1 => any::<f64>().prop_map(|f| f.to_string()),
        1 => any::<i128>().prop_map(|i| i.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CLI_CASES, ..ProptestConfig::default() })]

    /// Any argument vector gives `Ok` or a typed error, never a panic, and
    /// an `Ok` holds only values the examples can use.
    #[test]
    fn random_argument_vectors_never_panic(args in prop::collection::vec(arg(), 0..8)) {
        match Args::parse_from(args.clone(), Args::default()) {
            Ok(a) => {
                prop_assert!(a.batch_size > 0, "{args:?}");
                prop_assert!(a.lr > 0.0 && a.lr.is_finite(), "{args:?}");
            }
            Err(e) => {
                // Every error prints (the examples show it with their usage).
                prop_assert!(!e.to_string().is_empty());
                if let ArgError::Unknown(o) | ArgError::MissingValue(o) = &e {
                    prop_assert!(args.iter().any(|a| a.starts_with(o.as_str())), "{e} for {args:?}");
                }
            }
        }
    }
}

/// A small CNN with every layer kind whose training could break
/// determinism: convolution (im2col GEMM), batch norm (batch statistics),
/// max pooling (argmax ties), dropout (its random mask), linear.
#[network(input = [1, 12, 12])]
pub struct DetCnn {
    conv1: Conv2d<1, 8, 3>,
    bn1: BatchNorm2d<8>,
    relu1: ReLU,
    pool1: MaxPool2d<2>,
    conv2: Conv2d<8, 16, 3, 1, 1>,
    relu2: ReLU,
    flat: Flatten,
    drop: Dropout<25>,
    fc: Linear<400, 10>,
}

/// An MLP wide enough (batch 64 x 256 x 256 multiply-adds) that its GEMMs
/// take the multi-threaded path of the CPU backend.
#[network(input = [256])]
pub struct DetMlp {
    fc1: Linear<256, 256>,
    bn: BatchNorm1d<256>,
    relu: ReLU,
    drop: Dropout<20>,
    fc2: Linear<256, 10>,
}

/// `n` random samples of `len` values with labels `0..10`.
fn data(n: usize, len: usize, seed: u64) -> Arc<InMemoryDataset> {
    let mut rng = dl::core::Rng::new(seed);
    let x: Vec<f32> = (0..n * len).map(|_| rng.uniform_range(-1.0, 1.0) as f32).collect();
    let y: Vec<usize> = (0..n).map(|i| (i * 7 + 3) % 10).collect();
    Arc::new(InMemoryDataset::new(x, y, len, 10).unwrap())
}

/// Trains a fresh `$model` (seed 42) for 2 epochs with Adam on a rayon
/// pool of `$threads` threads; gives its checkpoint bytes (parameters and
/// batch-norm buffers) and the bit patterns of the epoch losses.
macro_rules! train {
    ($model:ty, $threads:expr, $set:expr, $batch:expr) => {{
        let pool = rayon::ThreadPoolBuilder::new().num_threads($threads).build().unwrap();
        pool.install(|| {
            let mut m = <$model>::init(&Cpu, 42);
            let h = m
                .fit(
                    $set,
                    FitConfig::new(Adam::new(1e-3), CrossEntropy::new())
                        .epochs(2)
                        .batch_size($batch)
                        .shuffle_seed(5)
                        .quiet(true),
                )
                .unwrap();
            let losses: Vec<u64> = h.epochs.iter().map(|e| e.train_loss.to_bits()).collect();
            (checkpoint::save_to_bytes(&m).unwrap(), losses)
        })
    }};
}

/// Same seed, same parameters, bit for bit: twice on each pool size, and
/// across pool sizes 1 and 2.
///
/// The CPU backend makes this hold across thread counts, not only for a
/// fixed one: element-wise kernels split into fixed `PAR_CHUNK` chunks,
/// reductions combine fixed chunks in a fixed order, batched products (the
/// convolution's im2col) run one single-threaded GEMM per sample, and the
/// GEMM's multi-threaded path (taken here by `DetMlp`'s 64 x 256 x 256
/// products) splits the output into blocks but never the inner
/// dimension, so every output element sums its products in the same order
/// whatever the number of threads. Dropout masks are drawn from the seeded
/// generator per chunk index, not per thread.
macro_rules! assert_deterministic {
    ($model:ty, $set:expr, $batch:expr) => {{
        let one = train!($model, 1, $set, $batch);
        assert_eq!(one, train!($model, 1, $set, $batch), "1 thread, run twice");
        let two = train!($model, 2, $set, $batch);
        assert_eq!(two, train!($model, 2, $set, $batch), "2 threads, run twice");
        assert_eq!(one, two, "1 thread vs 2 threads");
        // An odd thread count splits work unevenly (issue 19).
        assert_eq!(one, train!($model, 3, $set, $batch), "1 thread vs 3 threads");
        // Training moved the parameters (the comparison is not of two inits).
        let init = <$model>::init(&Cpu, 42);
        assert_ne!(one.0, checkpoint::save_to_bytes(&init).unwrap());
    }};
}

#[test]
fn cnn_training_is_bit_identical_for_a_seed() {
    // 96 = 3 x 32: full batches; 97 leaves an odd last batch of 1.
    let set = data(96, 144, 1);
    assert_deterministic!(DetCnn, &set, 32);
    let odd = data(97, 144, 3);
    assert_deterministic!(DetCnn, &odd, 19);
}

#[test]
fn mlp_training_is_bit_identical_for_a_seed() {
    let set = data(128, 256, 2);
    assert_deterministic!(DetMlp, &set, 64);
    // An odd batch (43, last batch 42) through the parallel GEMM path.
    let odd = data(127, 256, 4);
    assert_deterministic!(DetMlp, &odd, 43);
}
