#!/usr/bin/env python3
"""Decode GEMV variants side by side: the kernel time (profiler, CUPTI stamps) of our GEMV under
the tuning overrides of docs/gemm.md (BARACUDA_GEMV_*), and of PyTorch's F.linear, on the same
rotating weights (beyond L2), in interleaved rounds; prints one line a case and writes JSON.

    python3 bench/sweep_gemv.py --lib build/libbaracuda.so --out sweep.json \
        --shapes 4x4096x4096,2x14336x4096 --dtypes bf16,f16 \
        --configs "default;U=3;KS=4;MMA_MIN_M=1" --rounds 3

A config is `;`-separated; within one, `,`-separated NAME=VALUE set BARACUDA_GEMV_NAME while the
plan is made (the knobs are read at plan time), `default` sets none. Shapes are M x N x K of
F.linear (x [M, K], W [N, K]).
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_elementwise import copy_bandwidth  # noqa: E402
from bench_gemm import Baracuda, Gemm, TORCH_DTYPE, rotating, kernel_us, check  # noqa: E402


def parse_config(text):
    env = {}
    for item in text.split(","):
        item = item.strip()
        if item and item != "default":
            name, value = item.split("=")
            env["BARACUDA_GEMV_" + name.strip()] = value.strip()
    return env


def make_plan(brc, ctx, x, wt, d, env):
    for k, v in env.items():
        os.environ[k] = v
    try:
        return Gemm(brc, ctx, x, wt, d)
    finally:
        for k in env:
            del os.environ[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--shapes", default="1x4096x4096,4x4096x4096,8x4096x4096")
    ap.add_argument("--dtypes", default="bf16")
    ap.add_argument("--configs", default="default")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--launches", type=int, default=40)
    args = ap.parse_args()
    torch.empty(1, device="cuda")
    brc = Baracuda(args.lib)
    ctx = brc.context(0)
    copy_gbps = copy_bandwidth()
    print(f"copy bandwidth {copy_gbps:.1f} GB/s", file=sys.stderr)
    configs = [c.strip() for c in args.configs.split(";") if c.strip()]
    rows = []
    for dtype in args.dtypes.split(","):
        td = TORCH_DTYPE[dtype]
        for shape in args.shapes.split(","):
            M, N, K = (int(v) for v in shape.split("x"))
            wbytes = N * K * 2
            copies = max(2, -(-3 * 50 * 2**20 // wbytes))
            ws = [torch.randn(N, K, device="cuda", dtype=td) / 32 for _ in range(copies)]
            xs = [torch.randn(M, K, device="cuda", dtype=td) for _ in range(copies)]
            d = torch.full((M, N), float("nan"), device="cuda", dtype=td)
            sets = [(xs[i], ws[i].t(), d) for i in range(copies)]
            launches = copies * max(1, -(-args.launches // copies))
            moved = wbytes + (M * K + M * N) * 2
            plans = []
            for c in configs:
                g = make_plan(brc, ctx, xs[0], ws[0].t(), d, parse_config(c))
                d.fill_(float("nan"))
                g.run(xs[0], ws[0].t(), d)
                check(f"{c} {shape}", d, xs[0].double() @ ws[0].double().t(), dtype)
                plans.append(g)
            times = {c: [] for c in configs}
            times["torch"] = []
            for r in range(args.rounds):
                order = list(zip(configs, plans))
                if r % 2:
                    order.reverse()
                times["torch"].append(kernel_us(rotating(lambda x, wt, _d: F.linear(x, wt.t()), sets), launches))
                for c, g in order:
                    times[c].append(kernel_us(rotating(g.run, sets), launches))
            med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
            for c, g in zip(configs, plans):
                row = {"shape": [M, N, K], "dtype": dtype, "config": c, "sku": g.sku, "kernel_us": med[c],
                       "all_us": times[c], "pct_copy": 100 * moved / med[c] / 1e3 / copy_gbps,
                       "torch_kernel_us": med["torch"], "ratio_vs_torch": med["torch"] / med[c]}
                rows.append(row)
                print(f"{dtype} {shape:<14} {c:<28} {med[c]:7.2f} us {row['pct_copy']:5.1f}% copy "
                      f"torch {med['torch']:7.2f} ({row['ratio_vs_torch']:.3f}x) "
                      f"[{' '.join(f'{t:.2f}' for t in times[c])}] {g.sku}", flush=True)
                g.destroy()
            del ws, xs, plans
            torch.cuda.empty_cache()
    brc.lib.brc_context_destroy(ctx)
    with open(args.out, "w") as f:
        json.dump({"copy_gbps": copy_gbps, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
