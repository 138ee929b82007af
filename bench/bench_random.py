#!/usr/bin/env python3
"""Random family benchmark: uniform, normal, bernoulli and dropout (forward and backward), baracuda
(through ctypes) against PyTorch eager on the same GPU, side by side.

Run on the GPU machine:
    python3 bench/bench_random.py --lib build/libbaracuda.so --out bench/results/random.json [--quick]

Sizes: 2^20, 2^24 and 2^28 elements (--quick: 2^20, 2^24); f32 and bf16. Ours and PyTorch's are timed
in 9 interleaved rounds of CUDA-event bursts (bench_elementwise.interleaved; the order reversed every
other round), the ratio the median of the per-round ratios. Before timing, our output is poisoned with NaN, computed once and
checked: no NaN; uniform in [lo, hi) with mean and variance within 6 standard errors of the exact
law of its dtype (uniform_law); normal mean and
variance likewise; bernoulli and dropout keep rates likewise; dropout's y equals x * mask / (1 - p)
exactly as PyTorch computes it; the backward equals dy * mask / (1 - p). GB/s counts the bytes the op
must move (outputs written; dropout: x read, y and the 1-byte mask written; backward: dy and mask
read, dx written); % copy is that over the device-to-device copy bandwidth measured in the same run.
PyTorch's calls: torch.rand / randn / bernoulli_ with out tensors where they exist, torch.native_dropout
(which also writes a bool mask) and torch.ops.aten.native_dropout_backward. Writes the results JSON
(format: shared/design/performance.md) and prints a table.
"""
import argparse
import ctypes
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_elementwise import (TensorDesc, Lib, WARMUP, REPS, copy_bandwidth,  # noqa: E402
                               first_working, results_doc, write_results, attempt, exit_if_failed, interleaved)

BRC_DTYPE = {"f32": 0, "bf16": 3, "u8": 7, "bool": 12}
TORCH_DTYPE = {"f32": torch.float32, "bf16": torch.bfloat16}
KIND = {"uniform": 0, "normal": 1, "bernoulli": 2, "dropout": 3, "dropout_backward": 4, "multinomial": 5}
SIZES = [1 << 20, 1 << 24, 1 << 28]
QUICK = [1 << 20, 1 << 24]
DTYPES = ["bf16", "f32"]
OPS = ["uniform", "normal", "bernoulli", "dropout", "dropout_backward", "multinomial"]
MULTINOMIAL = [(1024, 32000, 1), (1024, 32000, 64)]  # rows, categories, num_samples (with replacement)


class RandomDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("x", TensorDesc), ("y", TensorDesc), ("p", TensorDesc),
                ("mask", TensorDesc), ("use_p", ctypes.c_int), ("a", ctypes.c_double), ("b", ctypes.c_double),
                ("num_samples", ctypes.c_int64), ("replacement", ctypes.c_int)]


class Philox(ctypes.Structure):
    _fields_ = [("seed", ctypes.c_uint64), ("offset", ctypes.c_uint64), ("device", ctypes.c_void_p)]


# The C layouts, as tests/host/test_random_host.c checks them with sizeof and offsetof.
assert ctypes.sizeof(RandomDesc) == 592 and RandomDesc.y.offset == 144 and RandomDesc.use_p.offset == 552
assert RandomDesc.a.offset == 560 and RandomDesc.num_samples.offset == 576 and ctypes.sizeof(Philox) == 24

_vp, _i32, _pp = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)


class Baracuda(Lib):
    SIGS = {
        "brc_random_plan": (_i32, [_vp, ctypes.POINTER(RandomDesc), _vp, _pp]),
        "brc_random_run": (_i32, [_vp, _vp, _vp, _vp, _vp, ctypes.POINTER(Philox), _vp]),
        "brc_random_counters": (ctypes.c_uint64, [_vp]),
    }

    @staticmethod
    def vec(dtype, n):
        d = TensorDesc()
        d.dtype, d.rank = BRC_DTYPE[dtype], 1
        d.shape[0], d.strides[0] = n, 1
        return d


def within(value, want, stderr, what):
    if not abs(value - want) <= 6 * stderr:
        raise AssertionError(f"{what}: {value:.6g}, expected {want:.6g} +- {6 * stderr:.3g}")


def uniform_law(dtype, a, b):
    """Exact mean and variance of our uniform draws in dtype on [a, b): every 24-bit u = k 2^-24,
    y = a + (b - a) u in f32 (multiply, then add, each rounded), rounded to dtype, and a value that
    reaches b folded to a (the [a, b) rule, PyTorch's too). For 16-bit dtypes the fold moves the
    mean by about half a step near b (0.992 instead of 1 on [-1, 3) in bf16), which an ideal-uniform
    expectation would flag. Enumerated on the CPU (2^24 values)."""
    u = torch.arange(1 << 24, dtype=torch.float32) * 2.0 ** -24
    y = (torch.tensor(b - a, dtype=torch.float32) * u + torch.tensor(a, dtype=torch.float32)).to(dtype)
    y = torch.where(y.float() >= b, torch.tensor(a, dtype=dtype), y).double()
    return y.mean().item(), y.var(correction=0).item()


class Bench:
    def __init__(self, brc, ctx, copy_gbps):
        self.brc, self.ctx, self.copy_gbps = brc, ctx, copy_gbps
        self.stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        self.rows, self.failures = [], []
        self.offset = 0

    def record(self, op, n, dtype, direction, nbytes, ours_fn, torch_cands, sku):
        note, torch_fn = first_working(torch_cands)
        (ours_us, torch_us), (ratio,) = interleaved(ours_fn, torch_fn)
        gbps = nbytes / (ours_us * 1e-6) / 1e9
        row = {"op": op, "shape": [n], "dtype": dtype, "direction": direction, "ours_us": round(ours_us, 3),
               "torch_us": round(torch_us, 3), "gbps": round(gbps, 1),
               "pct_copy": round(100.0 * gbps / self.copy_gbps, 1), "ratio_vs_torch": round(ratio, 3),
               "sku": sku, "note": "torch: " + note}
        self.rows.append(row)
        print(f"  {op:<16} {direction} {dtype:<5} {n:>10} ours {ours_us:9.1f} us  torch {torch_us:9.1f} us  "
              f"{gbps:7.1f} GB/s  {row['pct_copy']:5.1f}%  {sku}", file=sys.stderr, flush=True)

    def multinomial(self, R, C, ns):
        """torch.multinomial(p, ns, replacement=True) on [R, C] f32 probabilities (one in eight zero).
        Checked: every draw in [0, C) with p > 0; the mean probability of the drawn categories matches
        torch's draws (both estimate sum p^2 / sum p) within 6 standard errors."""
        brc, lib, st = self.brc, self.brc.lib, self.stream
        g = torch.Generator(device="cuda").manual_seed(C + ns)
        p = torch.rand(R, C, device="cuda", generator=g)
        p[torch.rand(R, C, device="cuda", generator=g) < 0.125] = 0
        d = RandomDesc()
        d.kind, d.num_samples, d.replacement = KIND["multinomial"], ns, 1
        d.x.dtype, d.x.rank, d.x.shape[0], d.x.shape[1], d.x.strides[0], d.x.strides[1] = 0, 2, R, C, C, 1
        d.y.dtype, d.y.rank, d.y.shape[0], d.y.shape[1], d.y.strides[0], d.y.strides[1] = 10, 2, R, ns, ns, 1
        plan = brc.plan("brc_random_plan", d, self.ctx)
        try:
            y = torch.full((R, ns), -7, dtype=torch.int64, device="cuda")
            ph = Philox(99, self.offset, None)
            self.offset += lib.brc_random_counters(plan)
            run = lambda: brc.check(lib.brc_random_run(plan, p.data_ptr(), None, y.data_ptr(), None,
                                                       ctypes.byref(ph), st), "multinomial")
            run()
            torch.cuda.synchronize()
            tag = f"multinomial {R}x{C} ns {ns}"
            if not (y.min().item() >= 0 and y.max().item() < C):
                raise AssertionError(f"{tag}: draws outside [0, C)")
            picked = p.gather(1, y)
            if (picked == 0).any().item():
                raise AssertionError(f"{tag}: a zero-probability category was drawn")
            ref = torch.multinomial(p, ns, replacement=True, generator=g)
            theirs = p.gather(1, ref)
            m1, m2 = picked.double().mean().item(), theirs.double().mean().item()
            se = (picked.double().var().item() / picked.numel() + theirs.double().var().item() / theirs.numel()) ** 0.5
            within(m1, m2, se, tag + " mean p of the draws vs torch's")
            sku = lib.brc_plan_sku(plan).decode()
            self.record("multinomial", R * C, "f32", "fwd", R * C * 4 + R * ns * 8, run,
                        [("torch.multinomial(p, ns, replacement=True)",
                          lambda: torch.multinomial(p, ns, replacement=True))], sku)
            self.rows[-1]["shape"] = [R, C, ns]
        finally:
            torch.cuda.synchronize()
            lib.brc_plan_destroy(plan)

    def run_case(self, op, dtype, n):
        brc, lib, st = self.brc, self.brc.lib, self.stream
        td = TORCH_DTYPE[dtype]
        es = torch.tensor([], dtype=td).element_size()
        v = brc.vec(dtype, n)
        d = RandomDesc()
        d.kind, d.y, d.x, d.mask = KIND[op], v, v, brc.vec("bool", n)
        a, b = {"uniform": (-1.0, 3.0), "normal": (0.5, 2.0), "bernoulli": (0.3, 0.0)}.get(op, (0.1, 0.0))
        d.a, d.b = a, b
        plan = brc.plan("brc_random_plan", d, self.ctx)
        ph = Philox(1234, self.offset, None)
        self.offset += lib.brc_random_counters(plan)
        try:
            y = torch.empty(n, dtype=td, device="cuda")
            g = torch.Generator(device="cuda").manual_seed(n)
            x = torch.randn(n, device="cuda", generator=g).to(td)
            mask = torch.empty(n, dtype=torch.bool, device="cuda")
            sku = lib.brc_plan_sku(plan).decode()
            if op == "dropout_backward":
                mask.copy_(torch.rand(n, device="cuda", generator=g) >= a)
            run = lambda: brc.check(lib.brc_random_run(plan, x.data_ptr(), None, y.data_ptr(), mask.data_ptr(),
                                                       ctypes.byref(ph), st), op)
            y.fill_(float("nan"))
            run()
            torch.cuda.synchronize()
            if torch.isnan(y).any().item():
                raise AssertionError(f"{op} {dtype} {n}: NaN in our output")
            yd = y.double()
            tag = f"{op} {dtype} {n}"
            if op == "uniform":
                if not (yd.min().item() >= a and yd.max().item() < b):
                    raise AssertionError(f"{tag}: values outside [{a}, {b})")
                mu, var = uniform_law(td, a, b)
                within(yd.mean().item(), mu, (var / n) ** 0.5, tag + " mean")
                within(yd.var().item(), var, (b - a) ** 2 / (180 * n) ** 0.5 * 1.5, tag + " var")
                cands = [("y2.uniform_(-1, 3)", lambda: y2.uniform_(a, b))]
                nbytes = n * es
            elif op == "normal":
                within(yd.mean().item(), a, b / n ** 0.5, tag + " mean")
                within(yd.var().item(), b * b, b * b * (2.0 / n) ** 0.5 * 1.5, tag + " var")
                cands = [("y2.normal_(0.5, 2)", lambda: y2.normal_(a, b))]
                nbytes = n * es
            elif op == "bernoulli":
                within(yd.mean().item(), a, (a * (1 - a) / n) ** 0.5, tag + " rate")
                cands = [("y2.bernoulli_(0.3)", lambda: y2.bernoulli_(a))]
                nbytes = n * es
            elif op == "dropout":
                keep = mask.double().mean().item()
                within(keep, 1 - a, (a * (1 - a) / n) ** 0.5, tag + " keep rate")
                want = torch.where(mask, (x.float() * (1.0 / (1 - a))).to(td), torch.zeros((), dtype=td, device="cuda"))
                if not torch.equal(y, want):
                    raise AssertionError(f"{tag}: y != x * mask / (1 - p)")
                cands = [("torch.native_dropout(x, 0.1, True)", lambda: torch.native_dropout(x, a, True))]
                nbytes = n * (2 * es + 1)
            else:
                want = torch.where(mask, (x.float() * (1.0 / (1 - a))).to(td), torch.zeros((), dtype=td, device="cuda"))
                if not torch.equal(y, want):
                    raise AssertionError(f"{tag}: dx != dy * mask / (1 - p)")
                cands = [("torch.ops.aten.native_dropout_backward(dy, mask, 1 / 0.9)",
                          lambda: torch.ops.aten.native_dropout_backward(x, mask, 1.0 / (1 - a)))]
                nbytes = n * (2 * es + 1)
            y2 = torch.empty_like(y)
            del yd
            self.record(op, n, dtype, "bwd" if op == "dropout_backward" else "fwd", nbytes, run, cands, sku)
        finally:
            torch.cuda.synchronize()
            lib.brc_plan_destroy(plan)
            torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", type=int, default=0)
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--dtypes", default=",".join(DTYPES))
    args = ap.parse_args()
    torch.cuda.set_device(args.device)
    torch.empty(1, device="cuda")
    brc = Baracuda(args.lib)
    ctx = brc.context(args.device)
    copy_gbps = copy_bandwidth()
    print(f"copy bandwidth {copy_gbps:.1f} GB/s", file=sys.stderr)
    bench = Bench(brc, ctx, copy_gbps)
    for op in args.ops.split(","):
        if op == "multinomial":
            for R, C, ns in MULTINOMIAL:
                attempt(bench.failures, f"multinomial {R}x{C} ns {ns}", lambda: bench.multinomial(R, C, ns))
            continue
        for dtype in args.dtypes.split(","):
            for n in (QUICK if args.quick else SIZES):
                attempt(bench.failures, f"{op} {dtype} {n}", lambda: bench.run_case(op, dtype, n))
    brc.lib.brc_context_destroy(ctx)
    doc = results_doc(copy_gbps, bench.rows, (f"ours and PyTorch's in 9 interleaved rounds of {REPS} launches after "
                      f"{WARMUP} warm-ups (the order reversed every other round); ours_us / torch_us the medians per "
                      "launch; ratio_vs_torch the median of the per-round torch / ours; gbps = bytes the op must "
                      "move / ours_us; pct_copy = gbps / copy_gbps"))
    if args.out:
        write_results(args.out, doc)
    for r in doc["rows"]:
        print(f"{r['op']:<16} {r['direction']:<4} {r['dtype']:<5} {str(r['shape']):>18} {r['ours_us']:9.1f} "
              f"{r['torch_us']:9.1f} {r['gbps']:7.1f} {r['pct_copy']:6.1f}% {r['ratio_vs_torch']:6.2f}x")
    exit_if_failed(bench.failures)


if __name__ == "__main__":
    main()
