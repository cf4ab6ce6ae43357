//! # quantize: the mnist_cnn network in 8-bit integers
//!
//! Trains the `mnist_cnn` network (or loads `checkpoints/mnist_cnn.safetensors`
//! when `--data` is the default MNIST directory and the file exists),
//! quantizes it after training with 1,000 calibration images (per-channel
//! `i8` weights, `u8` activations, min/max observers), and compares:
//! accuracy on the test set, checkpoint size, and batch-1 latency on one
//! thread, for every integer GEMM path this CPU has.
//!
//! ```sh
//! cargo run --release --example quantize
//! cargo run --release --example quantize -- --data data/fashion --epochs 2 --seed 1
//! # a data set it has never seen: scikit-learn's digits in MNIST format
//! cargo run --release --example digits_to_idx -- /tmp/digits-idx
//! cargo run --release --example quantize -- --data /tmp/digits-idx
//! ```
//! Ends with `f32_accuracy=`, `int8_accuracy=`, `size_ratio=` (f32 bytes /
//! int8 bytes), `speedup=` (f32 / int8 batch-1 latency, one thread, the
//! fastest path) and `speedup_<path>=` per path.

#[allow(unused_macros, unused_imports)]
mod common;
#[path = "quant_common/mod.rs"]
mod quant_common;

const PROGRAM: &str = "quantize";

/// The mnist_cnn network, declared once in examples/common/lenet.rs.
#[path = "common/lenet.rs"]
mod lenet;
use lenet::LeNet;

fn main() {
    // The mnist_cnn example's network, loaded or trained as that example does.
    let (args, mut model, train, test) =
        common::start_from_mnist_cnn::<LeNet>(PROGRAM, "post-training int8 quantization of the mnist_cnn network");

    // Quantize with the first 1,000 training images and compare.
    quant_common::compare(PROGRAM, &args, &mut model, &train, &test);
}
