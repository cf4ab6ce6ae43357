//! # export_onnx: the README's MNIST CNN as an ONNX file
//!
//! Loads the `mnist_cnn` example's checkpoint into its network (`LeNet`,
//! the declaration of `examples/mnist_cnn.rs`, compiled in) with a strict
//! load, writes it as ONNX (opset 17, dynamic batch, `state_dict` names as
//! initializer names) and prints the operators it holds. Check it with
//! ONNX Runtime as `docs/onnx.md` shows.
//!
//! ```sh
//! cargo run --release --example mnist_cnn             # writes checkpoints/mnist_cnn.safetensors
//! cargo run --release --features onnx --example export_onnx -- \
//!     --checkpoint checkpoints/mnist_cnn.safetensors --out mnist_cnn.onnx
//! ```
//! Without `--checkpoint` it exports a freshly initialised network (seed 0).
//! Exit code 2 for a bad argument, 1 for a checkpoint or export error.

#![allow(clippy::duplicate_mod)]

#[allow(dead_code)]
#[path = "mnist_cnn.rs"]
mod mnist_cnn;

use dl::nn::checkpoint;
use dl::prelude::*;
use mnist_cnn::LeNet;
use std::path::PathBuf;

const USAGE: &str = "usage: export_onnx [--checkpoint FILE.safetensors] [--out FILE.onnx]";

fn fail(code: i32, msg: impl std::fmt::Display) -> ! {
    eprintln!("export_onnx: {msg}");
    std::process::exit(code)
}

fn main() {
    let (mut ckpt, mut out) = (None::<PathBuf>, PathBuf::from("mnist_cnn.onnx"));
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| fail(2, format!("{a} needs a value\n{USAGE}")))
        };
        match a.as_str() {
            "--checkpoint" => ckpt = Some(value().into()),
            "--out" => out = value().into(),
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            _ => fail(2, format!("unknown argument `{a}`\n{USAGE}")),
        }
    }

    let mut model = <LeNet>::init(&Cpu, 0);
    if let Some(path) = &ckpt {
        // Strict: a file of another network is refused with the report.
        if let Err(e) = checkpoint::load(&mut model, path, true) {
            fail(1, format!("{}: {e}", path.display()));
        }
    }
    let graph = dl::onnx::graph(&model).unwrap_or_else(|e| fail(1, e));
    if let Err(e) = dl::onnx::export(&model, &out) {
        fail(1, e);
    }
    let mut ops: Vec<(&str, usize)> = Vec::new();
    for n in &graph.nodes {
        match ops.iter_mut().find(|(op, _)| *op == n.op_type) {
            Some((_, c)) => *c += 1,
            None => ops.push((&n.op_type, 1)),
        }
    }
    let ops: Vec<String> = ops.iter().map(|(op, c)| format!("{op} x{c}")).collect();
    println!(
        "wrote {} (opset {}, input [batch, 1, 28, 28], output [batch, 10], {} initializers; {})",
        out.display(),
        dl::onnx::OPSET,
        graph.initializers.len(),
        ops.join(", ")
    );
}
