//! # transfer: pretrain, load a backbone non-strictly, freeze, fine-tune
//!
//! Transfer learning in four steps, all on MNIST:
//!
//! 1. Pretrain a CNN (`Backbone` + `head`) on the digits 0-4 and save it to
//!    `checkpoints/transfer_pretrained.safetensors`.
//! 2. Build a network for the digits 5-9 (relabelled 0-4) with the same
//!    `Backbone` field and a new head, `classifier`, and load the file
//!    **non-strictly**: the `backbone.*` tensors load by name, the report
//!    lists the new head as missing and the old one as unexpected.
//! 3. Feature extraction: freeze the backbone (`frozen = true` on every
//!    parameter whose `state_dict` name starts with `backbone.`, through
//!    `visit_mut`; optimizers skip frozen parameters) and train the head.
//! 4. Fine-tuning: unfreeze and train everything at a lower learning rate.
//!
//! Accuracy on the 5-9 test digits is printed after each step.
//!
//! ```sh
//! cargo run --release --example transfer
//! cargo run --release --example transfer -- --epochs 1 --limit 10000
//! ```
//! Options: `--data DIR` (MNIST IDX files, default `data/mnist`), `--epochs`
//! (per phase, default 1), `--batch-size` (64), `--lr` (Adam, 1e-3; a tenth
//! for fine-tuning), `--seed`, `--device cpu|cuda|auto`, `--limit N`,
//! `--quiet`. Ends with `test_accuracy=0.xxxx` (after fine-tuning).

mod common;

use common::cli::Args;
use dl::nn::checkpoint;
use dl::nn::data::InMemoryDataset;
use dl::prelude::*;
use std::sync::Arc;

const PROGRAM: &str = "transfer";

/// The feature extractor shared by both tasks: [1, 28, 28] -> [128].
#[network(input = [1, 28, 28])]
pub struct Backbone {
    conv1: Conv2d<1, 16, 5>,
    relu1: ReLU,
    pool1: MaxPool2d<2>,
    conv2: Conv2d<16, 32, 5>,
    relu2: ReLU,
    pool2: MaxPool2d<2>,
    flat: Flatten,
    fc: Linear<512, 128>,
    relu3: ReLU,
}

/// The pretraining network (digits 0-4).
#[network(input = [1, 28, 28])]
pub struct Pretrain {
    backbone: Backbone,
    head: Linear<128, 5>,
}

/// The new task's network (digits 5-9 as 0-4): same backbone, new head.
#[network(input = [1, 28, 28])]
pub struct Transfer {
    backbone: Backbone,
    classifier: Linear<128, 5>,
}

/// The samples with labels in `lo..lo + 5`, relabelled `0..5`.
fn digits(data: &InMemoryDataset, lo: usize) -> Arc<InMemoryDataset> {
    let part = data.filter_labels(|l| (lo..lo + 5).contains(&l));
    Arc::new(common::or_exit(PROGRAM, part.map_labels(|l| l - lo, 5)))
}

/// Sets `frozen` on every parameter whose name starts with `prefix`;
/// returns how many scalars that covers.
fn set_frozen<B: Backend, M: Module<B, f32>>(model: &mut M, prefix: &str, frozen: bool) -> usize {
    let mut n = 0;
    model.visit_mut("", &mut |name, p| {
        if name.starts_with(prefix) {
            p.frozen = frozen;
            n += p.numel();
        }
    });
    n
}

/// The training settings of every phase: Adam at `lr`, cross-entropy.
fn fit_cfg<'a, N, B: Backend>(lr: f64, args: &Args) -> FitConfig<'a, N, Adam<B>, CrossEntropy> {
    common::fit_config(args, Adam::new(lr), CrossEntropy::new())
}

fn main() {
    let (args, dev) = common::setup(
        PROGRAM,
        "transfer learning: non-strict load, freezing, fine-tuning",
        Args::training(1, 64, 1e-3),
    );
    common::on_device!(dev => run(&args, &dev))
}

/// The three phases on `dev` (any backend).
fn run<B: Backend>(args: &Args, dev: &B) {
    let (train, test) = common::mnist(PROGRAM, args);
    let (train_a, test_a) = (digits(&train, 0), digits(&test, 0));
    let (train_b, test_b) = (digits(&train, 5), digits(&test, 5));
    common::say(
        args,
        format!(
            "task A (digits 0-4): {} train / {} test; task B (digits 5-9 as 0-4): {} train / {} test",
            train_a.len(),
            test_a.len(),
            train_b.len(),
            test_b.len()
        ),
    );
    let loss = CrossEntropy::new();

    // 1. Pretraining on task A.
    common::say(args, "\n== 1. pretraining on digits 0-4");
    let mut pre = Pretrain::<B>::init(dev, args.seed);
    common::say(args, <Pretrain>::SUMMARY);
    common::or_exit(PROGRAM, pre.fit(&train_a, fit_cfg(args.lr, args)));
    let eval_a = common::or_exit(PROGRAM, pre.evaluate(&test_a, &loss, 500));
    common::say(args, format!("pretrained model on digits 0-4: {eval_a}"));
    let path = common::checkpoint_path(PROGRAM, "transfer_pretrained.safetensors");
    common::or_exit(PROGRAM, checkpoint::save(&pre, &path));
    common::say(args, format!("saved {}", path.display()));

    // 2. A new network for task B, loading the backbone by name.
    common::say(args, "\n== 2. new network for digits 5-9, non-strict load");
    let mut model = Transfer::<B>::init(dev, args.seed + 1);
    let report = common::or_exit(PROGRAM, checkpoint::load(&mut model, &path, false));
    common::say(
        args,
        format!(
            "load report: {} loaded ({} ...), missing {:?}, unexpected {:?}, mismatched {:?}",
            report.loaded.len(),
            report.loaded.first().map_or("", String::as_str),
            report.missing,
            report.unexpected,
            report.mismatched
        ),
    );
    let before = common::or_exit(PROGRAM, model.evaluate(&test_b, &loss, 500));
    common::say(args, format!("digits 5-9 with the untrained head: {before}"));

    // 3. Feature extraction: frozen backbone, train the head.
    common::say(args, "\n== 3. feature extraction (backbone frozen)");
    let frozen = set_frozen(&mut model, "backbone.", true);
    common::say(
        args,
        format!(
            "frozen {frozen} of {} parameters; training the head's {}",
            <Transfer>::SUMMARY.total_params,
            <Transfer>::SUMMARY.total_params - frozen
        ),
    );
    let backbone_before = model.backbone.conv1.weight.value_vec();
    common::or_exit(PROGRAM, model.fit(&train_b, fit_cfg(args.lr, args)));
    common::say(
        args,
        format!(
            "backbone unchanged by the head's training: {}",
            backbone_before == model.backbone.conv1.weight.value_vec()
        ),
    );
    let extracted = common::or_exit(PROGRAM, model.evaluate(&test_b, &loss, 500));
    common::say(
        args,
        format!("digits 5-9, head trained on frozen features: {extracted}"),
    );

    // 4. Fine-tuning everything at a lower learning rate.
    common::say(args, "\n== 4. fine-tuning (all parameters, lr / 10)");
    set_frozen(&mut model, "", false);
    common::or_exit(PROGRAM, model.fit(&train_b, fit_cfg(args.lr / 10.0, args)));
    let tuned = common::or_exit(PROGRAM, model.evaluate(&test_b, &loss, 500));
    common::say(args, format!("digits 5-9 after fine-tuning: {tuned}"));
    common::say(
        args,
        format!(
            "\naccuracy on digits 5-9: untrained head {:.2}% -> frozen backbone {:.2}% -> fine-tuned {:.2}%",
            100.0 * before.accuracy,
            100.0 * extracted.accuracy,
            100.0 * tuned.accuracy
        ),
    );
    println!("feature_extraction_accuracy={:.4}", extracted.accuracy);
    println!("test_accuracy={:.4}", tuned.accuracy);
}
