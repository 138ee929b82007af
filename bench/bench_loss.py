#!/usr/bin/env python3
"""Loss family benchmark: cross_entropy (class indices, reduction mean) forward and backward, and
mse / l1 / binary_cross_entropy_with_logits (reduction mean) forward and backward, baracuda (through
ctypes) against PyTorch eager (torch.nn.functional and the aten kernels it calls) on the same data.

Run on the GPU machine:
    python3 bench/bench_loss.py --lib build/libbaracuda.so --out bench/results/loss.json [--quick]

cross_entropy shapes (rows x classes) 32768x4096, 8192x32768, 4096x131072, 64x1024 (--quick: 64x1024
and 1024x4096); pointwise losses at 2^26 elements (--quick: 2^20); bf16 and f32. Each op is timed
with CUDA events on one stream (bench_elementwise.time_us: warm-ups, then the median of repeats of
back-to-back launches). Before timing, our output is poisoned with NaN, computed once and checked:
no NaN anywhere, and relative L2 error against a float64 PyTorch reference (cross_entropy backward:
the first 64 rows and the last) under the dtype's tolerance. GB/s counts the bytes the op must move
(logits read once, dlogits written once, targets, lse and weights included); % copy is that over the
device-to-device copy bandwidth measured in the same run. Writes the results JSON (the
memory_bound.json format) and prints a table.
"""
import argparse
import ctypes
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_elementwise import (TensorDesc, Lib, time_us, copy_bandwidth, rel_l2_of as rel_l2,  # noqa: E402
                               results_doc, write_results, attempt, exit_if_failed)

BRC_DTYPE = {"f32": 0, "f64": 1, "f16": 2, "bf16": 3, "i64": 10}
TORCH_DTYPE = {"f32": torch.float32, "bf16": torch.bfloat16}
TOLERANCE = {"f32": 1e-5, "bf16": 1e-2}
CE_SHAPES = [(32768, 4096), (8192, 32768), (4096, 131072), (64, 1024)]
CE_QUICK = [(64, 1024), (1024, 4096)]
PW_N, PW_QUICK = 1 << 26, 1 << 20
DTYPES = ["bf16", "f32"]
PW_KINDS = {"mse": 0, "l1": 1, "bce_with_logits": 5}
RED_MEAN = 1


class CrossEntropyDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("input", TensorDesc), ("target", TensorDesc), ("target_kind", ctypes.c_int),
                ("has_weight", ctypes.c_int), ("weight", TensorDesc), ("ignore_index", ctypes.c_int64),
                ("label_smoothing", ctypes.c_double), ("reduction", ctypes.c_int), ("loss", TensorDesc)]


class CrossEntropyBwdDesc(ctypes.Structure):
    _fields_ = [("forward", CrossEntropyDesc), ("dinput", TensorDesc)]


class PointwiseLossDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("input", TensorDesc), ("target", TensorDesc), ("has_weight", ctypes.c_int),
                ("weight", TensorDesc), ("has_pos_weight", ctypes.c_int), ("pos_weight", TensorDesc),
                ("reduction", ctypes.c_int), ("param", ctypes.c_double), ("log_target", ctypes.c_int),
                ("loss", TensorDesc)]


class PointwiseLossBwdDesc(ctypes.Structure):
    _fields_ = [("forward", PointwiseLossDesc), ("dinput", TensorDesc)]


# The C layouts on x86-64 / aarch64 Linux (sizeof and offsetof printed by a C program against loss.h).
assert ctypes.sizeof(CrossEntropyDesc) == 584 and CrossEntropyDesc.ignore_index.offset == 424
assert CrossEntropyDesc.loss.offset == 448 and ctypes.sizeof(CrossEntropyBwdDesc) == 720
assert ctypes.sizeof(PointwiseLossDesc) == 728 and PointwiseLossDesc.param.offset == 576
assert ctypes.sizeof(PointwiseLossBwdDesc) == 864

_vp, _i32, _pp, _sz = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t


class Baracuda(Lib):
    """The loss entry points."""

    SIGS = {
        "brc_cross_entropy_plan": (_i32, [_vp, ctypes.POINTER(CrossEntropyDesc), _vp, _pp]),
        "brc_cross_entropy_backward_plan": (_i32, [_vp, ctypes.POINTER(CrossEntropyBwdDesc), _vp, _pp]),
        "brc_pointwise_loss_plan": (_i32, [_vp, ctypes.POINTER(PointwiseLossDesc), _vp, _pp]),
        "brc_pointwise_loss_backward_plan": (_i32, [_vp, ctypes.POINTER(PointwiseLossBwdDesc), _vp, _pp]),
        "brc_cross_entropy_run": (_i32, [_vp] + [_vp] * 6 + [_sz, _vp]),
        "brc_cross_entropy_backward_run": (_i32, [_vp] + [_vp] * 7 + [_sz, _vp]),
        "brc_pointwise_loss_run": (_i32, [_vp] + [_vp] * 6 + [_sz, _vp]),
        "brc_pointwise_loss_backward_run": (_i32, [_vp] + [_vp] * 7 + [_sz, _vp]),
        "brc_plan_workspace_size": (_sz, [_vp]),
    }

    @staticmethod
    def desc(dtype, shape):
        d = TensorDesc()
        d.dtype, d.rank = BRC_DTYPE[dtype], len(shape)
        stride = 1
        for i in reversed(range(len(shape))):
            d.shape[i], d.strides[i] = shape[i], stride
            stride *= shape[i]
        return d


class Bench:
    def __init__(self, brc, ctx, copy_gbps):
        self.brc, self.ctx, self.copy_gbps = brc, ctx, copy_gbps
        self.stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        self.rows, self.failures = [], []

    def record(self, op, shape, dtype, direction, nbytes, ours_fn, torch_fn, torch_note, out, ref_fn, sku):
        out.fill_(float("nan"))
        ours_fn()
        torch.cuda.synchronize()
        if torch.isnan(out).any().item():
            raise AssertionError(f"{op} {dtype} {direction} {shape}: NaN in our output (an element not written?)")
        err = rel_l2(*ref_fn())
        if not err < TOLERANCE[dtype]:
            raise AssertionError(f"{op} {dtype} {direction} {shape}: relative L2 error {err:.3e}")
        ours_us = time_us(ours_fn)
        torch_us = time_us(torch_fn)
        gbps = nbytes / (ours_us * 1e-6) / 1e9
        row = {"op": op, "shape": list(shape), "dtype": dtype, "direction": direction,
               "ours_us": round(ours_us, 3), "torch_us": round(torch_us, 3),
               "gbps": round(gbps, 1), "pct_copy": round(100.0 * gbps / self.copy_gbps, 1),
               "ratio_vs_torch": round(torch_us / ours_us, 3), "rel_l2": float(f"{err:.3e}"), "sku": sku,
               "note": f"torch: {torch_note}"}
        self.rows.append(row)
        print(f"  {op:<16} {direction} {dtype:<5} {'x'.join(map(str, shape)):>14} ours {ours_us:9.1f} us  torch "
              f"{torch_us:9.1f} us  {gbps:7.1f} GB/s  {row['pct_copy']:5.1f}%  {row['ratio_vs_torch']:5.2f}x  "
              f"rel_l2 {err:.1e}  {sku}", file=sys.stderr, flush=True)

    def cross_entropy(self, dtype, R, C):
        lib, brc, st = self.brc.lib, self.brc, self.stream
        td = TORCH_DTYPE[dtype]
        es = torch.tensor([], dtype=td).element_size()
        g = torch.Generator(device="cuda").manual_seed(R * 131 + C)
        x = (torch.randn(R, C, device="cuda", generator=g) * 2).to(td)
        t = torch.randint(0, C, (R,), device="cuda", generator=g)
        t[::7] = -100  # some ignored rows
        cd = 1 if dtype == "f64" else 0
        loss = torch.empty((), device="cuda", dtype=td)
        lse = torch.empty(R, device="cuda", dtype=torch.float64 if cd else torch.float32)
        dx = torch.empty_like(x)
        dy = torch.ones((), device="cuda", dtype=td)
        d = CrossEntropyDesc(0, brc.desc(dtype, (R, C)), brc.desc("i64", (R,)), 0, 0, brc.desc(dtype, (C,)), -100,
                             0.0, RED_MEAN, brc.desc(dtype, ()))
        pf = brc.plan("brc_cross_entropy_plan", d, self.ctx)
        pb = brc.plan("brc_cross_entropy_backward_plan", CrossEntropyBwdDesc(d, brc.desc(dtype, (R, C))), self.ctx)
        try:
            wsf, wsb = lib.brc_plan_workspace_size(pf), lib.brc_plan_workspace_size(pb)
            ws = torch.empty(max(wsf, wsb, 1), device="cuda", dtype=torch.uint8)
            ours_f = lambda: brc.check(lib.brc_cross_entropy_run(pf, x.data_ptr(), t.data_ptr(), None, loss.data_ptr(),
                                                                 lse.data_ptr(), ws.data_ptr(), wsf, st), "ce fwd")
            # PyTorch's fused path: log_softmax then nll_loss (what F.cross_entropy runs).
            torch_f = lambda: F.cross_entropy(x, t, ignore_index=-100, reduction="mean")
            ref_f = lambda: (loss.reshape(1), F.cross_entropy(x.double(), t, ignore_index=-100).reshape(1))
            nbytes = R * C * es + R * 8 + R * 4  # logits, targets, saved lse
            self.record("cross_entropy", (R, C), dtype, "fwd", nbytes, ours_f, torch_f,
                        "F.cross_entropy(x, t, reduction='mean')", loss, ref_f, lib.brc_plan_sku(pf).decode())
            ours_f()
            torch.cuda.synchronize()
            ours_b = lambda: brc.check(lib.brc_cross_entropy_backward_run(
                pb, x.data_ptr(), t.data_ptr(), None, lse.data_ptr(), dy.data_ptr(), dx.data_ptr(), ws.data_ptr(),
                wsb, st), "ce bwd")
            # PyTorch's backward: the two aten kernels autograd runs (nll_loss_backward, then
            # _log_softmax_backward_data), on its own forward's saved tensors.
            logp = torch._log_softmax(x, 1, False)
            total_w = torch.tensor(float((t != -100).sum().item()), device="cuda", dtype=td)
            gy = torch.ones((), device="cuda", dtype=td)

            def torch_b():
                gl = torch.ops.aten.nll_loss_backward(gy, logp, t, None, 1, -100, total_w)
                return torch._log_softmax_backward_data(gl, logp, 1, td)

            idx = list(range(min(64, R))) + ([R - 1] if R > 64 else [])

            def ref_b():
                xd = x[idx].double()
                p = torch.softmax(xd, 1)
                ti = t[idx]
                keep = ti != -100
                oh = torch.zeros_like(p)
                oh[keep.nonzero().flatten(), ti[keep]] = 1
                n_valid = float((t != -100).sum().item())
                return dx[idx], (p - oh) * keep[:, None].double() / n_valid

            self.record("cross_entropy", (R, C), dtype, "bwd", 2 * R * C * es + R * 8 + R * 4, ours_b, torch_b,
                        "aten nll_loss_backward + _log_softmax_backward_data", dx, ref_b,
                        lib.brc_plan_sku(pb).decode())
        finally:
            torch.cuda.synchronize()
            lib.brc_plan_destroy(pf)
            lib.brc_plan_destroy(pb)
            torch.cuda.empty_cache()

    def pointwise(self, name, dtype, n):
        lib, brc, st = self.brc.lib, self.brc, self.stream
        td = TORCH_DTYPE[dtype]
        es = torch.tensor([], dtype=td).element_size()
        g = torch.Generator(device="cuda").manual_seed(n + len(name))
        x = torch.randn(n, device="cuda", generator=g).to(td)
        y = (torch.rand(n, device="cuda", generator=g) if name == "bce_with_logits"
             else torch.randn(n, device="cuda", generator=g)).to(td)
        loss = torch.empty((), device="cuda", dtype=td)
        dx = torch.empty_like(x)
        gy = torch.ones((), device="cuda", dtype=td)
        d = PointwiseLossDesc(PW_KINDS[name], brc.desc(dtype, (n,)), brc.desc(dtype, (n,)), 0, TensorDesc(), 0,
                              TensorDesc(), RED_MEAN, 1.0, 0, brc.desc(dtype, ()))
        pf = brc.plan("brc_pointwise_loss_plan", d, self.ctx)
        pb = brc.plan("brc_pointwise_loss_backward_plan", PointwiseLossBwdDesc(d, brc.desc(dtype, (n,))), self.ctx)
        tfwd = {"mse": F.mse_loss, "l1": F.l1_loss, "bce_with_logits": F.binary_cross_entropy_with_logits}[name]
        try:
            wsf = lib.brc_plan_workspace_size(pf)
            ws = torch.empty(max(wsf, 1), device="cuda", dtype=torch.uint8)
            ours_f = lambda: brc.check(lib.brc_pointwise_loss_run(pf, x.data_ptr(), y.data_ptr(), None, None,
                                                                  loss.data_ptr(), ws.data_ptr(), wsf, st), name)
            self.record(f"{name}_loss", (n,), dtype, "fwd", 2 * n * es, ours_f, lambda: tfwd(x, y), f"F.{tfwd.__name__}",
                        loss, lambda: (loss.reshape(1), tfwd(x.double(), y.double()).reshape(1)),
                        lib.brc_plan_sku(pf).decode())
            ours_b = lambda: brc.check(lib.brc_pointwise_loss_backward_run(pb, x.data_ptr(), y.data_ptr(), None, None,
                                                                           gy.data_ptr(), dx.data_ptr(), None, 0, st),
                                       name)
            # PyTorch's backward kernels, called directly (autograd would add bookkeeping launches).
            if name == "mse":
                torch_b, note = (lambda: torch.ops.aten.mse_loss_backward(gy, x, y, 1)), "aten.mse_loss_backward"
            elif name == "l1":
                # l1_loss is composite in PyTorch: its backward is sign(x - y) * grad / n (autograd).
                xr = x.detach().requires_grad_(True)
                lr = F.l1_loss(xr, y)
                torch_b, note = (lambda: torch.autograd.grad(lr, xr, gy, retain_graph=True)), "autograd of F.l1_loss"
            else:
                # Composite in PyTorch 2.x (no aten backward kernel): autograd of the forward.
                xr = x.detach().requires_grad_(True)
                lr = F.binary_cross_entropy_with_logits(xr, y)
                torch_b = lambda: torch.autograd.grad(lr, xr, gy, retain_graph=True)
                note = "autograd of F.binary_cross_entropy_with_logits"
            sl = slice(0, min(n, 1 << 20))

            def ref_b():
                xd = x[sl].double().requires_grad_(True)
                ld = tfwd(xd, y[sl].double(), reduction="sum") / n
                return dx[sl], torch.autograd.grad(ld, xd)[0]

            self.record(f"{name}_loss", (n,), dtype, "bwd", 3 * n * es, ours_b, torch_b, note, dx, ref_b,
                        lib.brc_plan_sku(pb).decode())
        finally:
            torch.cuda.synchronize()
            lib.brc_plan_destroy(pf)
            lib.brc_plan_destroy(pb)
            torch.cuda.empty_cache()


def print_table(doc):
    print(f"{doc['device']}  driver {doc['driver']}  commit {doc['commit']}  copy {doc['copy_gbps']:.1f} GB/s")
    head = (f"{'op':<20} {'dir':<4} {'dtype':<5} {'shape':>14} {'ours_us':>9} {'torch_us':>9} {'GB/s':>7} "
            f"{'% copy':>7} {'vs torch':>8}")
    print(head)
    print("-" * len(head))
    for r in doc["rows"]:
        shape = "x".join(map(str, r["shape"]))
        print(f"{r['op']:<20} {r['direction']:<4} {r['dtype']:<5} {shape:>14} {r['ours_us']:9.1f} "
              f"{r['torch_us']:9.1f} {r['gbps']:7.1f} {r['pct_copy']:6.1f}% {r['ratio_vs_torch']:7.2f}x")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    ap.add_argument("--dtypes", default=",".join(DTYPES))
    ap.add_argument("--ops", default="cross_entropy," + ",".join(PW_KINDS))
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
    ops = args.ops.split(",")
    for dtype in args.dtypes.split(","):
        cases = []
        if "cross_entropy" in ops:
            cases += [("cross_entropy", sh) for sh in (CE_QUICK if args.quick else CE_SHAPES)]
        cases += [(k, PW_QUICK if args.quick else PW_N) for k in PW_KINDS if k in ops]
        for op, size in cases:
            run = (lambda: bench.cross_entropy(dtype, *size)) if op == "cross_entropy" else \
                (lambda: bench.pointwise(op, dtype, size))
            attempt(bench.failures, f"{op} {dtype} {size}", run)
    brc.lib.brc_context_destroy(ctx)
    doc = results_doc(copy_gbps, bench.rows, ("CUDA events around back-to-back launches after warm-ups, median of repeats, per launch; gbps = "
                 "bytes the op must move (inputs read once, outputs written once, targets and saved lse included) / "
                 "ours_us; pct_copy = gbps / copy_gbps; ratio_vs_torch = torch_us / ours_us; each row's note says "
                 "what PyTorch call was timed; reductions are mean"))
    write_results(args.out, doc)
    print_table(doc)
    exit_if_failed(bench.failures)


if __name__ == "__main__":
    main()
