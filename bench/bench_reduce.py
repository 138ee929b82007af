#!/usr/bin/env python3
"""Reductions benchmark: sum over the last and the first dim, mean, amax, argmax, var and logsumexp,
baracuda (through ctypes) against PyTorch eager on the same data, side by side; and the backward of
sum, var and logsumexp at one big shape.

Run on the GPU machine:
    python3 bench/bench_reduce.py --lib build/libbaracuda.so --out bench/results/reduce.json

Shapes (rows x cols) 32768x4096, 8192x32768, 4096x131072, 1x4096, 64x1024, and a full reduce of 2^28
elements ("full"); bf16 and f32 (--quick: small shapes only). Each op is timed with CUDA events on one
stream (3 warm-ups, then 5 repeats of 20 launches; the median per-launch time is kept). Before timing,
our output is poisoned with NaN, computed once and checked against a float64 PyTorch reference
(relative L2 under the dtype's tolerance; argmax: equal to torch.argmax, which returns the first
index). GB/s counts the bytes the op must move (the input read once, the output written once); %
copy is that over the device-to-device copy bandwidth measured in the same run. Writes rows in the
format of bench/results/memory_bound.json (shared/design/performance.md) with --out, and prints a table.
"""
import argparse
import ctypes
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_elementwise import (TensorDesc, Lib, time_us, WARMUP, REPS, REPEATS,  # noqa: E402
                               copy_bandwidth, first_working, rel_l2_of as rel_l2, results_doc, write_results,
                               attempt, exit_if_failed)  # shared ctypes layouts, library wrapper and timing

BRC_DTYPE = {"f32": 0, "f64": 1, "f16": 2, "bf16": 3, "i64": 10}
TORCH_DTYPE = {"f32": torch.float32, "bf16": torch.bfloat16}
TOLERANCE = {"f32": 1e-5, "bf16": 1e-2}
SHAPES = ["32768x4096", "8192x32768", "4096x131072", "1x4096", "64x1024", "full"]
QUICK_SHAPES = ["1x4096", "64x1024", "256x4096"]
DTYPES = ["bf16", "f32"]
OPS = ["sum(-1)", "sum(0)", "mean", "amax", "argmax", "var", "logsumexp"]
BWD_OPS = ["sum", "var", "logsumexp"]
BWD_SHAPE = (32768, 4096)
FULL = 1 << 28

# brc_reduce_kind numbers (reduce.h, frozen).
K_SUM, K_MEAN, K_MAX, K_ARGMAX, K_VAR, K_LSE = 0, 1, 3, 5, 7, 10


class ReduceDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("x", TensorDesc), ("y", TensorDesc), ("axes", ctypes.c_uint32),
                ("correction", ctypes.c_double), ("p", ctypes.c_double), ("write_index", ctypes.c_int),
                ("index", TensorDesc)]


class ReduceBwdDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("x", TensorDesc), ("y", TensorDesc), ("dy", TensorDesc),
                ("dx", TensorDesc), ("axes", ctypes.c_uint32), ("correction", ctypes.c_double),
                ("p", ctypes.c_double), ("index", TensorDesc)]


# The C layouts on x86-64 / aarch64 Linux (sizeof / offsetof printed by a C program against reduce.h).
assert ctypes.sizeof(ReduceDesc) == 448 and ReduceDesc.axes.offset == 280 and ReduceDesc.correction.offset == 288
assert ReduceDesc.write_index.offset == 304 and ReduceDesc.index.offset == 312
assert ctypes.sizeof(ReduceBwdDesc) == 712 and ReduceBwdDesc.dx.offset == 416 and ReduceBwdDesc.axes.offset == 552
assert ReduceBwdDesc.correction.offset == 560 and ReduceBwdDesc.index.offset == 576

_vp, _i32, _pp, _sz = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t


class Baracuda(Lib):
    """The reduce entry points."""

    SIGS = {
        "brc_reduce_plan": (_i32, [_vp, ctypes.POINTER(ReduceDesc), _vp, _pp]),
        "brc_reduce_backward_plan": (_i32, [_vp, ctypes.POINTER(ReduceBwdDesc), _vp, _pp]),
        "brc_reduce_run": (_i32, [_vp, _vp, _vp, _vp, _vp, _sz, _vp]),
        "brc_reduce_backward_run": (_i32, [_vp, _vp, _vp, _vp, _vp, _vp, _vp, _sz, _vp]),
        "brc_plan_workspace_size": (_sz, [_vp]),
    }

    @staticmethod
    def desc(dtype, shape):
        """A contiguous descriptor of a torch-style shape (a tuple, () for a scalar)."""
        d = TensorDesc()
        d.dtype, d.rank = BRC_DTYPE[dtype], len(shape)
        st = 1
        for i in reversed(range(len(shape))):
            d.shape[i], d.strides[i] = shape[i], st
            st *= shape[i]
        return d


class Bench:
    def __init__(self, brc, ctx, copy_gbps):
        self.brc, self.ctx, self.copy_gbps = brc, ctx, copy_gbps
        self.stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        self.rows, self.failures = [], []
        self.plan_only = False

    def record(self, op, shape, dtype, direction, nbytes, ours_fn, torch_cands, out, check, sku):
        """check(out) -> (error, tolerance): run on our poisoned-then-computed output."""
        if out.is_floating_point():
            out.fill_(float("nan"))
        else:
            out.fill_(-1)
        ours_fn()
        torch.cuda.synchronize()
        err, tol = check(out)
        if not err <= tol:
            raise AssertionError(f"{op} {dtype} {direction} {shape}: error {err:.3e} > {tol:.0e}")
        note, torch_fn = first_working(torch_cands, missing_ok=True)
        ours_us = time_us(ours_fn)
        torch_us = time_us(torch_fn) if torch_fn else None
        gbps = nbytes / (ours_us * 1e-6) / 1e9
        row = {"op": op, "shape": list(shape), "dtype": dtype, "direction": direction,
               "ours_us": round(ours_us, 3), "torch_us": round(torch_us, 3) if torch_us else None,
               "gbps": round(gbps, 1), "pct_copy": round(100.0 * gbps / self.copy_gbps, 1),
               "ratio_vs_torch": round(torch_us / ours_us, 3) if torch_us else None,
               "rel_l2": float(f"{err:.3e}"), "sku": sku, "note": f"torch: {note}"}
        self.rows.append(row)
        print(f"  {op:<10} {direction} {dtype:<5} {'x'.join(map(str, shape)):>12} ours {ours_us:9.1f} us  torch "
              f"{(torch_us or float('nan')):9.1f} us  {gbps:7.1f} GB/s  {row['pct_copy']:5.1f}%  "
              f"x{row['ratio_vs_torch'] or float('nan'):.2f}  {sku}", file=sys.stderr, flush=True)

    def forward(self, op, dtype, shape_name):
        lib, brc, st = self.brc.lib, self.brc, self.stream
        td = TORCH_DTYPE[dtype]
        full = shape_name == "full"
        shape = (FULL,) if full else tuple(int(v) for v in shape_name.split("x"))
        dim = None if full else (0 if op == "sum(0)" else len(shape) - 1)
        axes = 1 if full else (1 << dim)
        yshape = () if full else tuple(s for i, s in enumerate(shape) if i != dim)
        kind = {"sum(-1)": K_SUM, "sum(0)": K_SUM, "mean": K_MEAN, "amax": K_MAX, "argmax": K_ARGMAX,
                "var": K_VAR, "logsumexp": K_LSE}[op]
        ydt = "i64" if op == "argmax" else dtype
        d = ReduceDesc(kind, brc.desc(dtype, shape), brc.desc(ydt, yshape), axes, 1.0, 0.0, 0, TensorDesc())
        plan = brc.plan("brc_reduce_plan", d, self.ctx)
        if self.plan_only:  # --prewarm: compile into the cache, nothing else
            lib.brc_plan_destroy(plan)
            return
        g = torch.Generator(device="cuda").manual_seed(sum(shape) * 7 + len(op))
        x = (torch.randn(*shape, device="cuda", generator=g) * 2 + 0.5).to(td)
        es = x.element_size()
        y = torch.empty(yshape, device="cuda", dtype=torch.int64 if op == "argmax" else td)
        try:
            wsz = lib.brc_plan_workspace_size(plan)
            ws = torch.empty(max(wsz, 1), device="cuda", dtype=torch.uint8)
            ours = lambda: brc.check(lib.brc_reduce_run(plan, x.data_ptr(), y.data_ptr(), None, ws.data_ptr(),
                                                        wsz, st), op)
            dims = {} if full else {"dim": dim}
            tfn = {"sum(-1)": torch.sum, "sum(0)": torch.sum, "mean": torch.mean, "amax": torch.amax,
                   "argmax": torch.argmax, "var": torch.var, "logsumexp": torch.logsumexp}[op]
            if full and op in ("amax", "logsumexp"):
                dims = {"dim": 0}  # over the one dim: the whole tensor
            tname = f"torch.{tfn.__name__}(x{', dim=' + str(dims['dim']) if dims else ''})"
            tcall = lambda: tfn(x, **dims)

            def check(out):
                if op == "argmax":
                    ref = torch.argmax(x, **dims)
                    return float((out != ref).sum().item()), 0.0
                if full or op == "sum(0)" or shape[0] <= 65:
                    xr = x.double()
                else:  # the first 64 rows and the last
                    idx = list(range(64)) + [shape[0] - 1]
                    xr, out = x[idx].double(), out[idx]
                r = {"sum(-1)": torch.sum, "sum(0)": torch.sum, "mean": torch.mean, "amax": torch.amax,
                     "var": torch.var, "logsumexp": torch.logsumexp}[op](xr, **dims)
                return rel_l2(out, r), TOLERANCE[dtype]

            nbytes = x.numel() * es + y.numel() * y.element_size()
            self.record(op, shape, dtype, "fwd", nbytes, ours, [(tname, tcall)], y, check,
                        lib.brc_plan_sku(plan).decode())
        finally:
            torch.cuda.synchronize()
            lib.brc_plan_destroy(plan)
            del x
            torch.cuda.empty_cache()

    def backward(self, op, dtype, R, C):
        lib, brc, st = self.brc.lib, self.brc, self.stream
        td = TORCH_DTYPE[dtype]
        if self.plan_only:
            xd, rd = brc.desc(dtype, (R, C)), brc.desc(dtype, (R,))
            kind = {"sum": K_SUM, "var": K_VAR, "logsumexp": K_LSE}[op]
            lib.brc_plan_destroy(brc.plan("brc_reduce_backward_plan",
                                          ReduceBwdDesc(kind, xd, rd, rd, xd, 2, 1.0, 0.0, TensorDesc()), self.ctx))
            return
        g = torch.Generator(device="cuda").manual_seed(R + C + len(op))
        x = (torch.randn(R, C, device="cuda", generator=g) * 2 + 0.5).to(td)
        dy = torch.randn(R, device="cuda", generator=g).to(td)
        kind = {"sum": K_SUM, "var": K_VAR, "logsumexp": K_LSE}[op]
        tfn = {"sum": torch.sum, "var": torch.var, "logsumexp": torch.logsumexp}[op]
        y = tfn(x, dim=-1)
        dx = torch.empty_like(x)
        xd, rd = brc.desc(dtype, (R, C)), brc.desc(dtype, (R,))
        d = ReduceBwdDesc(kind, xd, rd, rd, xd, 2, 1.0, 0.0, TensorDesc())
        plan = brc.plan("brc_reduce_backward_plan", d, self.ctx)
        try:
            wsz = lib.brc_plan_workspace_size(plan)
            ws = torch.empty(max(wsz, 1), device="cuda", dtype=torch.uint8)
            ours = lambda: brc.check(lib.brc_reduce_backward_run(plan, x.data_ptr(), y.data_ptr(), None,
                                                                 dy.data_ptr(), dx.data_ptr(), ws.data_ptr(), wsz,
                                                                 st), op)
            xr = x.detach().requires_grad_(True)
            yr = tfn(xr, dim=-1)
            if op == "sum":  # autograd returns a broadcast view: time the materialized gradient
                cands = [("dy[:, None].expand(R, C).contiguous()", lambda: dy[:, None].expand(R, C).contiguous())]
            else:
                cands = [(f"autograd of torch.{tfn.__name__}(x, -1)",
                          lambda: torch.autograd.grad(yr, xr, dy, retain_graph=True))]

            def check(out):
                idx = list(range(64)) + [R - 1]
                if op == "logsumexp":  # the gradient given the y the run reads (rounded to the dtype)
                    ref = dy[idx].double()[:, None] * (x[idx].double() - y[idx].double()[:, None]).exp()
                else:
                    xv = x[idx].double().requires_grad_(True)
                    ref = torch.autograd.grad(tfn(xv, dim=-1), xv, dy[idx].double())[0]
                return rel_l2(out[idx], ref), TOLERANCE[dtype]

            es = x.element_size()
            nbytes = 2 * R * C * es + R * es if op == "sum" else 2 * R * C * es + (2 if op == "logsumexp" else 1) * R * es
            self.record(op, (R, C), dtype, "bwd", nbytes, ours, cands, dx, check, lib.brc_plan_sku(plan).decode())
        finally:
            torch.cuda.synchronize()
            lib.brc_plan_destroy(plan)
            torch.cuda.empty_cache()


def print_table(doc):
    print(f"{doc['device']}  driver {doc['driver']}  commit {doc['commit']}  copy {doc['copy_gbps']:.1f} GB/s")
    head = (f"{'op':<10} {'dir':<4} {'dtype':<5} {'shape':>12} {'ours_us':>9} {'torch_us':>9} {'GB/s':>7} "
            f"{'% copy':>7} {'vs torch':>8}")
    print(head)
    print("-" * len(head))
    for r in doc["rows"]:
        shape = "x".join(map(str, r["shape"]))
        tu = f"{r['torch_us']:9.1f}" if r["torch_us"] else f"{'-':>9}"
        ratio = f"{r['ratio_vs_torch']:7.2f}x" if r["ratio_vs_torch"] else f"{'-':>8}"
        print(f"{r['op']:<10} {r['direction']:<4} {r['dtype']:<5} {shape:>12} {r['ours_us']:9.1f} {tu} "
              f"{r['gbps']:7.1f} {r['pct_copy']:6.1f}% {ratio}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", help="write the results JSON here")
    ap.add_argument("--device", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="small shapes only, no backward")
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--dtypes", default=",".join(DTYPES))
    ap.add_argument("--shapes", default=None, help="rowsxcols or full, comma-separated")
    ap.add_argument("--no-backward", action="store_true")
    ap.add_argument("--prewarm", help="K/N: only plan (compile into the cache) the K-th of N slices of the rows, then exit")
    args = ap.parse_args()
    torch.cuda.set_device(args.device)
    torch.empty(1, device="cuda")
    brc = Baracuda(args.lib)
    ctx = brc.context(args.device)
    if args.prewarm:  # parallel processes fill the cache before the timed run
        k, n = (int(v) for v in args.prewarm.split("/"))
        bench = Bench(brc, ctx, 0.0)
        bench.plan_only = True
        shapes = args.shapes.split(",") if args.shapes else SHAPES
        jobs = [(lambda o=o, t=t, s=s: bench.forward(o, t, s)) for o in args.ops.split(",")
                for t in args.dtypes.split(",") for s in shapes]
        jobs += [(lambda o=o, t=t: bench.backward(o, t, *BWD_SHAPE)) for o in BWD_OPS for t in args.dtypes.split(",")]
        for i, job in enumerate(jobs):
            if i % n == k:
                job()
        return
    print(f"baracuda {brc.lib.brc_version_string().decode()} on {brc.lib.brc_context_arch(ctx).decode()}, "
          f"torch {torch.__version__}", file=sys.stderr)
    copy_gbps = copy_bandwidth()
    print(f"copy bandwidth {copy_gbps:.1f} GB/s", file=sys.stderr)
    bench = Bench(brc, ctx, copy_gbps)
    # The document holds bench.rows itself: written after every case, so a run cut short keeps its rows.
    doc = results_doc(copy_gbps, bench.rows, (f"CUDA events around {REPS} launches after {WARMUP} warm-ups, median of {REPEATS} repeats, per "
                 "launch; gbps = bytes the op must move (input read once, output written once; backward: x or dy "
                 "and y read, dx written) / ours_us; pct_copy = gbps / copy_gbps; ratio_vs_torch = torch_us / "
                 "ours_us; each row's note says what PyTorch call was timed"))
    shapes = args.shapes.split(",") if args.shapes else (QUICK_SHAPES if args.quick else SHAPES)
    for op in args.ops.split(","):
        for dtype in args.dtypes.split(","):
            for sh in shapes:
                attempt(bench.failures, f"{op} {dtype} {sh}", lambda: bench.forward(op, dtype, sh))
                if args.out:
                    write_results(args.out, {**doc, "partial": True})
    if not (args.quick or args.no_backward):
        for op in BWD_OPS:
            for dtype in args.dtypes.split(","):
                attempt(bench.failures, f"{op} bwd {dtype}", lambda: bench.backward(op, dtype, *BWD_SHAPE))
                if args.out:
                    write_results(args.out, {**doc, "partial": True})
    brc.lib.brc_context_destroy(ctx)
    doc["partial"] = False
    if args.out:
        write_results(args.out, doc)
    print_table(doc)
    exit_if_failed(bench.failures)


if __name__ == "__main__":
    main()
