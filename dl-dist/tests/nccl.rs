//! NCCL (feature `nccl`): on a machine with a GPU and `libnccl.so`, a
//! 1-rank NCCL communicator (NCCL refuses two ranks on one GPU) must reduce
//! to the identity, on the host and on the device, and training through it
//! on the GPU must reach the parameters of the same training on the CPU
//! through the MPI-path code (`f64`, relative difference ≤ 1e-9). Without a
//! GPU or NCCL the test prints `skipped: ...` and why.
//!
//! Run as `cargo test -p dl-dist --features nccl --test nccl` (MPI starts as
//! a singleton; no `mpirun` needed for one rank).

use dl_core::{Cpu, Cuda, Rng, Storage, Tensor, S1};
use dl_dist::{nccl_present, Communicator, DataParallel, MpiComm, NcclComm, SingleProcess};
use dl_nn::layers::Linear;
use dl_nn::optim::{Adam, Optimizer};
use dl_nn::{Layer, Module};

fn params<B: dl_core::Backend>(m: &mut Linear<6, 3, B, f64>) -> Vec<f64> {
    let mut v = Vec::new();
    m.for_each_param(&mut |p| v.extend(p.dev.to_vec(&p.value)));
    v
}

/// 30 Adam steps of a linear least-squares fit, gradients through `ddp`.
fn train<B: dl_core::Backend, C: Communicator>(dev: &B, ddp: &mut DataParallel<C>) -> Vec<f64>
where
    B::Buf<f64>: 'static,
{
    let mut m = Linear::<6, 3, B, f64>::init(dev, 3);
    ddp.broadcast_parameters(&mut m).unwrap();
    let mut rng = Rng::new(4);
    let xs: Vec<f64> = (0..8 * 6).map(|_| rng.normal()).collect();
    let x = Tensor::<S1<6>, B, f64>::from_vec(dev, 8, xs).unwrap();
    let mut out = Tensor::<S1<3>, B, f64>::empty(dev);
    let mut dx = Tensor::<S1<6>, B, f64>::empty(dev);
    let mut opt = Adam::<B, f64>::new(0.05);
    let mut ws = dl_core::GemmWorkspace::new();
    for _ in 0..30 {
        // Linear's cache is the GEMM's packing memory.
        m.forward_train_into(&x, &mut out, &mut ws);
        // d(0.5 * |out|^2)/d out = out: drives the outputs to zero.
        let dy = out.clone();
        m.zero_grad();
        m.backward_into(&x, &out, &mut ws, &dy, &mut dx);
        ddp.sync_gradients(&mut m).unwrap();
        opt.step(&mut m);
    }
    params(&mut m)
}

#[test]
fn one_rank_nccl_is_identity_and_trains_like_the_cpu_path() {
    if !Cuda::is_available() {
        println!("skipped: no CUDA driver or GPU on this machine (NCCL needs one GPU per rank)");
        return;
    }
    if !nccl_present() {
        println!("skipped: libnccl.so not found (cudarc loads `libnccl.so`; pip's nvidia-nccl-cu12 ships `libnccl.so.2`: link it as libnccl.so on LD_LIBRARY_PATH)");
        return;
    }
    let gpu = Cuda::new(0).expect("a usable GPU");
    let mpi = MpiComm::new().expect("MPI singleton");
    let nccl = NcclComm::new(mpi, &gpu).expect("NCCL on one rank");
    assert_eq!((nccl.rank(), nccl.world_size()), (0, 1));
    // Identity on the host ...
    let mut v = vec![1.5f32, -2.25, 3.0];
    nccl.all_reduce_sum(&mut v).unwrap();
    nccl.all_reduce_mean(&mut v).unwrap();
    assert_eq!(v, vec![1.5, -2.25, 3.0]);
    // ... and on the device.
    let mut buf = gpu.from_slice(&[0.5f64, 7.0]);
    let mut host = Vec::new();
    nccl.all_reduce_mean_on(&gpu, &mut buf, &mut host).unwrap();
    assert_eq!(gpu.to_vec(&buf), vec![0.5, 7.0]);
    // ... and in one NCCL group (as DataParallel queues the gradients).
    let mut other = gpu.from_slice(&[-1.0f64, 2.5, 4.0]);
    nccl.fused(|| {
        nccl.all_reduce_mean_on(&gpu, &mut buf, &mut host)?;
        nccl.all_reduce_sum_on(&gpu, &mut other, &mut host)
    })
    .unwrap();
    assert_eq!(
        (gpu.to_vec(&buf), gpu.to_vec(&other)),
        (vec![0.5, 7.0], vec![-1.0, 2.5, 4.0])
    );
    // Training through NCCL on the GPU = training on the CPU.
    let on_gpu = train(&gpu, &mut DataParallel::new(nccl));
    let on_cpu = train(&Cpu, &mut DataParallel::new(SingleProcess));
    for (a, b) in on_gpu.iter().zip(&on_cpu) {
        assert!((a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12), "{a} vs {b}");
    }
}
