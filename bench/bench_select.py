#!/usr/bin/env python3
"""Select family benchmark: topk, kthvalue and median, baracuda (through ctypes) against PyTorch eager on the
same GPU, side by side.

Run on the GPU machine:
    python3 bench/bench_select.py --lib build/libbaracuda.so --out bench/results/select.json [--quick]

Cases (f32 and bf16, i64 indices, the last dim):
  topk      32 x 131072 with k = 1, 16, 64, 1024 (largest, sorted); 4096 x 4096 with k = 50
  kthvalue  1024 x 16384 with k = 4096
  median    1024 x 16384
(--quick: fewer rows.) Each op is timed with CUDA events (bench_elementwise.time_us). Before timing our outputs are
poisoned, computed once and checked: values equal PyTorch's exactly, and x gathered at our indices equals our values
(indices are not compared with PyTorch's directly: among equal values PyTorch does not say which index it returns).
GB/s counts x read once; % copy is that over the device-to-device copy bandwidth measured in the same run.
"""
import argparse
import ctypes
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_elementwise import (TensorDesc, Lib, time_us, WARMUP, REPS, REPEATS, copy_bandwidth,  # noqa: E402
                               first_working, results_doc, write_results, attempt, exit_if_failed)

TORCH_DTYPE = {"f32": torch.float32, "bf16": torch.bfloat16}
BRC_DTYPE = {torch.float32: 0, torch.bfloat16: 3, torch.int32: 9, torch.int64: 10}
KIND = {"topk": 0, "kthvalue": 1, "median": 2}
DTYPES = ["f32", "bf16"]


class SelectDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("x", TensorDesc), ("values", TensorDesc), ("indices", TensorDesc),
                ("dim", ctypes.c_int), ("k", ctypes.c_int64), ("largest", ctypes.c_int), ("sorted", ctypes.c_int)]


# The C layout, as tests/host/test_select_host.c checks it with sizeof and offsetof.
assert ctypes.sizeof(SelectDesc) == 440 and SelectDesc.dim.offset == 416 and SelectDesc.k.offset == 424
assert SelectDesc.largest.offset == 432 and SelectDesc.sorted.offset == 436

_vp, _i32, _pp = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)


class Baracuda(Lib):
    SIGS = {
        "brc_select_plan": (_i32, [_vp, ctypes.POINTER(SelectDesc), _vp, _pp]),
        "brc_select_run": (_i32, [_vp, _vp, _vp, _vp, _vp, ctypes.c_size_t, _vp]),
        "brc_plan_workspace_size": (ctypes.c_size_t, [_vp]),
    }

    @staticmethod
    def desc(t):
        d = TensorDesc()
        d.dtype = BRC_DTYPE[t.dtype]
        d.rank = t.dim()
        for i in range(t.dim()):
            d.shape[i], d.strides[i] = t.shape[i], t.stride(i)
        return d


def cases(quick):
    s = 4 if quick else 1
    rows = [("topk", (32, 131072), k) for k in (1, 16, 64, 1024)]
    rows.append(("topk", (4096 // s, 4096), 50))
    rows.append(("kthvalue", (1024 // s, 16384), 4096))
    rows.append(("median", (1024 // s, 16384), None))
    return rows


class Bench:
    def __init__(self, brc, ctx, copy_gbps):
        self.brc, self.ctx, self.copy_gbps = brc, ctx, copy_gbps
        self.stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        self.rows, self.failures = [], []

    def run(self, op, dtype, shape, k):
        td = TORCH_DTYPE[dtype]
        g = torch.Generator(device="cuda").manual_seed(29)
        x = torch.randn(*shape, device="cuda", generator=g).to(td)
        R, N = shape
        kk = k if op == "topk" else 1
        v = torch.empty(R, kk, dtype=td, device="cuda")
        i = torch.empty(R, kk, dtype=torch.int64, device="cuda")
        D = self.brc.desc
        d = SelectDesc(kind=KIND[op], x=D(x), values=D(v), indices=D(i), dim=1, k=k or 0, largest=1, sorted=1)
        lib, brc = self.brc.lib, self.brc
        plan = brc.plan("brc_select_plan", d, self.ctx)
        try:
            sku = lib.brc_plan_sku(plan).decode()
            wsz = lib.brc_plan_workspace_size(plan)
            ws = torch.empty(max(wsz, 16), dtype=torch.uint8, device="cuda")
            run = lambda: brc.check(lib.brc_select_run(plan, x.data_ptr(), v.data_ptr(), i.data_ptr(),
                                                       ws.data_ptr() if wsz else None, wsz, self.stream), op)
            v.fill_(float("nan"))
            i.fill_(-1)
            run()
            torch.cuda.synchronize()
            tag = f"{op} {dtype} {shape} k={k}"
            if op == "topk":
                rv, _ = torch.topk(x, k, dim=1, largest=True, sorted=True)
                v2, i2 = torch.empty_like(rv), torch.empty(R, k, dtype=torch.int64, device="cuda")
                cands = [(f"torch.topk(x, {k}, out=(v, i))", lambda: torch.topk(x, k, dim=1, out=(v2, i2))),
                         (f"torch.topk(x, {k}) (allocates)", lambda: torch.topk(x, k, dim=1))]
            elif op == "kthvalue":
                rv = torch.kthvalue(x, k, dim=1, keepdim=True)[0]
                v2, i2 = torch.empty_like(rv), torch.empty(R, 1, dtype=torch.int64, device="cuda")
                cands = [(f"torch.kthvalue(x, {k}, keepdim=True, out=(v, i))",
                          lambda: torch.kthvalue(x, k, dim=1, keepdim=True, out=(v2, i2))),
                         (f"torch.kthvalue(x, {k}) (allocates)", lambda: torch.kthvalue(x, k, dim=1))]
            else:
                rv = torch.median(x, dim=1, keepdim=True)[0]
                v2, i2 = torch.empty_like(rv), torch.empty(R, 1, dtype=torch.int64, device="cuda")
                cands = [("torch.median(x, 1, keepdim=True, out=(v, i))",
                          lambda: torch.median(x, dim=1, keepdim=True, out=(v2, i2))),
                         ("torch.median(x, 1) (allocates)", lambda: torch.median(x, dim=1))]
            if not torch.equal(v, rv):
                bad = (v != rv).sum().item()
                raise AssertionError(f"{tag}: {bad} values differ from PyTorch's")
            if not torch.equal(x.gather(1, i), v):
                raise AssertionError(f"{tag}: x at our indices is not our values")
            si = i.sort(dim=1)[0]
            if op == "topk" and k > 1 and bool((si[:, 1:] == si[:, :-1]).any()):
                raise AssertionError(f"{tag}: an index is returned twice")
            tnote, torch_fn = first_working(cands)
            ours_us = time_us(run)
            torch_us = time_us(torch_fn)
            nbytes = x.numel() * x.element_size()
            gbps = nbytes / (ours_us * 1e-6) / 1e9
            row = {"op": op, "shape": list(shape), "k": k, "dtype": dtype, "direction": "fwd",
                   "ours_us": round(ours_us, 3), "torch_us": round(torch_us, 3), "gbps": round(gbps, 1),
                   "pct_copy": round(100.0 * gbps / self.copy_gbps, 1), "ratio_vs_torch": round(torch_us / ours_us, 3),
                   "sku": sku, "workspace": wsz, "note": "torch: " + tnote}
            self.rows.append(row)
            print(f"  {op:<9} {dtype:<5} {str(shape):<16} k={str(k):<5} ours {ours_us:9.1f} us  torch {torch_us:9.1f} us"
                  f"  {torch_us / ours_us:5.2f}x  {gbps:7.1f} GB/s  ws {wsz}  {sku}", file=sys.stderr, flush=True)
        finally:
            torch.cuda.synchronize()
            lib.brc_plan_destroy(plan)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", type=int, default=0)
    ap.add_argument("--dtypes", default=",".join(DTYPES))
    args = ap.parse_args()
    torch.cuda.set_device(args.device)
    torch.empty(1, device="cuda")
    brc = Baracuda(args.lib)
    ctx = brc.context(args.device)
    copy_gbps = copy_bandwidth()
    print(f"copy bandwidth {copy_gbps:.1f} GB/s", file=sys.stderr)
    bench = Bench(brc, ctx, copy_gbps)
    for op, shape, k in cases(args.quick):
        for dtype in args.dtypes.split(","):
            attempt(bench.failures, f"{op} {dtype} {shape} k={k}", lambda: bench.run(op, dtype, shape, k))
            torch.cuda.empty_cache()
    brc.lib.brc_context_destroy(ctx)
    doc = results_doc(copy_gbps, bench.rows, (f"CUDA events around {REPS} launches after {WARMUP} warm-ups, median of "
                      f"{REPEATS} repeats, per launch; gbps = bytes of x / ours_us; pct_copy = gbps / copy_gbps; "
                      "ratio_vs_torch = torch_us / ours_us; randn data, last dim, largest, sorted"))
    if args.out:
        write_results(args.out, doc)
    for r in doc["rows"]:
        print(f"{r['op']:<9} {r['dtype']:<5} {str(r['shape']):<16} k={str(r['k']):<5} {r['ours_us']:9.1f} "
              f"{r['torch_us']:9.1f} {r['ratio_vs_torch']:6.2f}x {r['gbps']:7.1f} {r['pct_copy']:6.1f}%")
    exit_if_failed(bench.failures)


if __name__ == "__main__":
    main()
