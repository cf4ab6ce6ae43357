//! # distill: a small MLP learns from the mnist_cnn network
//!
//! Knowledge distillation (Hinton et al. 2015) with `fit`: the `mnist_cnn`
//! network is the teacher (loaded from `checkpoints/mnist_cnn.safetensors`
//! or from this example's `checkpoints/distill_teacher.safetensors` when
//! `--data` is the default MNIST directory and one exists; otherwise trained
//! here for 3 epochs on the whole training set, as `mnist_cnn` does, and
//! kept for the next run). A small MLP (784-128-10, 100,000 parameters; the
//! teacher has 225,000) is the student, trained on the first `--limit`
//! training images (10,000: a small labelled set, where a student can
//! overfit and soft targets help most). For each of 3 seeds the student is
//! trained twice from the same initialisation, for the same epochs and
//! shuffling: alone (cross-entropy on the labels) and distilled
//! (`FitConfig::teacher(&mut teacher, T, alpha)`:
//! `alpha T^2 KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) CE`
//! with T = 4, alpha = 0.7; the teacher frozen, running its inference pass
//! on every batch). Both are evaluated on the 10,000 test images.
//!
//! **PyTorch equivalent**: the knowledge-distillation tutorial's loop, with
//! `teacher.eval()` and `torch.no_grad()` around the teacher's forward pass.
//!
//! ```sh
//! cargo run --release --example distill
//! cargo run --release --example distill -- --epochs 5 --seed 7 --limit 20000
//! ```
//! Options: `--data DIR` (MNIST, default `data/mnist`), `--epochs N` (each
//! student's; default 15), `--batch-size` (64), `--lr` (Adam, 1e-3),
//! `--seed N` (the seeds are N, N+1, N+2; the teacher's is N), `--limit N`
//! (the students' training images; default 10,000, 0 for all), `--quiet`.
//! Prints per seed `seed=`, `student_alone_accuracy_seed<N>=`,
//! `student_distilled_accuracy_seed<N>=`, then `teacher_accuracy=` and the
//! means over the seeds: `student_alone_accuracy=`,
//! `student_distilled_accuracy=`, `distillation_gain=` (points).

#[allow(unused_macros, unused_imports)]
mod common;

use common::cli::Args;
use dl::nn::checkpoint;
use dl::prelude::*;
use std::sync::Arc;
use std::time::Instant;

const PROGRAM: &str = "distill";
/// Softmax temperature of the soft targets.
const TEMPERATURE: f64 = 4.0;
/// Weight of the soft-target term.
const ALPHA: f64 = 0.7;
/// Epochs of the teacher when it is trained here (those of `mnist_cnn`).
const TEACHER_EPOCHS: usize = 3;
/// Seeds per run.
const SEEDS: u64 = 3;
/// Where a teacher trained here is kept for the next run.
const TEACHER_CKPT: &str = "checkpoints/distill_teacher.safetensors";

/// The mnist_cnn network, declared once in examples/common/lenet.rs.
#[path = "common/lenet.rs"]
mod lenet;
use lenet::LeNet;

/// The student: about 100,000 parameters (the teacher has 225,000).
#[network(input = [1, 28, 28])]
pub struct Student {
    flat: Flatten,
    fc1: Linear<784, 128>,
    relu: ReLU,
    fc2: Linear<128, 10>,
}

fn defaults() -> Args {
    Args {
        limit: 10_000,
        ..Args::training(15, 64, 1e-3)
    }
}

fn main() {
    let (args, _) = common::setup(PROGRAM, "knowledge distillation from the mnist_cnn network", defaults());
    // The teacher learns from the whole training set, the students from
    // its first `--limit` images (a small labelled set: where a student
    // has the capacity to overfit and soft targets help most).
    let all = Args {
        limit: 0,
        ..args.clone()
    };
    let (train, test) = common::mnist(PROGRAM, &all);
    let student_train = if args.limit > 0 && args.limit < train.len() {
        Arc::new(common::or_exit(PROGRAM, train.split(args.limit)).0)
    } else {
        train.clone()
    };
    common::say(
        &args,
        format!("students: the first {} training images", student_train.len()),
    );

    // The teacher: the mnist_cnn example's checkpoint, or this example's
    // own from an earlier run, or trained now (and kept for the next run).
    let mut teacher = LeNet::<Cpu, f32>::init(&Cpu, args.seed);
    let files = [common::MNIST_CNN_CHECKPOINT, TEACHER_CKPT];
    if common::load_trained(PROGRAM, &args, "teacher: ", &mut teacher, &files).is_none() {
        let config = common::fit_config(&args, Adam::new(args.lr), CrossEntropy::new()).epochs(TEACHER_EPOCHS);
        common::fit_timed(PROGRAM, &args, "teacher: ", &mut teacher, &train, config);
        if args.data == Args::default().data {
            let saved = std::fs::create_dir_all("checkpoints")
                .map_err(|e| e.to_string())
                .and_then(|()| checkpoint::save(&teacher, TEACHER_CKPT).map_err(|e| e.to_string()));
            if let Err(e) = saved {
                common::say(&args, format!("teacher not kept: {e}"));
            }
        }
    }
    let teacher_acc = common::or_exit(PROGRAM, teacher.evaluate(&test, &CrossEntropy::new(), 1000)).accuracy;
    common::say(&args, format!("teacher test accuracy {:.2}%", 100.0 * teacher_acc));

    // The students, alone and distilled, from the same seeds.
    let (mut alone, mut distilled) = (Vec::new(), Vec::new());
    for k in 0..SEEDS {
        let seed = args.seed + k;
        let config = || {
            common::fit_config(&args, Adam::new(args.lr), CrossEntropy::new())
                .shuffle_seed(seed)
                .quiet(true)
        };
        let t = Instant::now();
        let mut a = Student::<Cpu, f32>::init(&Cpu, seed);
        common::or_exit(PROGRAM, a.fit(&student_train, config()));
        let a_secs = t.elapsed().as_secs_f64();
        let a_acc = common::or_exit(PROGRAM, a.evaluate(&test, &CrossEntropy::new(), 1000)).accuracy;

        let t = Instant::now();
        let mut d = Student::<Cpu, f32>::init(&Cpu, seed);
        common::or_exit(
            PROGRAM,
            d.fit(&student_train, config().teacher(&mut teacher, TEMPERATURE, ALPHA)),
        );
        let d_secs = t.elapsed().as_secs_f64();
        let d_acc = common::or_exit(PROGRAM, d.evaluate(&test, &CrossEntropy::new(), 1000)).accuracy;
        common::say(
            &args,
            format!(
                "seed {seed}: alone {:.2}% ({}), distilled {:.2}% ({})",
                100.0 * a_acc,
                common::fmt_secs(a_secs),
                100.0 * d_acc,
                common::fmt_secs(d_secs)
            ),
        );
        println!("seed={seed}");
        println!("student_alone_accuracy_seed{seed}={a_acc:.4}");
        println!("student_distilled_accuracy_seed{seed}={d_acc:.4}");
        alone.push(a_acc);
        distilled.push(d_acc);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (a, d) = (mean(&alone), mean(&distilled));
    let wins = alone.iter().zip(&distilled).filter(|(a, d)| d > a).count();
    common::say(
        &args,
        format!("T = {TEMPERATURE}, alpha = {ALPHA}: the distilled student is better for {wins} of {SEEDS} seeds"),
    );
    println!("teacher_accuracy={teacher_acc:.4}");
    println!("student_alone_accuracy={a:.4}");
    println!("student_distilled_accuracy={d:.4}");
    println!("distillation_gain={:.2}", 100.0 * (d - a));
}
