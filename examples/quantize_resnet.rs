//! # quantize_resnet: the resnet example's network in 8-bit integers
//!
//! Trains the small ResNet of `examples/resnet.rs` (the same declaration:
//! residual blocks that are `#[network]`s with BatchNorm, one strided
//! block with a 1x1 projection shortcut, a global-average-pool head)
//! briefly on MNIST, quantizes it after training with 1,000 calibration
//! images (BatchNorm folded, the residual adds on `u8` values with the
//! following ReLU fused), and compares it with the `f32` network as
//! `examples/quantize.rs` does.
//!
//! ```sh
//! cargo run --release --example quantize_resnet
//! cargo run --release --example quantize_resnet -- --epochs 1 --limit 20000
//! ```
//! Options as the resnet example (`--data`, `--epochs` (default 1),
//! `--batch-size` (64), `--lr` (Adam, 2e-3), `--seed`, `--limit`,
//! `--quiet`). Ends with `f32_accuracy=`, `int8_accuracy=`, `size_ratio=`,
//! `speedup=` and `speedup_<path>=`.

#![allow(clippy::duplicate_mod)] // resnet.rs has its own `mod common`

#[allow(unused_macros, unused_imports)]
mod common;
#[path = "quant_common/mod.rs"]
mod quant_common;

use common::cli::Args;
use dl::prelude::*;

const PROGRAM: &str = "quantize_resnet";

/// The resnet example's network, declared there (one declaration, so the
/// quantized network is exactly the one `resnet` trains).
#[allow(dead_code)]
#[path = "resnet.rs"]
mod resnet;
use resnet::ResNet;

fn main() {
    let (args, _) = common::setup(
        PROGRAM,
        "post-training int8 quantization of the resnet example's network",
        Args::training(1, 64, 2e-3),
    );
    let (train, test) = common::mnist(PROGRAM, &args);
    let mut model = ResNet::init(&Cpu, args.seed);
    let config = common::fit_config(&args, Adam::new(args.lr), CrossEntropy::new());
    common::fit_timed(PROGRAM, &args, "", &mut model, &train, config);
    // Quantize with the first 1,000 training images and compare.
    quant_common::compare(PROGRAM, &args, &mut model, &train, &test);
}
