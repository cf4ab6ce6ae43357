//! # ddp_mnist: data-parallel training on MPI, PyTorch DDP style
//!
//! The `mnist_mlp` network and loop, data parallel over the processes that
//! `mpirun` starts: rank 0's initial parameters are broadcast, each rank
//! trains on its shard of every epoch ([`DistributedSampler`]) with
//! `global batch / ranks` samples per step, and **one line after
//! `backward`**, `ddp.sync_gradients(&mut model)?`, averages the gradients
//! over the ranks (in buckets of 4 MB), so that every rank's optimizer takes
//! the same step. Test accuracy is counted on every rank's shard of the
//! test set and summed. Only rank 0 prints.
//!
//! ```sh
//! scripts/install-mpi.sh      # OpenMPI from Debian's packages (root)
//! cargo build --release --features mpi --example ddp_mnist
//! mpirun --allow-run-as-root --oversubscribe -np 2 \
//!     target/release/examples/ddp_mnist --global-batch-size 128 --seed 1
//! ```
//! (`--allow-run-as-root` only where it runs as root, `--oversubscribe`
//! where there are fewer cores than ranks.) Options: the common ones
//! (`--data --epochs --batch-size --seed --lr --device --limit --quiet`;
//! `--batch-size` is per rank) and `--global-batch-size N` (split evenly
//! over the ranks). Ends with `test_accuracy=0.xxxx` and
//! `param_checksum=<sum of |p| over all parameters, 6 significant digits>`,
//! the same on 1 and on N ranks up to floating-point rounding.
//!
//! Built with `--features cuda,nccl`, `--device cuda` trains on one GPU per
//! rank (`OMPI_COMM_WORLD_LOCAL_RANK`) with the gradients reduced by NCCL.

#[allow(unused)] // `common::on_device!` is not used: the CUDA arm picks NCCL.
mod common;
/// The network of `mnist_mlp`, declared once in examples/common/mlp.rs.
#[path = "common/mlp.rs"]
mod mlp;

use common::cli::Args;
use dl::core::Storage;
use dl::dist::{Communicator, DataParallel, DistributedSampler, MpiComm, Tail};
use dl::nn::optim::{CosineAnnealing, Schedule};
use dl::prelude::*;
use mlp::Mlp;
use std::sync::Arc;
use std::time::Instant;

const PROGRAM: &str = "ddp_mnist";

/// Ends every rank after an error on this one.
fn fail(comm: &impl Communicator, e: impl std::fmt::Display) -> ! {
    eprintln!("{PROGRAM}: rank {}: error: {e}", comm.rank());
    comm.abort(1)
}

/// `--global-batch-size N` (or `=N`) taken out of the arguments.
fn split_args() -> (Vec<String>, Option<String>) {
    let mut rest = Vec::new();
    let mut global = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "--global-batch-size" {
            global = Some(it.next().unwrap_or_default());
        } else if let Some(v) = a.strip_prefix("--global-batch-size=") {
            global = Some(v.to_string());
        } else {
            rest.push(a);
        }
    }
    (rest, global)
}

/// `x` with 6 significant digits.
fn six_digits(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let decimals = (5 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.decimals$}")
}

/// Correct answers and samples on this rank's shard of the test set.
fn evaluate<B: Backend>(
    model: &mut Mlp<B>,
    loader: &mut DataLoader<InMemoryDataset>,
    dev: &B,
) -> Result<[f64; 2], String> {
    let (correct, seen) = common::count_correct(model, loader, dev).map_err(|e| e.to_string())?;
    Ok([correct as f64, seen as f64])
}

fn run<B: Backend, C: Communicator>(args: &Args, dev: &B, comm: C) -> (f64, f64)
where
    <B as Storage>::Buf<f32>: 'static,
{
    let (rank, world) = (comm.rank(), comm.world_size());
    let root = rank == 0;
    let quiet = Args {
        quiet: args.quiet || !root,
        ..args.clone()
    };
    let (train, test) = common::mnist(PROGRAM, &quiet);
    let mut model = Mlp::<B>::init(dev, args.seed);
    let mut ddp = DataParallel::new(comm);
    if let Err(e) = ddp.broadcast_parameters(&mut model) {
        fail(ddp.comm(), e);
    }
    common::say(
        &quiet,
        format!(
            "{world} rank(s) on {}, {} samples per rank and step (global batch {})",
            ddp.comm().name(),
            args.batch_size,
            args.batch_size * world
        ),
    );
    let mut opt = Sgd::<B>::new(args.lr).momentum(0.9);
    let sampler = ddp.sampler(Some(args.seed));
    let mut loader = match DataLoader::new(train, args.batch_size) {
        Ok(l) => l.shuffle(args.seed).sampler(Arc::new(sampler)),
        Err(e) => fail(ddp.comm(), e),
    };
    let test_shard = DistributedSampler::new(rank, world, None)
        .map(|s| s.tail(Tail::Uneven))
        .unwrap_or_else(|e| fail(ddp.comm(), e));
    let mut test_loader = match DataLoader::new(test, 1000) {
        Ok(l) => l.sampler(Arc::new(test_shard)),
        Err(e) => fail(ddp.comm(), e),
    };
    let schedule = CosineAnnealing {
        t_max: args.epochs,
        eta_min: args.lr / 50.0,
    };
    let start = Instant::now();
    let mut test_accuracy = f64::NAN;
    for epoch in 0..args.epochs.max(1) {
        let t = Instant::now();
        let mut sums = [0.0f64; 3]; // loss * n, correct, n
        if epoch < args.epochs {
            schedule.apply(&mut opt, args.lr, epoch);
            model.train();
            let batches = loader.epoch(dev).unwrap_or_else(|e| fail(ddp.comm(), e));
            for (x, y) in batches {
                let (logits, mut cache) = model.forward_train(&x);
                let (loss, d_logits) = cross_entropy(&logits, &y).unwrap_or_else(|e| fail(ddp.comm(), e));
                model.zero_grad();
                model.backward_params(&mut cache, &d_logits);
                // The one line data parallelism adds: average the gradients.
                if let Err(e) = ddp.sync_gradients(&mut model) {
                    fail(ddp.comm(), e);
                }
                opt.step(&mut model);
                sums[0] += loss as f64 * y.len() as f64;
                sums[1] += common::correct(&logits.to_vec(), 10, &y) as f64;
                sums[2] += y.len() as f64;
            }
        }
        let mut acc = evaluate(&mut model, &mut test_loader, dev).unwrap_or_else(|e| fail(ddp.comm(), e));
        let mut all = [sums[0], sums[1], sums[2], acc[0], acc[1]];
        if let Err(e) = ddp.comm().all_reduce_sum(&mut all) {
            fail(ddp.comm(), e);
        }
        acc = [all[3], all[4]];
        test_accuracy = acc[0] / acc[1].max(1.0);
        if epoch < args.epochs {
            let st = ddp.stats();
            common::say(
                &quiet,
                format!(
                    "epoch {}/{} - lr {:.4} - loss {:.4} - accuracy {:.2}% - test_accuracy {:.2}% - {} - gradient sync {:.1}% of the time",
                    epoch + 1,
                    args.epochs,
                    opt.lr(),
                    all[0] / all[2].max(1.0),
                    100.0 * all[1] / all[2].max(1.0),
                    100.0 * test_accuracy,
                    common::fmt_secs(t.elapsed().as_secs_f64()),
                    100.0 * st.seconds / start.elapsed().as_secs_f64().max(1e-9)
                ),
            );
        }
    }
    // Every rank must hold the same bits.
    let mut p = Vec::new();
    model.for_each_param(&mut |q| p.extend(dev.to_vec(&q.value)));
    let mut p0 = p.clone();
    if let Err(e) = ddp.comm().broadcast(&mut p0, 0) {
        fail(ddp.comm(), e);
    }
    if p0.iter().zip(&p).any(|(a, b)| a.to_bits() != b.to_bits()) {
        fail(ddp.comm(), "the parameters differ from rank 0's after training");
    }
    let checksum: f64 = p.iter().map(|v| v.abs() as f64).sum();
    common::say(
        &quiet,
        format!(
            "trained {} epoch(s) in {} on {world} rank(s)",
            args.epochs,
            common::fmt_secs(start.elapsed().as_secs_f64())
        ),
    );
    (test_accuracy, checksum)
}

fn main() {
    let comm = match MpiComm::new() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{PROGRAM}: error: {e}");
            std::process::exit(1)
        }
    };
    let (rest, global) = split_args();
    let about = "a multilayer perceptron trained data-parallel over MPI ranks";
    let mut args = match Args::parse_from(rest, Args::training(3, 64, 0.05)) {
        Ok(a) => a,
        Err(common::cli::ArgError::Help) => {
            if comm.rank() == 0 {
                println!(
                    "{PROGRAM}: {about}\n\nusage: mpirun -np N target/release/examples/{PROGRAM} [options]\n{}\n  --global-batch-size N  samples per step over all ranks (a multiple of the rank count)",
                    common::cli::USAGE
                );
            }
            return;
        }
        Err(e) => {
            if comm.rank() == 0 {
                eprintln!(
                    "{PROGRAM}: {e}\n\nusage: mpirun -np N target/release/examples/{PROGRAM} [options]\n{}",
                    common::cli::USAGE
                );
            }
            std::process::exit(2)
        }
    };
    if let Some(g) = global {
        let world = comm.world_size();
        match g.parse::<usize>() {
            Ok(g) if g > 0 && g.is_multiple_of(world) => args.batch_size = g / world,
            _ => {
                if comm.rank() == 0 {
                    eprintln!("{PROGRAM}: invalid value `{g}` for `--global-batch-size`: must be a positive multiple of the {world} rank(s)");
                }
                std::process::exit(2)
            }
        }
    }
    // Only rank 0 says which device it picked.
    let dev = common::or_exit(
        PROGRAM,
        Args {
            quiet: args.quiet || comm.rank() != 0,
            ..args.clone()
        }
        .device(),
    );
    let root = comm.rank() == 0;
    let (acc, checksum) = match dev {
        common::cli::Picked::Cpu(dev) => run(&args, &dev, comm),
        // On GPUs: one GPU per rank on each machine, NCCL between them
        // (MPI only starts it) when built with `--features cuda,nccl`.
        #[cfg(feature = "nccl")]
        common::cli::Picked::Cuda(_) => {
            let local: usize = std::env::var("OMPI_COMM_WORLD_LOCAL_RANK")
                .or_else(|_| std::env::var("MPI_LOCALRANKID"))
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let gpu = dl::core::Cuda::new(local).unwrap_or_else(|e| fail(&comm, format!("GPU {local}: {e}")));
            let nccl = dl::dist::NcclComm::new(comm, &gpu).unwrap_or_else(|e| {
                eprintln!("{PROGRAM}: error: {e}");
                std::process::exit(1)
            });
            run(&args, &gpu, nccl)
        }
        #[cfg(all(feature = "cuda", not(feature = "nccl")))]
        common::cli::Picked::Cuda(dev) => run(&args, &dev, comm),
    };
    if root {
        println!("test_accuracy={acc:.4}");
        println!("param_checksum={}", six_digits(checksum));
    }
}
