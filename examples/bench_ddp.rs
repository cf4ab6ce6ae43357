//! Benchmark B1-ddp of `BENCHMARKS.md`: the B1 training step (784 -> 512
//! -> 256 -> 10 MLP, cross-entropy, SGD lr 0.01), data parallel over the
//! MPI ranks, global batch 128 split evenly, 20 warm-up and 200 timed
//! steps, synthetic data. Rank 0 prints the job's steps per second and the
//! share of a step spent synchronising gradients.
//!
//! ```sh
//! cargo build --release --features mpi --example bench_ddp
//! RAYON_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe -np 2 -x RAYON_NUM_THREADS target/release/examples/bench_ddp
//! RAYON_NUM_THREADS=2 mpirun --allow-run-as-root -np 1 -x RAYON_NUM_THREADS target/release/examples/bench_ddp
//! ```
//! `bench/ddp_compare.sh` runs these and PyTorch DDP (gloo) alternately.
//! With `--weak` every rank trains on a batch of 128 (the global batch
//! grows with the ranks: weak scaling, Horovod's measure of efficiency) and
//! the line starts `B1-ddp-weak`. With `--no-sync` the ranks skip the
//! reduction (`B1-ddp-nosync`): the steps per second with communication
//! for free, which bounds the scaling efficiency this machine allows.
//! Prints `B1-ddp dl ranks=2 threads_per_rank=1 steps_per_s=.. sync_share=..
//! allreduce_share=..`: `sync_share` is the part of the timed window spent
//! in `sync_gradients`, `allreduce_share` the part in the reductions (which
//! includes waiting for the slower rank and, for these host gradients,
//! laying the bucket out in the communicator's memory and reading it back).

use dl::dist::{Communicator, DataParallel, MpiComm};
use dl::prelude::*;
use std::time::Instant;

#[path = "../bench/nets.rs"]
#[allow(dead_code)]
#[macro_use]
mod nets;
use nets::{synthetic, Mlp};

const GLOBAL_BATCH: usize = 128;
const WARMUP: usize = 20;
const STEPS: usize = 200;

fn bench() -> Result<Option<String>, dl::dist::DistError> {
    let comm = MpiComm::new()?;
    let (rank, world) = (comm.rank(), comm.world_size());
    if !GLOBAL_BATCH.is_multiple_of(world) {
        return Err(dl::dist::DistError::Invalid(format!(
            "the global batch {GLOBAL_BATCH} does not split over {world} ranks"
        )));
    }
    // `--weak`: every rank takes the whole batch of 128 (weak scaling, the
    // global batch grows with the ranks), else the 128 split evenly.
    let weak = std::env::args().any(|a| a == "--weak");
    // `--no-sync`: the ranks skip the gradient reduction (they train apart):
    // the step time 2 ranks would have with free communication, the
    // bound on the scaling efficiency of this machine.
    let no_sync = std::env::args().any(|a| a == "--no-sync");
    let local = if weak { GLOBAL_BATCH } else { GLOBAL_BATCH / world };
    let (x, labels, _) = synthetic::<S1<784>>(local, 1 + rank as u64);
    let mut model = Mlp::<Cpu>::init(&Cpu, 0);
    let mut ddp = DataParallel::new(comm);
    ddp.broadcast_parameters(&mut model)?;
    let mut opt: Sgd = Sgd::new(0.01);
    let mut cache = Mlp::<Cpu>::new_cache(&Cpu);
    let mut dlogits = Tensor::empty(&Cpu);
    let mut step = |model: &mut Mlp<Cpu>, ddp: &mut DataParallel<MpiComm>| -> Result<f32, dl::dist::DistError> {
        model.zero_grad();
        let logits = model.forward_train_with(&x, &mut cache);
        let loss = dl::nn::loss::cross_entropy::cross_entropy_idx_into(logits, &labels, 0.0, &mut dlogits)
            .expect("valid labels");
        model.backward_params(&mut cache, &dlogits);
        if !no_sync {
            ddp.sync_gradients(model)?;
        }
        opt.step(model);
        Ok(loss)
    };
    for _ in 0..WARMUP {
        step(&mut model, &mut ddp)?;
    }
    ddp.comm().barrier()?;
    ddp.reset_stats();
    let t0 = Instant::now();
    let mut loss = 0.0;
    for _ in 0..STEPS {
        loss = step(&mut model, &mut ddp)?;
    }
    ddp.comm().barrier()?;
    let dt = t0.elapsed().as_secs_f64();
    let st = ddp.stats();
    Ok((rank == 0).then(|| {
        format!(
            "B1-ddp{} dl ranks={world} threads_per_rank={} steps_per_s={:.2} ms_per_step={:.3} sync_share={:.3} \
             allreduce_share={:.3} buckets_per_step={} final_loss={loss:.4}",
            match (weak, no_sync) {
                (true, false) => "-weak",
                (true, true) => "-weak-nosync",
                (false, true) => "-nosync",
                (false, false) => "",
            },
            dl::core::cpu::num_threads(),
            STEPS as f64 / dt,
            1000.0 * dt / STEPS as f64,
            st.seconds / dt,
            st.reduce_seconds / dt,
            st.buckets / STEPS as u64,
        )
    }))
}

fn main() {
    // On a worker of the CPU pool, as `bench` runs B1 (MPI is initialised
    // and used on that one thread).
    match dl::core::cpu::in_pool(|| bench().map_err(|e| e.to_string())) {
        Ok(Some(line)) => println!("{line}"),
        Ok(None) => {}
        Err(e) => {
            eprintln!("bench_ddp: error: {e}");
            std::process::exit(1)
        }
    }
}
