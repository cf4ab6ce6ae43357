//! Data-parallel training under a real `mpirun` (feature `mpi`; MPI from
//! `scripts/install-mpi.sh`). Each test launches this test binary again
//! under `mpirun --allow-run-as-root --oversubscribe -np N`, running only
//! [`mpi_child_entry_point`] with `DL_DIST_CHILD` naming the scenario; the
//! ranks print `key=value` lines that the parent test checks.
//!
//! The equivalence tests train in `f64` and accept a maximum relative
//! difference of 1e-6 against one process: the ranks' gradients are means
//! of per-rank means (the sums are split differently from one process's
//! GEMM), so the bits differ from one process's, while every rank holds the
//! very same bits as every other rank (checked exactly).
#![cfg(feature = "mpi")]

use dl::dist::{Communicator, DataParallel, DistributedSampler, MpiComm, Staged};
use dl::nn::data::Sampler;
use dl::nn::train::{Fit, FitConfig, ModelCheckpoint, Monitor};
use dl::prelude::*;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A small MLP, `#[network]` like any user model.
#[network(input = [8])]
pub struct Mlp {
    fc1: Linear<8, 16>,
    relu: ReLU,
    fc2: Linear<16, 3>,
}

type Net = Mlp<Cpu, f64>;

/// The relative tolerance of the equivalence tests (see the module docs).
const REL_TOL: f64 = 1e-6;

/// One `mpirun` at a time (the machine has few cores).
static MPIRUN: Mutex<()> = Mutex::new(());

struct Run {
    ok: bool,
    code: Option<i32>,
    out: String,
    secs: f64,
}

fn mpirun(np: usize, scenario: &str, env: &[(&str, &str)]) -> Run {
    let _one = MPIRUN.lock().unwrap_or_else(|e| e.into_inner());
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new("mpirun");
    cmd.args(["--allow-run-as-root", "--oversubscribe", "-np", &np.to_string()]);
    // Pass the scenario to every rank.
    cmd.args([
        "-x",
        "DL_DIST_CHILD",
        "-x",
        "RAYON_NUM_THREADS",
        "-x",
        "DL_DIST_TIMEOUT_S",
    ]);
    cmd.arg(exe)
        .args(["mpi_child_entry_point", "--exact", "--nocapture", "--test-threads=1"]);
    cmd.env("DL_DIST_CHILD", scenario).env("RAYON_NUM_THREADS", "1");
    cmd.env("DL_DIST_TIMEOUT_S", "120");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run `mpirun` ({e}); install MPI with scripts/install-mpi.sh"));
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Run {
        ok: out.status.success(),
        code: out.status.code(),
        out: text,
        secs: start.elapsed().as_secs_f64(),
    }
}

/// The values of `key=` in the output, one per line that has it.
fn values(out: &str, key: &str) -> Vec<String> {
    let pat = format!("{key}=");
    out.split_whitespace()
        .filter_map(|w| w.strip_prefix(&pat).map(str::to_string))
        .collect()
}

fn check_equivalent(run: &Run, np: usize) {
    assert!(run.ok, "mpirun failed:\n{}", run.out);
    let same = values(&run.out, "identical_to_rank0");
    assert_eq!(same.len(), np, "one line per rank:\n{}", run.out);
    assert!(same.iter().all(|v| v == "true"), "ranks differ:\n{}", run.out);
    let diff: f64 = values(&run.out, "max_rel_diff_vs_one_process")
        .first()
        .unwrap_or_else(|| panic!("no comparison line:\n{}", run.out))
        .parse()
        .unwrap();
    assert!(
        diff <= REL_TOL,
        "max relative difference {diff} > {REL_TOL}:\n{}",
        run.out
    );
    let steps: Vec<String> = values(&run.out, "steps");
    assert!(steps.iter().all(|s| s == "50"), "{}", run.out);
}

#[test]
fn two_ranks_with_half_batches_match_one_rank_after_50_adam_steps() {
    // 48 samples, global batch 12: 6 per rank.
    let run = mpirun(2, "equiv", &[("DDP_N", "48"), ("DDP_BATCH", "12")]);
    check_equivalent(&run, 2);
}

#[test]
fn three_ranks_on_an_uneven_data_set_match_one_rank() {
    // 50 samples over 3 ranks: padded to 51 (17 per rank), global batch 12.
    let run = mpirun(3, "equiv", &[("DDP_N", "50"), ("DDP_BATCH", "12")]);
    check_equivalent(&run, 3);
}

#[test]
fn fit_on_two_ranks_matches_fit_in_one_process_and_checkpoints_cross_over() {
    let dir = std::env::temp_dir().join(format!("dl-ddp-fit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = mpirun(2, "fit", &[("DDP_DIR", dir.to_str().unwrap())]);
    assert!(run.ok, "mpirun failed:\n{}", run.out);
    assert_eq!(values(&run.out, "identical_to_rank0"), ["true", "true"], "{}", run.out);
    let diff: f64 = values(&run.out, "max_rel_diff_vs_one_process")[0].parse().unwrap();
    assert!(diff <= REL_TOL, "{}", run.out);
    assert_eq!(values(&run.out, "history_matches"), ["true"], "{}", run.out);
    assert_eq!(
        values(&run.out, "checkpoint_loads_in_one_process"),
        ["true"],
        "{}",
        run.out
    );
    // Only rank 0 printed progress and wrote the best-model checkpoint.
    assert!(dir.join("best-rank0.safetensors").exists(), "{}", run.out);
    assert!(!dir.join("best-rank1.safetensors").exists(), "{}", run.out);
    assert_eq!(
        run.out.matches("epoch 2/3").count(),
        1,
        "progress printed once:\n{}",
        run.out
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn three_ranks_match_one_rank_through_shared_memory() {
    // Every bucket (256 bytes) through the shared-memory windows.
    let run = mpirun(
        3,
        "equiv",
        &[("DDP_N", "50"), ("DDP_BATCH", "12"), ("DL_DIST_SHM_MIN_BYTES", "0")],
    );
    check_equivalent(&run, 3);
    assert_eq!(values(&run.out, "shared_memory"), ["true"; 3], "{}", run.out);
}

/// The two reduction paths of `MpiComm`: `MPI_Allreduce`, and the
/// shared-memory windows (on by default above 64 KiB on one machine).
const PATHS: [(&str, &str); 2] = [("DL_DIST_SHM", "0"), ("DL_DIST_SHM_MIN_BYTES", "0")];

#[test]
fn reductions_are_exact_on_both_paths_for_any_length() {
    for np in [2, 3] {
        for path in PATHS {
            let run = mpirun(np, "reduce", &[path]);
            assert!(run.ok, "np={np} {path:?}:\n{}", run.out);
            let shm = path.0 == "DL_DIST_SHM_MIN_BYTES";
            assert_eq!(
                values(&run.out, "shared_memory"),
                vec![shm.to_string(); np],
                "{}",
                run.out
            );
            assert_eq!(values(&run.out, "reduce_ok"), vec!["true"; np], "{}", run.out);
        }
    }
}

#[test]
fn a_killed_rank_ends_the_job_with_an_error_naming_it_within_60_s() {
    for path in PATHS {
        let run = mpirun(2, "kill", &[path]);
        assert!(!run.ok, "the job succeeded ({path:?}):\n{}", run.out);
        assert!(run.secs < 60.0, "took {:.1} s ({path:?}):\n{}", run.secs, run.out);
        // mpirun names the rank that died.
        assert!(run.out.contains("rank 1"), "{path:?}: {}", run.out);
    }
}

#[test]
fn a_hung_rank_trips_the_watchdog_of_the_others() {
    for path in PATHS {
        let run = mpirun(2, "hang", &[("DL_DIST_TIMEOUT_S", "3"), path]);
        assert!(!run.ok, "the job succeeded ({path:?}):\n{}", run.out);
        assert!(run.secs < 60.0, "took {:.1} s ({path:?}):\n{}", run.secs, run.out);
        assert!(
            run.out
                .contains("dl-dist: rank 0: all_reduce did not complete within 3 s"),
            "{path:?}: {}",
            run.out
        );
        assert_ne!(run.code, Some(0));
    }
}

#[test]
fn a_rank_whose_model_differs_is_reported_on_every_rank() {
    let run = mpirun(2, "mismatch", &[]);
    assert!(run.ok, "{}", run.out);
    assert_eq!(values(&run.out, "mismatch_reported").len(), 2, "{}", run.out);
    assert!(run.out.contains("ranks [1] differ from rank 0"), "{}", run.out);
}

// ---------------------------------------------------------------- ranks --

/// The code each rank runs (this is not a test of its own: without
/// `DL_DIST_CHILD` it returns at once; the tests above start it under
/// `mpirun`).
#[test]
fn mpi_child_entry_point() {
    let Ok(scenario) = std::env::var("DL_DIST_CHILD") else {
        return;
    };
    let comm = MpiComm::new().expect("MPI starts under mpirun");
    match scenario.as_str() {
        "equiv" => equiv(comm),
        "fit" => fit(comm),
        "kill" => kill(comm),
        "hang" => hang(comm),
        "mismatch" => mismatch(comm),
        "reduce" => reduce(comm),
        other => panic!("unknown scenario {other}"),
    }
}

fn env_usize(key: &str) -> usize {
    std::env::var(key).unwrap().parse().unwrap()
}

/// `n` samples of 8 features, 3 classes, fixed seed.
fn data(n: usize, seed: u64) -> Arc<InMemoryDataset> {
    let mut rng = Rng::new(seed);
    let x: Vec<f32> = (0..n * 8).map(|_| rng.normal() as f32).collect();
    let y: Vec<usize> = (0..n).map(|i| (i * 7 + (x[i * 8] > 0.0) as usize) % 3).collect();
    Arc::new(InMemoryDataset::new(x, y, 8, 3).unwrap())
}

fn params(m: &mut Net) -> Vec<f64> {
    let mut v = Vec::new();
    m.for_each_param(&mut |p| v.extend_from_slice(&p.value));
    v
}

fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let scale = x.abs().max(y.abs());
            if scale == 0.0 {
                0.0
            } else {
                (x - y).abs() / scale
            }
        })
        .fold(0.0, f64::max)
}

/// Whether this rank's `v` has the same bits as rank 0's.
fn identical_to_rank0(comm: &MpiComm, v: &[f64]) -> bool {
    let mut r0 = v.to_vec();
    comm.broadcast(&mut r0, 0).unwrap();
    r0.iter().zip(v).all(|(a, b)| a.to_bits() == b.to_bits())
}

/// The global order of the ranks' run as a sampler for one process.
struct Global(DistributedSampler);
impl Sampler for Global {
    fn indices(&self, len: usize, epoch: u64) -> Vec<usize> {
        self.0.global_order(len, epoch)
    }
    fn num_samples(&self, len: usize) -> usize {
        self.0.num_samples(len) * self.0.world_size()
    }
}

/// `steps` Adam steps of a PyTorch-style loop over `loader`.
fn train(model: &mut Net, loader: &mut DataLoader<InMemoryDataset>, steps: usize, mut sync: impl FnMut(&mut Net)) {
    let mut opt = Adam::<Cpu, f64>::new(0.01);
    let mut done = 0;
    while done < steps {
        for (x, y) in loader.epoch::<S1<8>, Cpu, f64>(&Cpu).unwrap() {
            let (logits, mut cache) = model.forward_train(&x);
            let (_loss, d) = cross_entropy(&logits, &y).unwrap();
            model.zero_grad();
            model.backward_params(&mut cache, &d);
            sync(model);
            opt.step(model);
            done += 1;
            if done == steps {
                break;
            }
        }
    }
}

fn equiv(comm: MpiComm) {
    let (n, global_batch) = (env_usize("DDP_N"), env_usize("DDP_BATCH"));
    let (rank, world) = (comm.rank(), comm.world_size());
    let ds = data(n, 11);
    // Different initialisations on purpose: the broadcast makes them rank 0's.
    let mut model = Net::init(&Cpu, 1 + rank as u64);
    // 256-byte buckets: the 195 parameters travel in 7 reductions.
    let mut ddp = DataParallel::new(comm).with_bucket_bytes(256).unwrap();
    ddp.broadcast_parameters(&mut model).unwrap();
    let sampler = ddp.sampler(Some(5));
    let mut loader = DataLoader::new(ds.clone(), global_batch / world)
        .unwrap()
        .sampler(Arc::new(sampler));
    let mut steps = 0;
    train(&mut model, &mut loader, 50, |m| {
        ddp.sync_gradients(m).unwrap();
        steps += 1;
    });
    let p = params(&mut model);
    let same = identical_to_rank0(ddp.comm(), &p);
    println!(
        "rank={rank} steps={steps} identical_to_rank0={same} buckets={} shared_memory={}",
        ddp.stats().buckets,
        ddp.comm().uses_shared_memory()
    );
    if rank == 0 {
        let mut one = Net::init(&Cpu, 1);
        let mut loader = DataLoader::new(ds, global_batch)
            .unwrap()
            .sampler(Arc::new(Global(sampler)));
        train(&mut one, &mut loader, 50, |_| {});
        println!("max_rel_diff_vs_one_process={:e}", max_rel_diff(&p, &params(&mut one)));
    }
}

fn fit(comm: MpiComm) {
    let dir = std::path::PathBuf::from(std::env::var("DDP_DIR").unwrap());
    let rank = comm.rank();
    let (train_ds, val_ds) = (data(64, 3), data(31, 4));
    // A checkpoint written by one process starts the distributed run.
    if rank == 0 {
        dl::nn::checkpoint::save(&Net::init(&Cpu, 1), dir.join("init.safetensors")).unwrap();
    }
    comm.barrier().unwrap();
    let mut model = Net::init(&Cpu, 99);
    dl::nn::checkpoint::load(&mut model, dir.join("init.safetensors"), true).unwrap();
    let mut ddp = DataParallel::new(comm);
    let best = dir.join(format!("best-rank{rank}.safetensors"));
    let config = |checkpoint| {
        FitConfig::new(Adam::<Cpu, f64>::new(0.01), CrossEntropy::new())
            .epochs(3)
            .shuffle_seed(9)
            .validation(&val_ds)
            .progress(dl::nn::train::Progress::Lines)
            .callback(checkpoint)
    };
    let ckpt = ModelCheckpoint::new(Monitor::ValLoss)
        .on_improve(|_, m: &Net| dl::nn::checkpoint::save(m, &best).map_err(|e| e.to_string()));
    let history = model
        .fit(&train_ds, config(ckpt).batch_size(8).distributed(&mut ddp))
        .unwrap();
    let p = params(&mut model);
    println!("rank={rank} identical_to_rank0={}", identical_to_rank0(ddp.comm(), &p));
    if rank == 0 {
        dl::nn::checkpoint::save(&model, dir.join("final.safetensors")).unwrap();
        let mut one = Net::init(&Cpu, 1);
        let ckpt = ModelCheckpoint::new(Monitor::ValLoss);
        let h1 = one.fit(&train_ds, config(ckpt).batch_size(16).quiet(true)).unwrap();
        println!("max_rel_diff_vs_one_process={:e}", max_rel_diff(&p, &params(&mut one)));
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12);
        let same = history.epochs.len() == h1.epochs.len()
            && history.epochs.iter().zip(&h1.epochs).all(|(a, b)| {
                a.samples == b.samples
                    && close(a.train_loss, b.train_loss)
                    && a.train_accuracy == b.train_accuracy
                    && close(a.val_loss.unwrap(), b.val_loss.unwrap())
                    && a.val_accuracy == b.val_accuracy
            });
        println!("history_matches={same}");
        let mut loaded = Net::init(&Cpu, 7);
        dl::nn::checkpoint::load(&mut loaded, dir.join("final.safetensors"), true).unwrap();
        println!("checkpoint_loads_in_one_process={}", params(&mut loaded) == p);
    }
}

fn kill(comm: MpiComm) {
    let rank = comm.rank();
    let mut model = Net::init(&Cpu, 1);
    let mut ddp = DataParallel::new(comm);
    ddp.broadcast_parameters(&mut model).unwrap();
    for step in 0.. {
        if rank == 1 && step == 5 {
            // Die as a crashed or OOM-killed process does.
            let _ = Command::new("kill")
                .args(["-9", &std::process::id().to_string()])
                .status();
            std::thread::sleep(Duration::from_secs(60));
        }
        ddp.sync_gradients(&mut model).unwrap();
    }
}

fn hang(comm: MpiComm) {
    let rank = comm.rank();
    let mut model = Net::init(&Cpu, 1);
    let mut ddp = DataParallel::new(comm);
    ddp.broadcast_parameters(&mut model).unwrap();
    if rank == 1 {
        // Alive but never joins the reduction (a deadlock, a stuck file system).
        std::thread::sleep(Duration::from_secs(60));
    }
    ddp.sync_gradients(&mut model).unwrap();
}

fn mismatch(comm: MpiComm) {
    let rank = comm.rank();
    let mut ddp = DataParallel::new(comm);
    let err = if rank == 0 {
        ddp.broadcast_parameters(&mut Net::init(&Cpu, 1))
    } else {
        ddp.broadcast_parameters(&mut Linear::<8, 3, Cpu, f64>::init(&Cpu, 1))
    };
    match err {
        Err(e) => println!("rank={rank} mismatch_reported=true {e}"),
        Ok(()) => println!("rank={rank} no error"),
    }
}

/// Rank `rank`'s values for a reduction of `n` elements: random, with
/// `exact` ones small multiples of 1/4 (every summation order gives the
/// same result).
fn rank_values(rank: usize, n: usize, exact: bool) -> Vec<f64> {
    let mut rng = Rng::new(1000 + 31 * rank as u64 + n as u64);
    (0..n)
        .map(|_| {
            let v = rng.normal();
            if exact {
                (v * 64.0).round() / 4.0
            } else {
                v
            }
        })
        .collect()
}

/// Sums and means of `f32` and `f64` buffers of lengths around the
/// shared-memory chunking (fewer elements than ranks, not a multiple of
/// the rank count, the window growing, then reused): exact on values
/// every order sums exactly, and through shared memory bit-identical to
/// the sum in rank order (what the path promises) on random values.
fn reduce(comm: MpiComm) {
    let (rank, world) = (comm.rank(), comm.world_size());
    let shm = comm.uses_shared_memory();
    let mut ok = true;
    // 1.1 M elements: more than one window's 4 MiB, reduced in pieces.
    for n in [1, 2, 7, 1000, 16_385, 100_003, 300_001, 1_100_000, 20_000] {
        for exact in [true, false] {
            // In rank order, as the shared-memory path sums.
            let all: Vec<Vec<f64>> = (0..world).map(|r| rank_values(r, n, exact)).collect();
            let sum64: Vec<f64> = (0..n)
                .map(|i| all.iter().skip(1).fold(all[0][i], |a, v| a + v[i]))
                .collect();
            let sum32: Vec<f32> = (0..n)
                .map(|i| all.iter().skip(1).fold(all[0][i] as f32, |a, v| a + v[i] as f32))
                .collect();
            let check = |got: &[f64], want: &[f64], what: &str| {
                let same = if exact || shm {
                    got.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits())
                } else {
                    max_rel_diff(got, want) <= 1e-5
                };
                let across = identical_to_rank0(&comm, got);
                if !(same && across) {
                    println!("rank={rank} n={n} exact={exact} {what}: same={same} identical_to_rank0={across}");
                }
                same && across
            };
            let mut v = all[rank].clone();
            comm.all_reduce_sum(&mut v).unwrap();
            ok &= check(&v, &sum64, "f64 sum");
            let mut v = all[rank].clone();
            comm.all_reduce_mean(&mut v).unwrap();
            let mean64: Vec<f64> = sum64.iter().map(|s| s / world as f64).collect();
            ok &= check(&v, &mean64, "f64 mean");
            // The staged form (DataParallel's): fill in place, drain pieces.
            let (mut got, mut scratch, mut covered) = (vec![f64::NAN; n], Vec::new(), 0);
            comm.all_reduce_mean_staged(n, &mut scratch, &mut |stage| match stage {
                Staged::Fill(dst) => dst.copy_from_slice(&all[rank]),
                Staged::Drain(off, part) => {
                    got[off..off + part.len()].copy_from_slice(part);
                    covered += part.len();
                }
            })
            .unwrap();
            ok &= covered == n && check(&got, &mean64, "f64 staged mean");
            let mut v: Vec<f32> = all[rank].iter().map(|&x| x as f32).collect();
            comm.all_reduce_sum(&mut v).unwrap();
            let wide = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
            ok &= check(&wide(&v), &wide(&sum32), "f32 sum");
            let mut v: Vec<f32> = all[rank].iter().map(|&x| x as f32).collect();
            comm.all_reduce_mean(&mut v).unwrap();
            let mean32: Vec<f32> = sum32.iter().map(|s| s / world as f32).collect();
            ok &= check(&wide(&v), &wide(&mean32), "f32 mean");
        }
    }
    println!("rank={rank} shared_memory={shm} reduce_ok={ok}");
}
