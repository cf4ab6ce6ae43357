//! # resnet: residual blocks, batch norm and augmentation
//!
//! A small ResNet on MNIST. Each block is itself a `#[network]` (conv +
//! BatchNorm2d + ReLU + conv + BatchNorm2d) used as a field through
//! `Residual<Block>` (`out = block(x) + x`) or, where the shape changes,
//! `ResidualProj<Block, Conv2d<.., 1, 2>>` (a strided 1x1 projection on the
//! skip path); a `GlobalAvgPool2d` head replaces flatten + big linear layer.
//! Training images are augmented on the loader's background thread with
//! `RandomCrop { padding: 2 }` (seeded, so runs repeat), the loop is
//! PyTorch-style with a reused cache (`forward_train_with`, `backward_params`:
//! no allocation per step), and the learning rate follows a per-step
//! cosine schedule. Batch norm uses batch statistics in `train()` mode and
//! its running statistics in `eval()` mode (`model.evaluate` switches).
//!
//! ```sh
//! cargo run --release --example resnet
//! cargo run --release --example resnet -- --epochs 1 --limit 5000
//! ```
//! Options: `--data DIR` (MNIST IDX files, default `data/mnist`), `--epochs`
//! (default 2), `--batch-size` (64), `--lr` (Adam peak, 2e-3), `--seed`,
//! `--device cpu|cuda|auto`, `--limit N`, `--quiet`. Ends with
//! `test_accuracy=0.xxxx`.

mod common;

use common::cli::Args;
use dl::nn::data::augment::RandomCrop;
use dl::nn::optim::{CosineAnnealing, Schedule};
use dl::prelude::*;
use std::time::Instant;

const PROGRAM: &str = "resnet";

/// Declares a residual branch, `#[network(input = [IN, HW, HW])]`: conv
/// 3x3 (`IN` -> `OUT` channels, stride `S`, padding 1) - BatchNorm2d -
/// ReLU - conv 3x3 (`OUT` -> `OUT`) - BatchNorm2d. A `#[network]` struct
/// takes no generic parameters, so the branch at each width is stamped
/// out by this macro (the generated fields and `state_dict` names are
/// those of the struct written by hand).
macro_rules! branch {
    ($(#[$doc:meta])* $name:ident: [$in:tt, $hw:tt, $hw2:tt] -> $out:tt, stride $s:tt) => {
        $(#[$doc])*
        #[network(input = [$in, $hw, $hw2])]
        pub struct $name {
            conv1: Conv2d<$in, $out, 3, $s, 1>,
            bn1: BatchNorm2d<$out>,
            relu: ReLU,
            conv2: Conv2d<$out, $out, 3, 1, 1>,
            bn2: BatchNorm2d<$out>,
        }
    };
}

branch!(
    /// The residual branch at 16 channels, 14x14.
    Block16: [16, 14, 14] -> 16, stride 1
);
branch!(
    /// The downsampling branch: 16 -> 32 channels, 14x14 -> 7x7.
    Down32: [16, 14, 14] -> 32, stride 2
);
branch!(
    /// The residual branch at 32 channels, 7x7.
    Block32: [32, 7, 7] -> 32, stride 1
);

#[network(input = [1, 28, 28])]
pub struct ResNet {
    stem: Conv2d<1, 16, 3, 1, 1>,
    stem_bn: BatchNorm2d<16>,
    stem_relu: ReLU,
    pool: MaxPool2d<2>,
    block1: Residual<Block16>,
    relu1: ReLU,
    block2: ResidualProj<Down32, Conv2d<16, 32, 1, 2>>,
    relu2: ReLU,
    block3: Residual<Block32>,
    relu3: ReLU,
    gap: GlobalAvgPool2d,
    fc: Linear<32, 10>,
}

fn main() {
    let (args, dev) = common::setup(
        PROGRAM,
        "a small ResNet with batch norm and augmentation",
        Args::training(2, 64, 2e-3),
    );
    common::on_device!(dev => run(&args, &dev))
}

/// Trains and evaluates on `dev` (any backend).
fn run<B: Backend>(args: &Args, dev: &B) {
    let (train, test) = common::mnist(PROGRAM, args);
    let mut model = ResNet::<B>::init(dev, args.seed);
    common::say(args, <ResNet>::SUMMARY);

    let mut loader = common::or_exit(PROGRAM, DataLoader::new(train, args.batch_size))
        .shuffle(args.seed)
        .transform(RandomCrop { padding: 2 }, [1, 28, 28]);
    let steps_per_epoch = loader.num_batches();
    let schedule = CosineAnnealing {
        t_max: steps_per_epoch.saturating_mul(args.epochs).max(1),
        eta_min: 0.0,
    };
    let mut opt = Adam::<B>::new(args.lr);
    let mut cache = ResNet::<B>::new_cache(dev);
    let mut step = 0;
    let mut last_eval = None;
    let start = Instant::now();
    for epoch in 0..args.epochs {
        let t = Instant::now();
        model.train();
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for (i, (x, y)) in common::or_exit(PROGRAM, loader.epoch(dev)).enumerate() {
            schedule.apply(&mut opt, args.lr, step);
            let logits = model.forward_train_with(&x, &mut cache);
            let (loss, d_logits) = common::or_exit(PROGRAM, cross_entropy(logits, &y));
            correct += common::correct(&logits.to_vec(), 10, &y);
            model.zero_grad();
            model.backward_params(&mut cache, &d_logits);
            opt.step(&mut model);
            loss_sum += loss as f64 * y.len() as f64;
            seen += y.len();
            step += 1;
            if !args.quiet && (i + 1) % 200 == 0 {
                println!(
                    "  step {:>4}/{steps_per_epoch} - loss {:.4} - accuracy {:.2}% - lr {:.2e}",
                    i + 1,
                    loss_sum / seen as f64,
                    100.0 * correct as f64 / seen as f64,
                    opt.lr()
                );
            }
        }
        let eval = common::or_exit(PROGRAM, model.evaluate(&test, &CrossEntropy::new(), 500));
        common::say(
            args,
            format!(
                "epoch {}/{} - loss {:.4} - accuracy {:.2}% - test {eval} - {}",
                epoch + 1,
                args.epochs,
                loss_sum / seen.max(1) as f64,
                100.0 * correct as f64 / seen.max(1) as f64,
                common::fmt_secs(t.elapsed().as_secs_f64())
            ),
        );
        last_eval = Some(eval);
    }
    let eval = match last_eval {
        Some(e) => e,
        None => common::or_exit(PROGRAM, model.evaluate(&test, &CrossEntropy::new(), 500)),
    };
    common::say(
        args,
        format!(
            "test: {eval} after {} epoch(s), {} in all",
            args.epochs,
            common::fmt_secs(start.elapsed().as_secs_f64())
        ),
    );
    println!("test_accuracy={:.4}", eval.accuracy);
}
