#!/usr/bin/env python3
"""Row-wise family benchmark: softmax, log_softmax, rms_norm and layer_norm, forward and backward,
baracuda (through ctypes) against PyTorch eager on the same data, side by side.

Run on the GPU machine:
    python3 bench/bench_rows.py --lib build/libbaracuda.so --out bench/results/memory_bound.json

Shapes (rows x cols) 32768x4096, 8192x32768, 4096x131072, 1x4096, 64x1024; bf16 and f32. Each op is
timed with CUDA events on one stream (3 warm-ups, then 5 repeats of 20 launches; the median per-launch
time is kept). Before timing, our output is poisoned with NaN, computed once and checked: no NaN
anywhere, and relative L2 error against a float64 PyTorch reference on the first 64 rows and the last
one under the dtype's tolerance. GB/s counts the bytes the op must move (each input read once, each
output written once, weight/bias/statistics included); % copy is that over the device-to-device copy
bandwidth measured in the same run. Small shapes fit in L2 for both libraries alike (no rotation).
Writes the results JSON (format: shared/design/performance.md) and prints a table.
"""
import argparse
import ctypes
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_elementwise import (TensorDesc, ContextOpts, Lib, time_us, WARMUP, REPS, REPEATS,  # noqa: E402
                               copy_bandwidth, first_working, rel_l2_of, results_doc, write_results, attempt, exit_if_failed)  # shared ctypes layouts, library wrapper and timing

BRC_DTYPE = {"f32": 0, "f64": 1, "f16": 2, "bf16": 3}
TORCH_DTYPE = {"f32": torch.float32, "bf16": torch.bfloat16}
TOLERANCE = {"f32": 1e-5, "bf16": 1e-2}
SHAPES = [(32768, 4096), (8192, 32768), (4096, 131072), (1, 4096), (64, 1024)]
DTYPES = ["bf16", "f32"]
OPS = ["softmax", "log_softmax", "rms_norm", "layer_norm"]
EPS = 1e-5


class SoftmaxDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("x", TensorDesc), ("y", TensorDesc)]


class SoftmaxBwdDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("y", TensorDesc), ("dy", TensorDesc), ("dx", TensorDesc)]


class NormDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("x", TensorDesc), ("y", TensorDesc), ("has_weight", ctypes.c_int),
                ("has_bias", ctypes.c_int), ("has_residual", ctypes.c_int), ("residual", TensorDesc),
                ("sum", TensorDesc), ("eps", ctypes.c_double)]


class NormBwdDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("x", TensorDesc), ("dy", TensorDesc), ("dx", TensorDesc),
                ("has_weight", ctypes.c_int), ("has_bias", ctypes.c_int)]


# The C layouts on x86-64 / aarch64 Linux (checked against sizeof in C).
assert ctypes.sizeof(SoftmaxDesc) == 280 and ctypes.sizeof(SoftmaxBwdDesc) == 416
assert ctypes.sizeof(NormDesc) == 576 and NormDesc.has_weight.offset == 280 and NormDesc.eps.offset == 568
assert ctypes.sizeof(NormBwdDesc) == 424


_vp, _i32, _pp, _sz = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t


class Baracuda(Lib):
    """The row-wise entry points."""

    SIGS = {
        "brc_softmax_plan": (_i32, [_vp, ctypes.POINTER(SoftmaxDesc), _vp, _pp]),
        "brc_softmax_backward_plan": (_i32, [_vp, ctypes.POINTER(SoftmaxBwdDesc), _vp, _pp]),
        "brc_norm_plan": (_i32, [_vp, ctypes.POINTER(NormDesc), _vp, _pp]),
        "brc_norm_backward_plan": (_i32, [_vp, ctypes.POINTER(NormBwdDesc), _vp, _pp]),
        "brc_softmax_run": (_i32, [_vp, _vp, _vp, _vp, _sz, _vp]),
        "brc_softmax_backward_run": (_i32, [_vp, _vp, _vp, _vp, _vp, _sz, _vp]),
        "brc_norm_run": (_i32, [_vp] + [_vp] * 8 + [_vp, _sz, _vp]),
        "brc_norm_backward_run": (_i32, [_vp] + [_vp] * 8 + [_vp, _sz, _vp]),
        "brc_plan_workspace_size": (_sz, [_vp]),
    }

    @staticmethod
    def mat(dtype, rows, cols):
        d = TensorDesc()
        d.dtype, d.rank = BRC_DTYPE[dtype], 2
        d.shape[0], d.shape[1] = rows, cols
        d.strides[0], d.strides[1] = cols, 1
        return d


def rel_l2(out, ref):
    """out, ref: [rows, cols]; compares the first 64 rows and the last (float64)."""
    idx = list(range(min(64, out.shape[0])))
    if out.shape[0] - 1 not in idx:
        idx.append(out.shape[0] - 1)
    return rel_l2_of(out[idx], ref(idx))


class Bench:
    def __init__(self, brc, ctx, copy_gbps):
        self.brc, self.ctx, self.copy_gbps = brc, ctx, copy_gbps
        self.stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        self.rows, self.failures = [], []

    def record(self, op, shape, dtype, direction, nbytes, ours_fn, torch_cands, out, ref, sku):
        out.fill_(float("nan"))
        ours_fn()
        torch.cuda.synchronize()
        if torch.isnan(out).any().item():
            raise AssertionError(f"{op} {dtype} {direction} {shape}: NaN in our output (an element not written?)")
        err = rel_l2(out, ref)
        if not err < TOLERANCE[dtype]:
            raise AssertionError(f"{op} {dtype} {direction} {shape}: relative L2 error {err:.3e}")
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
        print(f"  {op:<12} {direction} {dtype:<5} {shape[0]:>6}x{shape[1]:<7} ours {ours_us:9.1f} us  torch "
              f"{(torch_us or float('nan')):9.1f} us  {gbps:7.1f} GB/s  {row['pct_copy']:5.1f}%  rel_l2 {err:.1e}  "
              f"{sku}", file=sys.stderr, flush=True)

    def run_shape(self, op, dtype, R, C):
        lib, brc, st = self.brc.lib, self.brc, self.stream
        td = TORCH_DTYPE[dtype]
        es = torch.tensor([], dtype=td).element_size()
        g = torch.Generator(device="cuda").manual_seed(R * 131 + C)
        x = (torch.randn(R, C, device="cuda", generator=g) * 2 + 0.5).to(td)
        dy = torch.randn(R, C, device="cuda", generator=g).to(td)
        N = R * C
        m = brc.mat(dtype, R, C)
        plans = []
        try:
            if op in ("softmax", "log_softmax"):
                log = op == "log_softmax"
                kind = 1 if log else 0
                pf = brc.plan("brc_softmax_plan", SoftmaxDesc(kind, m, m), self.ctx)
                pb = brc.plan("brc_softmax_backward_plan", SoftmaxBwdDesc(kind, m, m, m), self.ctx)
                plans += [pf, pb]
                y, dx = torch.empty_like(x), torch.empty_like(x)
                ours_f = lambda: brc.check(lib.brc_softmax_run(pf, x.data_ptr(), y.data_ptr(), None, 0, st), op)
                tf = torch._log_softmax if log else torch._softmax
                ref_f = (lambda i: torch.log_softmax(x[i].double(), -1)) if log else \
                        (lambda i: torch.softmax(x[i].double(), -1))
                self.record(op, (R, C), dtype, "fwd", 2 * N * es, ours_f,
                            [(f"torch.{tf.__name__}(x, -1, False)", lambda: tf(x, -1, False))], y, ref_f,
                            lib.brc_plan_sku(pf).decode())
                yin = y.clone()  # the forward's output, as the backward's input
                ours_b = lambda: brc.check(lib.brc_softmax_backward_run(pb, yin.data_ptr(), dy.data_ptr(),
                                                                        dx.data_ptr(), None, 0, st), op)
                if log:
                    ref_b = lambda i: dy[i].double() - yin[i].double().exp() * dy[i].double().sum(-1, keepdim=True)
                    tb = [("torch._log_softmax_backward_data(dy, y, -1, dtype)",
                           lambda: torch._log_softmax_backward_data(dy, yin, -1, td))]
                else:
                    ref_b = lambda i: yin[i].double() * (dy[i].double() - (yin[i].double() * dy[i].double())
                                                         .sum(-1, keepdim=True))
                    tb = [("torch._softmax_backward_data(dy, y, -1, dtype)",
                           lambda: torch._softmax_backward_data(dy, yin, -1, td))]
                self.record(op, (R, C), dtype, "bwd", 3 * N * es, ours_b, tb, dx, ref_b,
                            lib.brc_plan_sku(pb).decode())
            else:
                layer = op == "layer_norm"
                kind = 1 if layer else 0
                w = (torch.rand(C, device="cuda", generator=g) + 0.5).to(td)
                b = (torch.rand(C, device="cuda", generator=g) - 0.5).to(td) if layer else None
                cdt = torch.float32
                mean = torch.empty(R, device="cuda", dtype=cdt)
                rstd = torch.empty(R, device="cuda", dtype=cdt)
                nd = NormDesc(kind, m, m, 1, 1 if layer else 0, 0, TensorDesc(), TensorDesc(), EPS)
                pf = brc.plan("brc_norm_plan", nd, self.ctx)
                pb = brc.plan("brc_norm_backward_plan", NormBwdDesc(kind, m, m, m, 1, 1 if layer else 0), self.ctx)
                plans += [pf, pb]
                y, dx = torch.empty_like(x), torch.empty_like(x)
                bp = b.data_ptr() if layer else None
                ours_f = lambda: brc.check(lib.brc_norm_run(pf, x.data_ptr(), None, w.data_ptr(), bp, y.data_ptr(),
                                                            None, mean.data_ptr(), rstd.data_ptr(), None, 0, st), op)
                if layer:
                    ref_f = lambda i: F.layer_norm(x[i].double(), (C,), w.double(), b.double(), EPS)
                    tf = [("torch.native_layer_norm(x, [C], w, b, eps)",
                           lambda: torch.native_layer_norm(x, [C], w, b, EPS))]
                else:
                    ref_f = lambda i: F.rms_norm(x[i].double(), (C,), w.double(), EPS)
                    tf = [("torch._fused_rms_norm(x, [C], w, eps)", lambda: torch._fused_rms_norm(x, [C], w, EPS)),
                          ("F.rms_norm(x, [C], w, eps)", lambda: F.rms_norm(x, [C], w, EPS))]
                stats = 2 * R * 4 if layer else R * 4
                self.record(op, (R, C), dtype, "fwd", 2 * N * es + (2 if layer else 1) * C * es + stats, ours_f,
                            tf, y, ref_f, lib.brc_plan_sku(pf).decode())
                wsz = lib.brc_plan_workspace_size(pb)
                ws = torch.empty(max(wsz, 1), device="cuda", dtype=torch.uint8)
                dw = torch.empty_like(w)
                db = torch.empty_like(w) if layer else None
                dbp = db.data_ptr() if layer else None
                ours_b = lambda: brc.check(lib.brc_norm_backward_run(
                    pb, x.data_ptr(), dy.data_ptr(), w.data_ptr(), mean.data_ptr(), rstd.data_ptr(), dx.data_ptr(),
                    dw.data_ptr(), dbp, ws.data_ptr(), wsz, st), op)

                def ref_b(i):
                    xd = x[i].double()
                    mu = xd.mean(-1, keepdim=True) if layer else torch.zeros_like(xd[:, :1])
                    rs = 1 / ((xd - mu).pow(2).mean(-1, keepdim=True) + EPS).sqrt()
                    xh, gw = (xd - mu) * rs, dy[i].double() * w.double()
                    c2 = gw.mean(-1, keepdim=True) if layer else 0
                    return rs * (gw - xh * (gw * xh).mean(-1, keepdim=True) - c2)

                # PyTorch's backward is timed on the statistics its own forward saved (their shapes
                # and dtypes are what its kernels expect); autograd is the fallback.
                xr = x.detach().requires_grad_(True)
                wr = w.detach().requires_grad_(True)
                if layer:
                    _, tmean, trstd = torch.native_layer_norm(x, [C], w, b, EPS)
                    br = b.detach().requires_grad_(True)
                    yr = F.layer_norm(xr, (C,), wr, br, EPS)
                    tb = [("torch.native_layer_norm_backward(dy, x, [C], mean, rstd, w, b, [1,1,1])",
                           lambda: torch.native_layer_norm_backward(dy, x, [C], tmean, trstd, w, b,
                                                                    [True, True, True])),
                          ("autograd of F.layer_norm (x, weight and bias grads)",
                           lambda: torch.autograd.grad(yr, (xr, wr, br), dy, retain_graph=True))]
                else:
                    tb = []
                    try:
                        _, trstd = torch._fused_rms_norm(x, [C], w, EPS)
                        tb.append(("torch._fused_rms_norm_backward(dy, x, [C], rstd, w, [1,1])",
                                   lambda: torch._fused_rms_norm_backward(dy, x, [C], trstd, w, [True, True])))
                    except (RuntimeError, TypeError, AttributeError):
                        pass
                    yr = F.rms_norm(xr, (C,), wr, EPS)
                    tb.append(("autograd of F.rms_norm (x and weight grads)",
                               lambda: torch.autograd.grad(yr, (xr, wr), dy, retain_graph=True)))
                nbytes = 3 * N * es + R * 4 * (2 if layer else 1) + C * es * (3 if layer else 2)
                self.record(op, (R, C), dtype, "bwd", nbytes, ours_b, tb, dx, ref_b, lib.brc_plan_sku(pb).decode())
                # dweight (and dbias) too, on the whole tensor, in f64.
                xd = x.double()
                mu = xd.mean(-1, keepdim=True) if layer else 0
                rs = 1 / ((xd - mu).pow(2).mean(-1, keepdim=True) + EPS).sqrt()
                dwr = (dy.double() * (xd - mu) * rs).sum(0)
                e = ((dw.double() - dwr).norm() / dwr.norm()).item()
                if not e < TOLERANCE[dtype]:
                    raise AssertionError(f"{op} bwd {dtype} {(R, C)}: dweight relative L2 error {e:.3e}")
                if layer:
                    dbr = dy.double().sum(0)
                    e = ((db.double() - dbr).norm() / dbr.norm()).item()
                    if not e < TOLERANCE[dtype]:
                        raise AssertionError(f"{op} bwd {dtype} {(R, C)}: dbias relative L2 error {e:.3e}")
                del xd
        finally:
            torch.cuda.synchronize()
            for p in plans:
                lib.brc_plan_destroy(p)
            torch.cuda.empty_cache()


def print_table(doc):
    print(f"{doc['device']}  driver {doc['driver']}  commit {doc['commit']}  copy {doc['copy_gbps']:.1f} GB/s")
    head = (f"{'op':<12} {'dir':<4} {'dtype':<5} {'shape':>14} {'ours_us':>9} {'torch_us':>9} {'GB/s':>7} "
            f"{'% copy':>7} {'vs torch':>8}")
    print(head)
    print("-" * len(head))
    for r in doc["rows"]:
        shape = f"{r['shape'][0]}x{r['shape'][1]}"
        tu = f"{r['torch_us']:9.1f}" if r["torch_us"] else f"{'-':>9}"
        ratio = f"{r['ratio_vs_torch']:7.2f}x" if r["ratio_vs_torch"] else f"{'-':>8}"
        print(f"{r['op']:<12} {r['direction']:<4} {r['dtype']:<5} {shape:>14} {r['ours_us']:9.1f} {tu} "
              f"{r['gbps']:7.1f} {r['pct_copy']:6.1f}% {ratio}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", type=int, default=0)
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--dtypes", default=",".join(DTYPES))
    ap.add_argument("--shapes", default=",".join(f"{r}x{c}" for r, c in SHAPES), help="rowsxcols,...")
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
    note = (f"CUDA events around {REPS} launches after {WARMUP} warm-ups, median of {REPEATS} repeats, per "
            "launch; gbps = bytes the op must move (inputs read once, outputs written once, weight/bias/"
            "statistics included) / ours_us; pct_copy = gbps / copy_gbps; ratio_vs_torch = torch_us / ours_us; "
            "each row's note says what PyTorch call was timed")
    for op in args.ops.split(","):
        for dtype in args.dtypes.split(","):
            for R, C in (tuple(int(v) for v in sh.split("x")) for sh in args.shapes.split(",")):
                attempt(bench.failures, f"{op} {dtype} {R}x{C}", lambda: bench.run_shape(op, dtype, R, C))
                # The rows so far, marked partial, so that a run cut short still leaves them.
                write_results(args.out, results_doc(copy_gbps, bench.rows, note, partial=True))
    brc.lib.brc_context_destroy(ctx)
    doc = results_doc(copy_gbps, bench.rows, note)
    write_results(args.out, doc)
    print_table(doc)
    exit_if_failed(bench.failures)


if __name__ == "__main__":
    main()
