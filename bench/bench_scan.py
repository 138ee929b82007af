#!/usr/bin/env python3
"""Scan family benchmark: cumsum (forward and backward), cumprod, cummax and logcumsumexp (forward),
baracuda (through ctypes) against PyTorch eager on the same data, side by side.

Run on the GPU machine:
    python3 bench/bench_scan.py --lib build/libbaracuda.so --out bench/results/scan.json [--quick]

Cases (shape, dim): 32768x4096 along dim -1 and dim 0, 8192x32768 along -1, 1x4096, 64x1024 and
1x(1<<24) along -1 (--quick: 64x1024, 1x4096, 256x4096 along -1 and 0, 1x(1<<20)); bf16 and f32.
Each op is timed with CUDA events on one stream (bench_elementwise.time_us: warm-ups, then the
median of repeats of back-to-back launches, per launch). Before timing, our outputs are poisoned
with NaN, computed once and checked: no NaN, relative L2 error against PyTorch in float64 under the
dtype's tolerance, and for cummax the indices equal PyTorch's (both take the last index on ties).
GB/s counts the bytes the op must move: the input read once and the outputs written once (cummax:
values and i64 indices; cumsum backward: dy read, dx written); % copy is that over the
device-to-device copy bandwidth measured in the same run. Writes the results JSON (format:
shared/design/performance.md; rows as in memory_bound.json) and prints a table.
"""
import argparse
import ctypes
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_elementwise import (TensorDesc, Lib, time_us, WARMUP, REPS, REPEATS, copy_bandwidth,  # noqa: E402
                               first_working, rel_l2_of as rel_l2, results_doc, write_results, attempt, exit_if_failed)

BRC_DTYPE = {"f32": 0, "bf16": 3, "i64": 10}
TORCH_DTYPE = {"f32": torch.float32, "bf16": torch.bfloat16}
TOLERANCE = {"f32": 1e-4, "bf16": 2e-2}  # long f32 sums grow ~sqrt(n) eps; bf16: the output's rounding
KIND = {"cumsum": 0, "cumprod": 1, "cummax": 2, "cummin": 3, "logcumsumexp": 4}
CASES = [((32768, 4096), -1), ((32768, 4096), 0), ((8192, 32768), -1), ((1, 4096), -1), ((64, 1024), -1),
         ((1, 1 << 24), -1)]
QUICK = [((64, 1024), -1), ((1, 4096), -1), ((256, 4096), -1), ((256, 4096), 0), ((1, 1 << 20), -1)]
DTYPES = ["bf16", "f32"]
OPS = ["cumsum", "cumprod", "cummax", "logcumsumexp"]


class ScanDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("x", TensorDesc), ("y", TensorDesc), ("dim", ctypes.c_int),
                ("reverse", ctypes.c_int), ("index", TensorDesc)]


class ScanBwdDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("x", TensorDesc), ("y", TensorDesc), ("index", TensorDesc),
                ("dy", TensorDesc), ("dx", TensorDesc), ("dim", ctypes.c_int), ("reverse", ctypes.c_int)]


# The C layouts on x86-64 / aarch64 Linux, as tests/host/test_scan_host.c checks them with sizeof
# and offsetof.
assert ctypes.sizeof(ScanDesc) == 424 and ScanDesc.dim.offset == 280 and ScanDesc.index.offset == 288
assert ctypes.sizeof(ScanBwdDesc) == 696 and ScanBwdDesc.dx.offset == 552 and ScanBwdDesc.dim.offset == 688

_vp, _i32, _pp, _sz = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t


class Baracuda(Lib):
    """The scan entry points."""

    SIGS = {
        "brc_scan_plan": (_i32, [_vp, ctypes.POINTER(ScanDesc), _vp, _pp]),
        "brc_scan_backward_plan": (_i32, [_vp, ctypes.POINTER(ScanBwdDesc), _vp, _pp]),
        "brc_scan_run": (_i32, [_vp, _vp, _vp, _vp, _vp, _sz, _vp]),
        "brc_scan_backward_run": (_i32, [_vp, _vp, _vp, _vp, _vp, _vp, _vp, _sz, _vp]),
        "brc_plan_workspace_size": (_sz, [_vp]),
    }

    @staticmethod
    def mat(dtype, rows, cols):
        d = TensorDesc()
        d.dtype, d.rank = BRC_DTYPE[dtype], 2
        d.shape[0], d.shape[1] = rows, cols
        d.strides[0], d.strides[1] = cols, 1
        return d


class Bench:
    def __init__(self, brc, ctx, copy_gbps):
        self.brc, self.ctx, self.copy_gbps = brc, ctx, copy_gbps
        self.stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        self.rows, self.failures = [], []

    def record(self, op, shape, dim, dtype, direction, nbytes, ours_fn, torch_cands, outs, refs, sku):
        for o in outs:
            if o.is_floating_point():
                o.fill_(float("nan"))
            else:
                o.fill_(-1)
        ours_fn()
        torch.cuda.synchronize()
        tag = f"{op} {dtype} {direction} {shape} dim {dim}"
        if torch.isnan(outs[0]).any().item():
            raise AssertionError(f"{tag}: NaN in our output (an element not written?)")
        err = rel_l2(outs[0], refs[0])
        # PyTorch's own error on the same data, for scale: ours must be under the dtype's
        # tolerance or at most twice PyTorch's (long f32 products drift in any tree).
        note, torch_fn = first_working(torch_cands, missing_ok=True)
        torch_err = None
        if torch_fn:
            t = torch_fn()
            t = t[0] if isinstance(t, (tuple, list)) else t
            torch_err = rel_l2(t, refs[0])
            del t
        if not (err < TOLERANCE[dtype] or (torch_err is not None and err <= 2 * torch_err)):
            raise AssertionError(f"{tag}: relative L2 error {err:.3e} (PyTorch's {torch_err})")
        if len(outs) > 1 and not torch.equal(outs[1], refs[1]):
            bad = (outs[1] != refs[1]).sum().item()
            raise AssertionError(f"{tag}: {bad} indices differ from PyTorch's")
        ours_us = time_us(ours_fn)
        torch_us = time_us(torch_fn) if torch_fn else None
        gbps = nbytes / (ours_us * 1e-6) / 1e9
        row = {"op": op, "shape": list(shape), "dim": dim, "dtype": dtype, "direction": direction,
               "ours_us": round(ours_us, 3), "torch_us": round(torch_us, 3) if torch_us else None,
               "gbps": round(gbps, 1), "pct_copy": round(100.0 * gbps / self.copy_gbps, 1),
               "ratio_vs_torch": round(torch_us / ours_us, 3) if torch_us else None,
               "rel_l2": float(f"{err:.3e}"),
               "torch_rel_l2": float(f"{torch_err:.3e}") if torch_err is not None else None, "sku": sku, "note": f"dim {dim}; torch: {note}"}
        self.rows.append(row)
        print(f"  {op:<12} {direction} {dtype:<5} {shape[0]:>6}x{shape[1]:<8} dim {dim:>2} ours {ours_us:9.1f} us  "
              f"torch {(torch_us or float('nan')):9.1f} us  {gbps:7.1f} GB/s  {row['pct_copy']:5.1f}%  "
              f"rel_l2 {err:.1e}  {sku}", file=sys.stderr, flush=True)

    def run_case(self, op, dtype, R, C, dim):
        lib, brc, st = self.brc.lib, self.brc, self.stream
        td = TORCH_DTYPE[dtype]
        es = torch.tensor([], dtype=td).element_size()
        g = torch.Generator(device="cuda").manual_seed(R * 131 + C + (dim & 7))
        L = C if dim in (-1, 1) else R
        if op == "cumprod":  # |log y| stays O(1) along the axis
            x = torch.exp(torch.randn(R, C, device="cuda", generator=g) * (0.5 / L ** 0.5)).to(td)
        elif op == "logcumsumexp":
            x = (torch.randn(R, C, device="cuda", generator=g) * 3).to(td)
        else:
            x = torch.randn(R, C, device="cuda", generator=g).to(td)
        N = R * C
        m, mi = brc.mat(dtype, R, C), brc.mat("i64", R, C)
        plans = []
        try:
            pf = brc.plan("brc_scan_plan", ScanDesc(KIND[op], m, m, dim, 0, mi), self.ctx)
            plans.append(pf)
            wsz = lib.brc_plan_workspace_size(pf)
            ws = torch.empty(max(wsz, 1), device="cuda", dtype=torch.uint8)
            y = torch.empty_like(x)
            xd = x.double()
            if op == "cummax":
                idx = torch.empty(R, C, device="cuda", dtype=torch.int64)
                ours = lambda: brc.check(lib.brc_scan_run(pf, x.data_ptr(), y.data_ptr(), idx.data_ptr(),
                                                          ws.data_ptr(), wsz, st), op)
                ref = torch.cummax(x, dim)  # exact: compare values and indices with PyTorch's own
                self.record(op, (R, C), dim, dtype, "fwd", N * es * 2 + N * 8, ours,
                            [(f"torch.cummax(x, {dim})", lambda: torch.cummax(x, dim))], [y, idx],
                            [ref.values, ref.indices], lib.brc_plan_sku(pf).decode())
                return
            tfn = {"cumsum": torch.cumsum, "cumprod": torch.cumprod, "logcumsumexp": torch.logcumsumexp}[op]
            ours = lambda: brc.check(lib.brc_scan_run(pf, x.data_ptr(), y.data_ptr(), None, ws.data_ptr(), wsz, st),
                                     op)
            self.record(op, (R, C), dim, dtype, "fwd", 2 * N * es, ours,
                        [(f"torch.{op}(x, {dim})", lambda: tfn(x, dim))], [y], [tfn(xd, dim)],
                        lib.brc_plan_sku(pf).decode())
            del xd
            if op != "cumsum":
                return
            # Backward of cumsum: dx = the reverse cumsum of dy (what autograd computes).
            dy = torch.randn(R, C, device="cuda", generator=g).to(td)
            pb = brc.plan("brc_scan_backward_plan", ScanBwdDesc(0, m, m, mi, m, m, dim, 0), self.ctx)
            plans.append(pb)
            wsb = lib.brc_plan_workspace_size(pb)
            wb = torch.empty(max(wsb, 1), device="cuda", dtype=torch.uint8)
            dx = torch.empty_like(x)
            ours_b = lambda: brc.check(lib.brc_scan_backward_run(pb, None, None, None, dy.data_ptr(), dx.data_ptr(),
                                                                 wb.data_ptr(), wsb, st), op)
            ref_b = dy.double().flip(dim).cumsum(dim).flip(dim)
            xr = x.detach().requires_grad_(True)
            yr = torch.cumsum(xr, dim)
            cands = [("autograd of torch.cumsum (x grad)", lambda: torch.autograd.grad(yr, xr, dy, retain_graph=True)),
                     (f"dy.flip({dim}).cumsum({dim}).flip({dim})", lambda: dy.flip(dim).cumsum(dim).flip(dim))]
            self.record(op, (R, C), dim, dtype, "bwd", 2 * N * es, ours_b, cands, [dx], [ref_b],
                        lib.brc_plan_sku(pb).decode())
        finally:
            torch.cuda.synchronize()
            for p in plans:
                lib.brc_plan_destroy(p)
            torch.cuda.empty_cache()


def print_table(doc):
    print(f"{doc['device']}  driver {doc['driver']}  commit {doc['commit']}  copy {doc['copy_gbps']:.1f} GB/s")
    head = (f"{'op':<12} {'dir':<4} {'dtype':<5} {'shape':>14} {'dim':>3} {'ours_us':>9} {'torch_us':>9} "
            f"{'GB/s':>7} {'% copy':>7} {'vs torch':>8}")
    print(head)
    print("-" * len(head))
    for r in doc["rows"]:
        shape = f"{r['shape'][0]}x{r['shape'][1]}"
        tu = f"{r['torch_us']:9.1f}" if r["torch_us"] else f"{'-':>9}"
        ratio = f"{r['ratio_vs_torch']:7.2f}x" if r["ratio_vs_torch"] else f"{'-':>8}"
        print(f"{r['op']:<12} {r['direction']:<4} {r['dtype']:<5} {shape:>14} {r['dim']:>3} {r['ours_us']:9.1f} {tu} "
              f"{r['gbps']:7.1f} {r['pct_copy']:6.1f}% {ratio}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", default=None, help="write the results JSON here")
    ap.add_argument("--quick", action="store_true", help="small shapes only")
    ap.add_argument("--device", type=int, default=0)
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--dtypes", default=",".join(DTYPES))
    args = ap.parse_args()
    torch.cuda.set_device(args.device)
    torch.empty(1, device="cuda")
    brc = Baracuda(args.lib)
    ctx = brc.context(args.device)
    print(f"baracuda {brc.lib.brc_version_string().decode()} on {brc.lib.brc_context_arch(ctx).decode()}, "
          f"torch {torch.__version__}", file=sys.stderr)
    copy_gbps = copy_bandwidth()
    print(f"copy bandwidth {copy_gbps:.1f} GB/s", file=sys.stderr)
    bench = Bench(brc, ctx, copy_gbps)
    # The document holds bench.rows itself: written after every case, so a run cut short keeps its rows.
    doc = results_doc(copy_gbps, bench.rows, (f"CUDA events around {REPS} launches after {WARMUP} warm-ups, median of {REPEATS} repeats, per "
                 "launch; gbps = bytes the op must move (input read once, outputs written once; cummax counts its "
                 "i64 indices) / ours_us; pct_copy = gbps / copy_gbps; ratio_vs_torch = torch_us / ours_us; each "
                 "row's note says the scanned dim and what PyTorch call was timed"))
    for op in args.ops.split(","):
        for dtype in args.dtypes.split(","):
            for (R, C), dim in (QUICK if args.quick else CASES):
                attempt(bench.failures, f"{op} {dtype} {R}x{C} dim {dim}", lambda: bench.run_case(op, dtype, R, C, dim))
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
