#!/usr/bin/env python3
"""PyTorch GPU baselines B1-gpu (MLP, batch 1024) and B2-gpu (CNN, batch 256), float32.

The networks, data sizes, optimizer (plain SGD lr 0.01) and warm-up/timed
step counts of BENCHMARKS.md; one parseable line per result, the keys of
examples/bench_gpu.rs with `torch` in place of `dl`:
  B1-gpu torch steps_per_s=123.4 samples_per_s=... ms_per_step=... final_loss=...
Usage: python3 bench_torch_gpu.py [--only B1,B2]
Exits with status 3 (printing why) when torch has no CUDA device.
"""
import argparse
import sys
import time

import torch
import torch.nn as nn

from bench_torch import make_mlp, sgd_step


def make_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),   # 26 -> 13
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),  # 11 -> 5
        nn.Flatten(),                                      # 64*5*5 = 1600
        nn.Linear(1600, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def run(name, model, x, y, warmup, steps):
    dev = x.device
    step = sgd_step(model, x, y)
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
          f"device={torch.cuda.get_device_name(dev).replace(' ', '_')}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="B1,B2")
    only = set(ap.parse_args().only.split(","))
    if not torch.cuda.is_available():
        print("bench_torch_gpu: torch has no CUDA device; no GPU baselines", file=sys.stderr)
        sys.exit(3)
    dev = torch.device("cuda:0")
    torch.backends.cudnn.benchmark = True
    if "B1" in only:
        g = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        x = torch.randn(1024, 784, generator=g).to(dev)
        y = torch.randint(0, 10, (1024,), generator=g).to(dev)
        run("B1-gpu", make_mlp().to(dev), x, y, warmup=20, steps=200)
    if "B2" in only:
        g = torch.Generator().manual_seed(1)
        torch.manual_seed(1)
        x = torch.randn(256, 1, 28, 28, generator=g).to(dev)
        y = torch.randint(0, 10, (256,), generator=g).to(dev)
        run("B2-gpu", make_cnn().to(dev), x, y, warmup=5, steps=50)


if __name__ == "__main__":
    main()
