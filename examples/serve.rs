//! # serve: the README's main model behind the inference server
//!
//! Serves the `LeNet` of `mnist_cnn` (the same declaration,
//! `examples/common/lenet.rs`) from its checkpoint with dynamic batching,
//! metrics, limits and (with a token) hot reload. Train it first:
//!
//! ```sh
//! cargo run --release --example mnist_cnn
//! cargo run --release --example serve -- --checkpoint checkpoints/mnist_cnn.safetensors --port 8080
//! curl -s localhost:8080/v1/predict -H 'content-type: application/json' \
//!      -d "{\"inputs\": [$(python3 -c 'print([0.0]*784)')]}"
//! ```
//!
//! Inputs are 784 values per image (1x28x28, row-major), normalised as
//! `mnist_cnn` trains (`(pixel/255 - 0.1307) / 0.3081`); the answer holds
//! the 10 logits, the argmax (the digit) and the softmax probabilities.
//! `--help` lists the flags; `docs/serving.md` is the operator's page.

#[path = "common/lenet.rs"]
mod lenet;

use dl::core::Cpu;
use lenet::LeNet;

fn main() {
    std::process::exit(dl::serve::run_cli::<LeNet<Cpu, f32>>("serve", std::env::args().skip(1)));
}
