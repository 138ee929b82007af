#!/usr/bin/env python3
"""Channel norm benchmark: group_norm and batch_norm (train and eval), forward and backward,
baracuda (through ctypes) against PyTorch eager on the same data, side by side.

Run on the GPU machine:
    python3 bench/bench_channel_norm.py --lib build/libbaracuda.so --out bench/results/channel_norm.json
    (--quick: small shapes only, a smoke test)

Cases: group_norm [32, 512, 64, 64] G=32 and [8, 256, 128, 128] G=32; batch_norm train and eval
[64, 256, 56, 56] and [256, 1024]; bf16 and f32; fwd and bwd. Each op is timed with CUDA events on one
stream (bench_elementwise.time_us). Before timing, our output is poisoned with NaN, computed once and
checked: no NaN, and relative L2 error against a float64 reference under the dtype's tolerance. GB/s
counts the bytes the op must move (x read once and y written once forward; x, dy read and dx written
backward; weight, bias and statistics included); % copy is that over the device-to-device copy
bandwidth measured in the same run. Rows in the memory_bound.json format (shared/design/performance.md).
"""
import argparse
import ctypes
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_elementwise import (TensorDesc, Lib, time_us, copy_bandwidth, rel_l2_of as rel_l2,  # noqa: E402
                               results_doc, write_results)

BRC_DTYPE = {"f32": 0, "f64": 1, "f16": 2, "bf16": 3}
TORCH_DTYPE = {"f32": torch.float32, "bf16": torch.bfloat16}
TOLERANCE = {"f32": 1e-5, "bf16": 1e-2}
EPS, MOMENTUM = 1e-5, 0.1
GROUP_SHAPES = [((32, 512, 64, 64), 32), ((8, 256, 128, 128), 32)]
BATCH_SHAPES = [(64, 256, 56, 56), (256, 1024)]
QUICK_GROUP = [((2, 64, 16, 16), 8)]
QUICK_BATCH = [(8, 32, 14, 14), (64, 256)]
DTYPES = ["bf16", "f32"]


class GroupNormDesc(ctypes.Structure):
    _fields_ = [("x", TensorDesc), ("y", TensorDesc), ("groups", ctypes.c_int64), ("has_weight", ctypes.c_int),
                ("has_bias", ctypes.c_int), ("eps", ctypes.c_double)]


class GroupNormBwdDesc(ctypes.Structure):
    _fields_ = [("x", TensorDesc), ("dy", TensorDesc), ("dx", TensorDesc), ("groups", ctypes.c_int64),
                ("has_weight", ctypes.c_int), ("has_bias", ctypes.c_int)]


class BatchNormDesc(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int), ("x", TensorDesc), ("y", TensorDesc), ("has_weight", ctypes.c_int),
                ("has_bias", ctypes.c_int), ("update_running", ctypes.c_int), ("eps", ctypes.c_double),
                ("momentum", ctypes.c_double)]


class BatchNormBwdDesc(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int), ("x", TensorDesc), ("dy", TensorDesc), ("dx", TensorDesc),
                ("has_weight", ctypes.c_int), ("has_bias", ctypes.c_int), ("eps", ctypes.c_double)]


# The C layouts on x86-64 / aarch64 Linux (checked against sizeof / offsetof in C).
assert ctypes.sizeof(GroupNormDesc) == 296 and GroupNormDesc.eps.offset == 288
assert ctypes.sizeof(GroupNormBwdDesc) == 424
assert ctypes.sizeof(BatchNormDesc) == 312 and BatchNormDesc.eps.offset == 296
assert BatchNormDesc.update_running.offset == 288
assert ctypes.sizeof(BatchNormBwdDesc) == 432 and BatchNormBwdDesc.eps.offset == 424

_vp, _i32, _pp, _sz = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t


class Baracuda(Lib):
    """The channel norm entry points."""

    SIGS = {
        "brc_group_norm_plan": (_i32, [_vp, ctypes.POINTER(GroupNormDesc), _vp, _pp]),
        "brc_group_norm_backward_plan": (_i32, [_vp, ctypes.POINTER(GroupNormBwdDesc), _vp, _pp]),
        "brc_batch_norm_plan": (_i32, [_vp, ctypes.POINTER(BatchNormDesc), _vp, _pp]),
        "brc_batch_norm_backward_plan": (_i32, [_vp, ctypes.POINTER(BatchNormBwdDesc), _vp, _pp]),
        "brc_group_norm_run": (_i32, [_vp] + [_vp] * 6 + [_vp, _sz, _vp]),
        "brc_group_norm_backward_run": (_i32, [_vp] + [_vp] * 8 + [_vp, _sz, _vp]),
        "brc_batch_norm_run": (_i32, [_vp] + [_vp] * 8 + [_vp, _sz, _vp]),
        "brc_batch_norm_backward_run": (_i32, [_vp] + [_vp] * 10 + [_vp, _sz, _vp]),
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
        self.rows = []

    def record(self, op, shape, dtype, direction, nbytes, ours_fn, torch_fn, torch_note, outs, refs, sku):
        for o in outs:
            o.fill_(float("nan"))
        ours_fn()
        torch.cuda.synchronize()
        err = 0.0
        for o, r in zip(outs, refs):
            if torch.isnan(o).any().item():
                raise AssertionError(f"{op} {dtype} {direction} {shape}: NaN in our output (an element not written?)")
            err = max(err, rel_l2(o, r))
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
        print(f"  {op:<16} {direction} {dtype:<5} {str(list(shape)):<20} ours {ours_us:9.1f} us  torch "
              f"{torch_us:9.1f} us  {gbps:7.1f} GB/s  {row['pct_copy']:5.1f}%  x{row['ratio_vs_torch']:.2f}  "
              f"rel_l2 {err:.1e}  {sku}", file=sys.stderr, flush=True)

    def inputs(self, dtype, shape, per_channel_shift):
        td = TORCH_DTYPE[dtype]
        g = torch.Generator(device="cuda").manual_seed(sum(shape) * 131 + len(shape))
        C = shape[1]
        shift = torch.randn(C, device="cuda", generator=g) * 3
        view = [1, C] + [1] * (len(shape) - 2)
        x = (torch.randn(*shape, device="cuda", generator=g) + shift.view(view)).to(td)
        dy = torch.randn(*shape, device="cuda", generator=g).to(td)
        w = (torch.rand(C, device="cuda", generator=g) + 0.5).to(td)
        b = (torch.rand(C, device="cuda", generator=g) - 0.5).to(td)
        return x, dy, w, b

    def group_norm(self, dtype, shape, G):
        lib, brc, st = self.brc.lib, self.brc, self.stream
        x, dy, w, b = self.inputs(dtype, shape, True)
        N, C = shape[0], shape[1]
        es, n = x.element_size(), x.numel()
        d = brc.desc(dtype, shape)
        pf = brc.plan("brc_group_norm_plan", GroupNormDesc(d, d, G, 1, 1, EPS), self.ctx)
        pb = brc.plan("brc_group_norm_backward_plan", GroupNormBwdDesc(d, d, d, G, 1, 1), self.ctx)
        try:
            wsz = max(lib.brc_plan_workspace_size(pf), lib.brc_plan_workspace_size(pb))
            ws = torch.empty(max(wsz, 1), device="cuda", dtype=torch.uint8)
            y, dx = torch.empty_like(x), torch.empty_like(x)
            dw, db = torch.empty_like(w), torch.empty_like(b)
            mean = torch.empty(N * G, device="cuda", dtype=torch.float32)
            rstd = torch.empty(N * G, device="cuda", dtype=torch.float32)
            ours_f = lambda: brc.check(lib.brc_group_norm_run(pf, x.data_ptr(), w.data_ptr(), b.data_ptr(),
                                                              y.data_ptr(), mean.data_ptr(), rstd.data_ptr(),
                                                              ws.data_ptr(), wsz, st), "group_norm")
            xr = x.double().requires_grad_(True)
            wr, br = w.double().requires_grad_(True), b.double().requires_grad_(True)
            yr = F.group_norm(xr, G, wr, br, EPS)
            stat_bytes = 2 * N * G * 4
            self.record("group_norm", shape, dtype, "fwd", 2 * n * es + 2 * C * es + stat_bytes, ours_f,
                        lambda: torch.native_group_norm(x, w, b, N, C, n // (N * C), G, EPS),
                        "torch.native_group_norm", [y], [yr.detach()], lib.brc_plan_sku(pf).decode())
            gx, gw, gb = torch.autograd.grad(yr, (xr, wr, br), dy.double())
            _, tmean, trstd = torch.native_group_norm(x, w, b, N, C, n // (N * C), G, EPS)
            ours_b = lambda: brc.check(lib.brc_group_norm_backward_run(
                pb, x.data_ptr(), dy.data_ptr(), w.data_ptr(), mean.data_ptr(), rstd.data_ptr(), dx.data_ptr(),
                dw.data_ptr(), db.data_ptr(), ws.data_ptr(), wsz, st), "group_norm backward")
            self.record("group_norm", shape, dtype, "bwd", 3 * n * es + 3 * C * es + stat_bytes, ours_b,
                        lambda: torch.ops.aten.native_group_norm_backward(dy, x, tmean, trstd, w, N, C,
                                                                          n // (N * C), G, [True, True, True]),
                        "aten.native_group_norm_backward", [dx, dw, db], [gx, gw, gb], lib.brc_plan_sku(pb).decode())
        finally:
            torch.cuda.synchronize()
            lib.brc_plan_destroy(pf)
            lib.brc_plan_destroy(pb)

    def batch_norm(self, dtype, shape, train):
        lib, brc, st = self.brc.lib, self.brc, self.stream
        x, dy, w, b = self.inputs(dtype, shape, False)
        C = shape[1]
        es, n = x.element_size(), x.numel()
        mode = 0 if train else 1
        d = brc.desc(dtype, shape)
        pf = brc.plan("brc_batch_norm_plan", BatchNormDesc(mode, d, d, 1, 1, 1 if train else 0, EPS, MOMENTUM),
                      self.ctx)
        pb = brc.plan("brc_batch_norm_backward_plan", BatchNormBwdDesc(mode, d, d, d, 1, 1, EPS), self.ctx)
        op = "batch_norm_" + ("train" if train else "eval")
        try:
            wsz = max(lib.brc_plan_workspace_size(pf), lib.brc_plan_workspace_size(pb))
            ws = torch.empty(max(wsz, 1), device="cuda", dtype=torch.uint8)
            y, dx = torch.empty_like(x), torch.empty_like(x)
            dw, db = torch.empty_like(w), torch.empty_like(b)
            mean = torch.empty(C, device="cuda", dtype=torch.float32)
            rstd = torch.empty(C, device="cuda", dtype=torch.float32)
            rm = torch.randn(C, device="cuda") * 3
            rv = torch.rand(C, device="cuda") + 0.5
            rm0, rv0 = rm.clone(), rv.clone()
            # Torch's running stats are f32 too (its rule: the weight's dtype; here w is bf16 for bf16, so
            # torch gets f32 weights as cuDNN requires, and the same running buffers' values).
            tw, tb = w.float(), b.float()
            trm, trv = rm0.clone(), rv0.clone()
            ours_f = lambda: brc.check(lib.brc_batch_norm_run(pf, x.data_ptr(), w.data_ptr(), b.data_ptr(),
                                                              y.data_ptr(), mean.data_ptr(), rstd.data_ptr(),
                                                              rm.data_ptr(), rv.data_ptr(), ws.data_ptr(), wsz, st),
                                       op)
            xr = x.double().requires_grad_(True)
            wr, br = w.double().requires_grad_(True), b.double().requires_grad_(True)
            yr = F.batch_norm(xr, rm0.double(), rv0.double(), wr, br, train, 0.0, EPS)
            nstat = 2 * C * 4 * (2 if train else 1)
            self.record(op, shape, dtype, "fwd", 2 * n * es + 2 * C * es + nstat, ours_f,
                        lambda: F.batch_norm(x, trm, trv, tw, tb, train, MOMENTUM, EPS),
                        "F.batch_norm (f32 weight, bias, running stats)", [y], [yr.detach()],
                        lib.brc_plan_sku(pf).decode())
            gx, gw, gb = torch.autograd.grad(yr, (xr, wr, br), dy.double())
            if train:
                # Saved statistics for our backward: our forward's.
                ours_f()
                torch.cuda.synchronize()
            rm.copy_(rm0)
            rv.copy_(rv0)
            ours_b = lambda: brc.check(lib.brc_batch_norm_backward_run(
                pb, x.data_ptr(), dy.data_ptr(), w.data_ptr(), mean.data_ptr(), rstd.data_ptr(), rm.data_ptr(),
                rv.data_ptr(), dx.data_ptr(), dw.data_ptr(), db.data_ptr(), ws.data_ptr(), wsz, st), op)
            xt = x.detach().requires_grad_(True)
            twr, tbr = tw.detach().requires_grad_(True), tb.detach().requires_grad_(True)
            yt = F.batch_norm(xt, rm0.clone(), rv0.clone(), twr, tbr, train, 0.0, EPS)
            self.record(op, shape, dtype, "bwd", 3 * n * es + 3 * C * es + nstat, ours_b,
                        lambda: torch.autograd.grad(yt, (xt, twr, tbr), dy, retain_graph=True),
                        "autograd of F.batch_norm (x, weight and bias grads)", [dx, dw, db], [gx, gw, gb],
                        lib.brc_plan_sku(pb).decode())
        finally:
            torch.cuda.synchronize()
            lib.brc_plan_destroy(pf)
            lib.brc_plan_destroy(pb)


def print_table(doc):
    print(f"{doc['device']}  driver {doc['driver']}  copy {doc['copy_gbps']:.1f} GB/s")
    head = (f"{'op':<16} {'dir':<4} {'dtype':<5} {'shape':>20} {'ours_us':>9} {'torch_us':>9} {'GB/s':>7} "
            f"{'% copy':>7} {'vs torch':>8}")
    print(head)
    print("-" * len(head))
    for r in doc["rows"]:
        shape = "x".join(str(s) for s in r["shape"])
        print(f"{r['op']:<16} {r['direction']:<4} {r['dtype']:<5} {shape:>20} {r['ours_us']:9.1f} "
              f"{r['torch_us']:9.1f} {r['gbps']:7.1f} {r['pct_copy']:6.1f}% {r['ratio_vs_torch']:7.2f}x")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", help="write the rows as JSON here")
    ap.add_argument("--device", type=int, default=0)
    ap.add_argument("--dtypes", default=",".join(DTYPES))
    ap.add_argument("--quick", action="store_true", help="small shapes only")
    ap.add_argument("--ops", default="group_norm,batch_norm_train,batch_norm_eval",
                    help="which of group_norm, batch_norm_train, batch_norm_eval to run")
    ap.add_argument("--batch-shapes", help="batch_norm shapes instead of the defaults, e.g. 64x256x56x56,256x1024")
    args = ap.parse_args()
    ops = set(args.ops.split(","))
    torch.cuda.set_device(args.device)
    torch.empty(1, device="cuda")
    brc = Baracuda(args.lib)
    ctx = brc.context(args.device)
    copy_gbps = copy_bandwidth()
    bench = Bench(brc, ctx, copy_gbps)
    groups = QUICK_GROUP if args.quick else GROUP_SHAPES
    batches = QUICK_BATCH if args.quick else BATCH_SHAPES
    if args.batch_shapes:
        batches = [tuple(int(v) for v in s.split("x")) for s in args.batch_shapes.split(",")]
    for dtype in args.dtypes.split(","):
        for shape, G in groups if "group_norm" in ops else []:
            bench.group_norm(dtype, shape, G)
        for shape in batches:
            for train in (True, False):
                if ("batch_norm_train" if train else "batch_norm_eval") in ops:
                    bench.batch_norm(dtype, shape, train)
    doc = results_doc(copy_gbps, bench.rows,
                      "CUDA events around back-to-back launches after warm-ups, median per launch; gbps = bytes "
                      "the op must move / ours_us; pct_copy = gbps / copy_gbps; ratio_vs_torch = torch_us / ours_us",
                      bench="channel_norm", arch=brc.lib.brc_context_arch(ctx).decode(),
                      library=brc.lib.brc_version_string().decode(), torch=torch.__version__)
    brc.lib.brc_context_destroy(ctx)
    if args.out:
        write_results(args.out, doc)
    print_table(doc)


if __name__ == "__main__":
    main()
