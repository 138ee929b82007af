#!/usr/bin/env python3
"""Search and count family benchmark: searchsorted, bucketize, histc, bincount, baracuda (through
ctypes) against PyTorch eager on the same GPU, side by side.

Run on the GPU machine:
    python3 bench/bench_search.py --lib build/libbaracuda.so --out bench/results/search.json

Cases:
  searchsorted  2^24 f32 values (uniform) into 2^16 sorted f32 boundaries, i64 out (left)
  bucketize     the same values and boundaries, right = 1
  histc         2^26 f32 (normal) into 100 and into 4096 bins over [-3, 3]
  bincount      2^26 i32 in [0, 1000) into 1000 bins, without and with f32 weights
Each op is timed with CUDA events (bench_elementwise.time_us). Before timing our output is poisoned,
computed once and checked against PyTorch's (searchsorted, bucketize, histc and the counts: exactly;
weighted bincount: relative L2 error). GB/s counts the bytes the op must move (values read and
indices written; the counted input (and weights) read); % copy is that over the device-to-device copy
bandwidth measured in the same run. torch.bincount finds max(x) + 1 with a device-to-host copy on
every call (its output length is data-dependent); ours is given the length (minlength=1000 here), so
the comparison includes that synchronization, as a caller of torch.bincount pays it.
"""
import argparse
import ctypes
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_elementwise import (TensorDesc, Lib, time_us, WARMUP, REPS, REPEATS, copy_bandwidth,  # noqa: E402
                               rel_l2_of, results_doc, write_results, attempt, exit_if_failed)

BRC_DTYPE = {"f32": 0, "f64": 1, "i32": 9, "i64": 10}
KIND = {"searchsorted": 0, "bucketize": 1, "histc": 2, "histogram": 3, "bincount": 4}


class SearchDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("sorted", TensorDesc), ("x", TensorDesc), ("weight", TensorDesc),
                ("sorter", TensorDesc), ("y", TensorDesc), ("right", ctypes.c_int), ("use_weight", ctypes.c_int),
                ("use_sorter", ctypes.c_int), ("bins", ctypes.c_int64), ("min", ctypes.c_double),
                ("max", ctypes.c_double)]


# The C layout, as tests/host/test_search_host.c checks it with sizeof and offsetof.
assert ctypes.sizeof(SearchDesc) == 728 and SearchDesc.x.offset == 144 and SearchDesc.y.offset == 552
assert SearchDesc.right.offset == 688 and SearchDesc.bins.offset == 704 and SearchDesc.min.offset == 712

_vp, _i32, _pp = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)


class Baracuda(Lib):
    SIGS = {
        "brc_search_plan": (_i32, [_vp, ctypes.POINTER(SearchDesc), _vp, _pp]),
        "brc_search_run": (_i32, [_vp, _vp, _vp, _vp, _vp, _vp, _vp, ctypes.c_size_t, _vp, _vp]),
        "brc_plan_workspace_size": (ctypes.c_size_t, [_vp]),
    }

    @staticmethod
    def vec(dtype, n):
        d = TensorDesc()
        d.dtype, d.rank = BRC_DTYPE[dtype], 1
        d.shape[0], d.strides[0] = n, 1
        return d


class Bench:
    def __init__(self, brc, ctx, copy_gbps):
        self.brc, self.ctx, self.copy_gbps = brc, ctx, copy_gbps
        self.stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        self.rows, self.failures = [], []

    def case(self, op, shape, dtype, desc, nbytes, args, y, check, torch_fn, note):
        brc, lib = self.brc, self.brc.lib
        plan = brc.plan("brc_search_plan", desc, self.ctx)
        try:
            wsz = lib.brc_plan_workspace_size(plan)
            ws = torch.empty(max(wsz, 256), dtype=torch.uint8, device="cuda")
            err = torch.zeros(1, dtype=torch.int32, device="cuda")
            sorted_, x, w = args
            ptr = lambda t: t.data_ptr() if t is not None else None
            run = lambda: brc.check(lib.brc_search_run(plan, ptr(sorted_), ptr(x), ptr(w), None, y.data_ptr(),
                                                       ws.data_ptr(), wsz, err.data_ptr(), self.stream), op)
            if y.is_floating_point():
                y.fill_(float("nan"))
            else:
                y.fill_(-7)
            run()
            torch.cuda.synchronize()
            check(y)
            if err.item() != 0:
                raise AssertionError(f"{op}: the error flag is set")
            sku = lib.brc_plan_sku(plan).decode()
            ours_us, torch_us = time_us(run), time_us(torch_fn)
            gbps = nbytes / (ours_us * 1e-6) / 1e9
            row = {"op": op, "shape": shape, "dtype": dtype, "direction": "fwd", "ours_us": round(ours_us, 3),
                   "torch_us": round(torch_us, 3), "gbps": round(gbps, 1),
                   "pct_copy": round(100.0 * gbps / self.copy_gbps, 1),
                   "ratio_vs_torch": round(torch_us / ours_us, 3), "sku": sku, "note": "torch: " + note}
            self.rows.append(row)
            print(f"  {op:<13} {str(shape):<22} ours {ours_us:9.1f} us  torch {torch_us:9.1f} us  {gbps:7.1f} GB/s"
                  f"  {row['pct_copy']:5.1f}%  x{row['ratio_vs_torch']:.2f}  {sku}", file=sys.stderr, flush=True)
        finally:
            torch.cuda.synchronize()
            lib.brc_plan_destroy(plan)


def exact(want, what):
    def check(y):
        if not torch.equal(y, want):
            bad = (y != want).sum().item()
            raise AssertionError(f"{what}: {bad} elements differ from torch")
    return check


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", default=None)
    ap.add_argument("--device", type=int, default=0)
    args = ap.parse_args()
    torch.cuda.set_device(args.device)
    torch.empty(1, device="cuda")
    brc = Baracuda(args.lib)
    ctx = brc.context(args.device)
    copy_gbps = copy_bandwidth()
    print(f"copy bandwidth {copy_gbps:.1f} GB/s", file=sys.stderr)
    b = Bench(brc, ctx, copy_gbps)
    g = torch.Generator(device="cuda").manual_seed(5)

    # searchsorted / bucketize
    n, K = 1 << 24, 1 << 16
    bounds = torch.sort(torch.rand(K, device="cuda", generator=g) * 2 - 1).values
    vals = torch.rand(n, device="cuda", generator=g) * 2.2 - 1.1
    out = torch.empty(n, dtype=torch.int64, device="cuda")

    def ss(kind, right):
        d = SearchDesc()
        d.kind, d.sorted, d.x, d.y, d.right = KIND[kind], brc.vec("f32", K), brc.vec("f32", n), brc.vec("i64", n), right
        want = torch.searchsorted(bounds, vals, right=bool(right))
        if kind == "searchsorted":
            tf, note = (lambda: torch.searchsorted(bounds, vals, out=out)), "torch.searchsorted(b, v, out=out)"
        else:
            tf, note = (lambda: torch.bucketize(vals, bounds, right=True, out=out)), \
                "torch.bucketize(v, b, right=True, out=out)"
        b.case(kind, [n, K], "f32", d, n * (4 + 8), (bounds, vals, None), out, exact(want, kind), tf, note)

    attempt(b.failures, "searchsorted", lambda: ss("searchsorted", 0))
    attempt(b.failures, "bucketize", lambda: ss("bucketize", 1))
    del vals, out
    torch.cuda.empty_cache()

    # histc
    n = 1 << 26
    x = torch.randn(n, device="cuda", generator=g)
    for bins in (100, 4096):
        def hc(bins=bins):
            y = torch.empty(bins, device="cuda")
            d = SearchDesc()
            d.kind, d.x, d.y, d.bins, d.min, d.max = KIND["histc"], brc.vec("f32", n), brc.vec("f32", bins), bins, -3, 3
            want = torch.histc(x, bins=bins, min=-3, max=3)

            def check(yy):  # torch's bins are the same formula; a handful of edge roundings is tolerated
                diff = (yy.double() - want.double()).abs().sum().item()
                if diff > 16:
                    raise AssertionError(f"histc {bins}: counts differ from torch's by {diff}")
            b.case("histc", [n, bins], "f32", d, n * 4, (None, x, None), y, check,
                   lambda: torch.histc(x, bins=bins, min=-3, max=3), "torch.histc(x, bins, -3, 3)")
        attempt(b.failures, f"histc {bins}", hc)
    del x
    torch.cuda.empty_cache()

    # bincount
    L = 1000
    xi = torch.randint(0, L, (n,), device="cuda", dtype=torch.int32, generator=g)
    wt = torch.rand(n, device="cuda", generator=g)

    def bc(weighted):
        d = SearchDesc()
        d.kind, d.x = KIND["bincount"], brc.vec("i32", n)
        if weighted:
            d.use_weight, d.weight, d.y = 1, brc.vec("f32", n), brc.vec("f32", L)
            y = torch.empty(L, device="cuda")
            want = torch.bincount(xi, weights=wt, minlength=L)

            def check(yy):
                e = rel_l2_of(yy, want.double())
                if not e < 1e-6:
                    raise AssertionError(f"weighted bincount: relative L2 error {e:.3g}")
            b.case("bincount", [n, L], "i32+f32", d, n * 8, (None, xi, wt), y, check,
                   lambda: torch.bincount(xi, weights=wt, minlength=L), "torch.bincount(x, weights=w, minlength=1000)")
        else:
            d.y = brc.vec("i64", L)
            y = torch.empty(L, dtype=torch.int64, device="cuda")
            want = torch.bincount(xi, minlength=L)
            b.case("bincount", [n, L], "i32", d, n * 4, (None, xi, None), y, exact(want, "bincount"),
                   lambda: torch.bincount(xi, minlength=L), "torch.bincount(x, minlength=1000)")

    attempt(b.failures, "bincount", lambda: bc(False))
    attempt(b.failures, "bincount weighted", lambda: bc(True))

    brc.lib.brc_context_destroy(ctx)
    doc = results_doc(copy_gbps, b.rows, (f"CUDA events around {REPS} launches after {WARMUP} warm-ups, median of "
                      f"{REPEATS} repeats, per launch; gbps = bytes the op must move / ours_us; pct_copy = gbps / "
                      "copy_gbps; ratio_vs_torch = torch_us / ours_us"))
    if args.out:
        write_results(args.out, doc)
    for r in doc["rows"]:
        print(f"{r['op']:<13} {str(r['shape']):<22} {r['dtype']:<8} {r['ours_us']:9.1f} {r['torch_us']:9.1f} "
              f"{r['gbps']:7.1f} {r['pct_copy']:6.1f}% {r['ratio_vs_torch']:6.2f}x")
    exit_if_failed(b.failures)


if __name__ == "__main__":
    main()
