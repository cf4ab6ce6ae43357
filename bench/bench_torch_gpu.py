#!/usr/bin/env python3
"""PyTorch GPU baselines B1-gpu (MLP, batch 1024), B2-gpu (CNN, batch 256) and
B4-gpu (attention block, batch 32) in float32, and B2-gpu-bf16 / B4-gpu-bf16,
the same steps under torch.autocast(dtype=torch.bfloat16) (float32 weights
and SGD, as examples/bench_gpu.rs runs them in a bf16 autocast scope).

The networks, data sizes, optimizer (plain SGD lr 0.01) and warm-up/timed
step counts of BENCHMARKS.md; one parseable line per result, the keys of
examples/bench_gpu.rs with `torch` in place of `dl`:
  B1-gpu torch steps_per_s=123.4 samples_per_s=... ms_per_step=... final_loss=...
Usage: python3 bench_torch_gpu.py [--only B1,B2,B2-bf16,B4,B4-bf16]
Exits with status 3 (printing why) when torch has no CUDA device.
"""
import argparse
import contextlib
import sys
import time

import torch
import torch.nn as nn

from bench_torch import AttnBlock, make_mlp


def make_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),   # 26 -> 13
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),  # 11 -> 5
        nn.Flatten(),                                      # 64*5*5 = 1600
        nn.Linear(1600, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def sgd_step(model, x, y, dtype):
    """One training step of BENCHMARKS.md (cross-entropy, plain SGD lr 0.01),
    the forward pass and the loss under autocast when `dtype` is set."""
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()

    def step():
        opt.zero_grad()
        amp = torch.autocast("cuda", dtype=dtype) if dtype is not None else contextlib.nullcontext()
        with amp:
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def run(name, model, x, y, warmup, steps, dtype=None):
    dev = x.device
    step = sgd_step(model, x, y, dtype)
    for _ in range(warmup):
        step()
    torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    torch.cuda.synchronize(dev)
    dt = time.perf_counter() - t0
    sps = steps / dt
    print(f"{name} torch steps_per_s={sps:.2f} samples_per_s={sps * x.shape[0]:.1f} "
          f"ms_per_step={1000 * dt / steps:.3f} final_loss={float(loss):.4f} "
          f"precision={'bf16' if dtype else 'f32'} device={torch.cuda.get_device_name(dev).replace(' ', '_')}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="B1,B2,B2-bf16,B4,B4-bf16")
    only = ap.parse_args().only.split(",")
    if not torch.cuda.is_available():
        print("bench_torch_gpu: torch has no CUDA device; no GPU baselines", file=sys.stderr)
        sys.exit(3)
    dev = torch.device("cuda:0")
    torch.backends.cudnn.benchmark = True
    # (model, batch shape, seed, warm-up, steps) of BENCHMARKS.md.
    table = {
        "B1": (make_mlp, (1024, 784), 0, 20, 200),
        "B2": (make_cnn, (256, 1, 28, 28), 1, 5, 50),
        "B4": (AttnBlock, (32, 64, 128), 3, 5, 50),
    }
    for name in only:
        make, shape, seed, warmup, steps = table[name[:2]]
        dtype = torch.bfloat16 if name.endswith("-bf16") else None
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        x = torch.randn(*shape, generator=g).to(dev)
        y = torch.randint(0, 10, (shape[0],), generator=g).to(dev)
        label = f"{name[:2]}-gpu{name[2:]}"
        run(label, make().to(dev), x, y, warmup=warmup, steps=steps, dtype=dtype)


if __name__ == "__main__":
    main()
