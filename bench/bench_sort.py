#!/usr/bin/env python3
"""Sort family benchmark: sort (values + indices), argsort and unique, baracuda (through ctypes)
against PyTorch eager (torch.sort / torch.argsort / torch.unique: CUB's radix sort, or PyTorch's
own bitonic / segmented sorts for short rows) on the same data, side by side.

Run on the GPU machine:
    python3 bench/bench_sort.py --lib build/libbaracuda.so --out bench/results/sort.json [--quick]

Cases: one row of 2^24 and 2^28 f32 keys (sort with values + indices, as torch.sort returns them;
argsort), segmented 16384 x 1024 and 64 x 2^20 f32 along the last dim, 2^24 bf16 and i32 keys,
unique (sorted, inverse, counts) of 2^24 i32 keys from 2^20 values. Keys are random (normal for
floats, uniform for integers). Each op is timed with CUDA events (warm-ups, then the median of
repeats of back-to-back launches, per launch; fewer launches for 2^28). Before timing our outputs
are poisoned and computed once; values must equal torch.sort's and indices
torch.sort(stable=True)'s exactly (unique: values, inverse and counts equal torch.unique's).
keys/s = keys / ours_us; ratio_vs_torch = torch_us / ours_us. gbps counts the bytes a sort must
at least move (keys read, values and i64 indices written) for scale. Writes the results JSON
(format: shared/design/performance.md) and prints a table.
"""
import argparse
import ctypes
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_elementwise import (TensorDesc, Lib, copy_bandwidth, results_doc, write_results, attempt,  # noqa: E402
                               exit_if_failed)

BRC_DTYPE = {"f32": 0, "bf16": 3, "i32": 9, "i64": 10}
TORCH_DTYPE = {"f32": torch.float32, "bf16": torch.bfloat16, "i32": torch.int32}
SORT, UNIQUE, RANDPERM = 0, 1, 3

# (op, dtype, rows, cols)
CASES = [("sort", "f32", 1, 1 << 24), ("argsort", "f32", 1, 1 << 24), ("sort", "f32", 1, 1 << 28),
         ("sort", "f32", 16384, 1024), ("sort", "f32", 64, 1 << 20), ("sort", "bf16", 1, 1 << 24),
         ("sort", "i32", 1, 1 << 24), ("sort", "f32", 1, 1 << 20), ("sort", "f32", 4096, 128),
         ("unique", "i32", 1, 1 << 24), ("randperm", "i64", 1, 1 << 24), ("randperm", "i32", 1, 1 << 24)]
QUICK = [("sort", "f32", 1, 1 << 20), ("sort", "f32", 1024, 1024), ("argsort", "f32", 64, 1 << 16),
         ("unique", "i32", 1, 1 << 20)]


class SortDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("x", TensorDesc), ("values", TensorDesc), ("indices", TensorDesc),
                ("want_values", ctypes.c_int), ("want_indices", ctypes.c_int), ("dim", ctypes.c_int),
                ("descending", ctypes.c_int)]


# The C layout, as tests/host/test_sort_host.c checks it with sizeof and offsetof.
assert ctypes.sizeof(SortDesc) == 432 and SortDesc.want_values.offset == 416 and SortDesc.descending.offset == 428

_vp, _i32, _pp, _sz = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t


class Philox(ctypes.Structure):
    _fields_ = [("seed", ctypes.c_uint64), ("offset", ctypes.c_uint64), ("device", ctypes.c_void_p)]


class Baracuda(Lib):
    SIGS = {
        "brc_sort_plan": (_i32, [_vp, ctypes.POINTER(SortDesc), _vp, _pp]),
        "brc_sort_run": (_i32, [_vp, _vp, _vp, _vp, _vp, _sz, _vp]),
        "brc_unique_run": (_i32, [_vp, _vp, _vp, _vp, _vp, _vp, _vp, _sz, _vp]),
        "brc_plan_workspace_size": (_sz, [_vp]),
        "brc_randperm_run": (_i32, [_vp, _vp, ctypes.POINTER(Philox), _vp, _sz, _vp]),
    }

    @staticmethod
    def mat(dtype, rows, cols):
        d = TensorDesc()
        d.dtype, d.rank = BRC_DTYPE[dtype], 2
        d.shape[0], d.shape[1] = rows, cols
        d.strides[0], d.strides[1] = cols, 1
        return d


def time_us(fn, reps, repeats=5, warmup=2):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    per = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(reps):
            fn()
        b.record()
        b.synchronize()
        per.append(a.elapsed_time(b) * 1e3 / reps)
    return statistics.median(per)


def run_case(brc, ctx, stream, op, dtype, R, C):
    lib = brc.lib
    n = R * C
    g = torch.Generator(device="cuda").manual_seed(n + R)
    if op == "randperm":
        return run_randperm(brc, ctx, stream, dtype, C)
    if dtype == "i32":
        hi = 1 << 20 if op == "unique" else 1 << 30
        x = torch.randint(-hi, hi, (R, C), device="cuda", dtype=torch.int32, generator=g)
    else:
        x = torch.randn(R, C, device="cuda", generator=g).to(TORCH_DTYPE[dtype])
    reps = 3 if n >= 1 << 27 else 20
    d = SortDesc()
    d.kind = UNIQUE if op == "unique" else SORT
    d.x = brc.mat(dtype, R, C)
    d.values = brc.mat(dtype, R, C)
    d.indices = brc.mat("i64", R, C)
    d.want_values = 0 if op == "argsort" else 1
    d.want_indices = 1
    d.dim = -1
    plan = brc.plan("brc_sort_plan", d, ctx)
    try:
        wsz = lib.brc_plan_workspace_size(plan)
        ws = torch.empty(max(wsz, 1), device="cuda", dtype=torch.uint8)
        sku = lib.brc_plan_sku(plan).decode()
        if op == "unique":
            vals = torch.empty(n, device="cuda", dtype=x.dtype)
            inv = torch.empty(n, device="cuda", dtype=torch.int64)
            cnt = torch.empty(n, device="cuda", dtype=torch.int64)
            num = torch.empty(1, device="cuda", dtype=torch.int64)
            for t in (vals, inv, cnt, num):
                t.fill_(-7)

            def ours():
                brc.check(lib.brc_unique_run(plan, x.data_ptr(), vals.data_ptr(), inv.data_ptr(), cnt.data_ptr(),
                                             num.data_ptr(), ws.data_ptr(), wsz, stream), "brc_unique_run")

            def theirs():
                return torch.unique(x, sorted=True, return_inverse=True, return_counts=True)
            ours()
            tv, ti, tc = theirs()
            u = int(num.item())
            ok = (u == tv.numel() and torch.equal(vals[:u], tv) and torch.equal(inv.view(R, C), ti)
                  and torch.equal(cnt[:u], tc))
            note = "torch.unique(x, sorted=True, return_inverse=True, return_counts=True)"
            nbytes = n * x.element_size() * 2 + n * 8 * 2
        else:
            vals = torch.empty_like(x)
            idx = torch.empty(R, C, device="cuda", dtype=torch.int64)
            vals.fill_(-7) if dtype == "i32" else vals.fill_(float("nan"))
            idx.fill_(-1)

            def ours():
                brc.check(lib.brc_sort_run(plan, x.data_ptr(), vals.data_ptr() if d.want_values else None,
                                           idx.data_ptr(), ws.data_ptr(), wsz, stream), "brc_sort_run")
            if op == "argsort":
                def theirs():
                    return torch.argsort(x, dim=-1)
                note = "torch.argsort(x, dim=-1)"
            else:
                def theirs():
                    return torch.sort(x, dim=-1)
                note = "torch.sort(x, dim=-1) (values, indices)"
            ours()
            ref = torch.sort(x, dim=-1, stable=True)
            ok = torch.equal(idx, ref.indices) and (op == "argsort" or torch.equal(vals, ref.values))
            del ref
            nbytes = n * x.element_size() * (1 if op == "argsort" else 2) + n * 8
        torch.cuda.synchronize()
        if not ok:
            raise AssertionError(f"{op} {dtype} {R}x{C}: our output differs from PyTorch's")
        ours_us = time_us(ours, reps)
        torch.cuda.empty_cache()
        torch_us = time_us(theirs, reps)
        row = {"op": op, "shape": [R, C], "dtype": dtype, "direction": "fwd", "ours_us": round(ours_us, 2),
               "torch_us": round(torch_us, 2), "keys_per_s": float(f"{n / (ours_us * 1e-6):.4g}"),
               "torch_keys_per_s": float(f"{n / (torch_us * 1e-6):.4g}"),
               "gbps": round(nbytes / (ours_us * 1e-6) / 1e9, 1), "ratio_vs_torch": round(torch_us / ours_us, 3),
               "sku": sku, "note": note}
        print(f"  {op:<8} {dtype:<5} {R:>6}x{C:<10} ours {ours_us:10.1f} us  torch {torch_us:10.1f} us  "
              f"{row['keys_per_s'] / 1e9:6.2f} Gkeys/s  x{row['ratio_vs_torch']:.2f}  {sku}", file=sys.stderr,
              flush=True)
        return row
    finally:
        torch.cuda.synchronize()
        lib.brc_plan_destroy(plan)
        torch.cuda.empty_cache()


def run_randperm(brc, ctx, stream, dtype, n):
    """randperm(n) into i64 / i32 against torch.randperm(n, dtype=...): ours must be a permutation."""
    lib = brc.lib
    d = SortDesc()
    d.kind = RANDPERM
    d.indices.dtype, d.indices.rank = BRC_DTYPE[dtype], 1
    d.indices.shape[0], d.indices.strides[0] = n, 1
    plan = brc.plan("brc_sort_plan", d, ctx)
    try:
        wsz = lib.brc_plan_workspace_size(plan)
        ws = torch.empty(max(wsz, 1), device="cuda", dtype=torch.uint8)
        sku = lib.brc_plan_sku(plan).decode()
        tdt = torch.int64 if dtype == "i64" else torch.int32
        out = torch.full((n,), -1, device="cuda", dtype=tdt)
        ph = Philox(1234, 0, None)

        def ours():
            ph.offset += (n + 3) // 4 + n
            brc.check(lib.brc_randperm_run(plan, out.data_ptr(), ctypes.byref(ph), ws.data_ptr(), wsz, stream),
                      "brc_randperm_run")

        def theirs():
            return torch.randperm(n, device="cuda", dtype=tdt)
        ours()
        torch.cuda.synchronize()
        ok = torch.equal(torch.sort(out).values, torch.arange(n, device="cuda", dtype=tdt))
        if not ok:
            raise AssertionError(f"randperm {dtype} {n}: not a permutation")
        ours_us = time_us(ours, 20)
        torch_us = time_us(theirs, 20)
        row = {"op": "randperm", "shape": [n], "dtype": dtype, "direction": "fwd", "ours_us": round(ours_us, 2),
               "torch_us": round(torch_us, 2), "keys_per_s": float(f"{n / (ours_us * 1e-6):.4g}"),
               "torch_keys_per_s": float(f"{n / (torch_us * 1e-6):.4g}"),
               "gbps": round(n * out.element_size() / (ours_us * 1e-6) / 1e9, 1),
               "ratio_vs_torch": round(torch_us / ours_us, 3), "sku": sku,
               "note": f"torch.randperm(n, dtype={tdt}); ours checked to be a permutation"}
        print(f"  randperm {dtype:<5} {n:>17}  ours {ours_us:10.1f} us  torch {torch_us:10.1f} us  "
              f"{row['keys_per_s'] / 1e9:6.2f} Gkeys/s  x{row['ratio_vs_torch']:.2f}  {sku}", file=sys.stderr,
              flush=True)
        return row
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
    ap.add_argument("--cases", default=None, help="comma-separated indices into the case list")
    args = ap.parse_args()
    torch.cuda.set_device(args.device)
    torch.empty(1, device="cuda")
    brc = Baracuda(args.lib)
    ctx = brc.context(args.device)
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
    print(f"baracuda {brc.lib.brc_version_string().decode()} on {brc.lib.brc_context_arch(ctx).decode()}, "
          f"torch {torch.__version__}", file=sys.stderr)
    copy_gbps = copy_bandwidth()
    rows, failures = [], []
    cases = QUICK if args.quick else CASES
    if args.cases:
        cases = [cases[int(i)] for i in args.cases.split(",")]
    for op, dtype, R, C in cases:
        attempt(failures, None, lambda: rows.append(run_case(brc, ctx, stream, op, dtype, R, C)))
    brc.lib.brc_context_destroy(ctx)
    doc = results_doc(copy_gbps, rows, "CUDA events around back-to-back launches (20; 3 for 2^28 keys) after 2 "
                      "warm-ups, median of 5 repeats, per launch; keys_per_s = keys / ours_us; ratio_vs_torch = "
                      "torch_us / ours_us; gbps = (keys read + values and i64 indices written) / ours_us")
    if args.out:
        write_results(args.out, doc)
    print(f"{doc['device']}  copy {copy_gbps:.0f} GB/s")
    for r in rows:
        shape = "x".join(str(v) for v in r["shape"])
        print(f"{r['op']:<8} {r['dtype']:<5} {shape:>17} {r['ours_us']:10.1f} "
              f"{r['torch_us']:10.1f} {r['keys_per_s'] / 1e9:6.2f} Gkeys/s  x{r['ratio_vs_torch']:.2f}")
    exit_if_failed(failures)


if __name__ == "__main__":
    main()
