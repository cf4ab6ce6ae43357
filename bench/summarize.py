#!/usr/bin/env python3
"""Reads benchmark lines (BENCHMARKS.md format) and prints medians and ratios.

Ratio is dl / reference for throughputs (steps_per_s, best_gflops) and
dl / reference for latency (median_us: lower is better, so a ratio below 1
means dl is faster).
"""
import statistics
import sys
from collections import defaultdict

KEYS = ("steps_per_s", "median_us", "best_gflops")


def parse(path):
    vals = defaultdict(list)
    for line in open(path):
        parts = line.split()
        if len(parts) < 3:
            continue
        name, lib = parts[0], parts[1]
        kv = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
        if name == "GEMM":
            name = f"GEMM n={kv.get('n')}"
        for k in KEYS:
            if k in kv:
                vals[(name, lib, k)].append(float(kv[k]))
    return vals


def main():
    vals = parse(sys.argv[1])
    names = sorted({(n, k) for (n, _, k) in vals})
    print(f"{'benchmark':<14} {'metric':<12} {'dl':>10} {'reference':>12} {'ratio':>7}  rounds")
    for name, k in names:
        dl = vals.get((name, "dl", k))
        refs = [(lib, v) for (n, lib, kk), v in vals.items() if n == name and kk == k and lib != "dl"]
        dl_med = statistics.median(dl) if dl else None
        for lib, v in refs or [("-", None)]:
            ref_med = statistics.median(v) if v else None
            ratio = f"{dl_med / ref_med:.2f}" if dl_med and ref_med else "-"
            ref_s = f"{ref_med:.1f} ({lib})" if ref_med else "n/a"
            dl_s = f"{dl_med:.1f}" if dl_med else "n/a"
            print(f"{name:<14} {k:<12} {dl_s:>10} {ref_s:>12} {ratio:>7}  {len(dl or [])}")


if __name__ == "__main__":
    main()
