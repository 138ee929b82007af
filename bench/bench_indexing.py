#!/usr/bin/env python3
"""Indexing family benchmark: embedding, index_select, gather (and embedding backward, index_add,
scatter_add), baracuda (through ctypes) against PyTorch eager on the same GPU, side by side.

Run on the GPU machine:
    python3 bench/bench_indexing.py --lib build/libbaracuda.so --out bench/results/indexing.json [--quick]

Cases (bf16 and f32, i64 indices):
  embedding      table [131072, 4096], 32768 random indices (y: 32768 x 4096); table [32000, 1024], 8192
  index_select   x [262144, 1024] along dim 0, 131072 indices; x [4096, 8192] along dim 1, 4096 indices
  gather         x [8192, 8192] along dim 1, index [8192, 4096]; along dim 0, index [4096, 8192]
  embedding_bwd  dy [32768, 4096] into [32000, 4096] (deterministic, and atomic)
  index_add      y [32000, 4096] += src [32768, 4096] along dim 0 (atomic)
  masked_select  x [8192, 8192] (2^26 elements) by a random bool mask of density 1/2
  nonzero        x [8192, 8192] with half its elements zero (i64 coordinates [n, 2])
  embedding_bag  table [32000, 1024], 4096 bags of 32 (2-D input), modes sum, mean, max
  index_put      y [32000, 1024], y[ix] += v with 131072 random rows (accumulate=True)
masked_select / nonzero: ours writes the count to device memory (no synchronization); torch's
synchronizes to size its output (that is part of what it costs a caller, so it is timed).
(--quick: small versions.) Each op is timed with CUDA events (bench_elementwise.time_us). Before timing
our output is poisoned, computed once and checked against PyTorch's (copies: torch.equal; the adds:
relative L2 error). GB/s counts the bytes the op must move: gathered rows read once and written once,
indices read once (backward: dy and indices read, dweight written; index_add: src read, y read and
written); % copy is that over the device-to-device copy bandwidth measured in the same run.
"""
import argparse
import ctypes
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_elementwise import (TensorDesc, Lib, time_us, WARMUP, REPS, REPEATS, copy_bandwidth,  # noqa: E402
                               first_working, rel_l2_of, results_doc, write_results, attempt, exit_if_failed)

BRC_DTYPE = {"f32": 0, "bf16": 3, "i32": 9, "i64": 10}
TORCH_DTYPE = {"f32": torch.float32, "bf16": torch.bfloat16}
KIND = {"gather": 0, "index_select": 1, "embedding": 2, "scatter": 3, "index_add": 4, "embedding_backward": 5,
        "index_put": 8, "masked_select": 9, "nonzero": 10, "embedding_bag": 11, "embedding_bag_backward": 12}
BAG_MODE = {"sum": 0, "mean": 1, "max": 2}
DTYPES = ["bf16", "f32"]
OPS = ["embedding", "index_select", "gather", "embedding_backward", "index_add", "masked_select", "nonzero",
       "embedding_bag", "index_put"]


class IndexDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("x", TensorDesc), ("index", TensorDesc), ("src", TensorDesc),
                ("y", TensorDesc), ("dim", ctypes.c_int), ("reduce", ctypes.c_int), ("value", ctypes.c_double),
                ("num_classes", ctypes.c_int64), ("use_padding_idx", ctypes.c_int), ("padding_idx", ctypes.c_int64),
                ("atomic", ctypes.c_int), ("exclude_self", ctypes.c_int), ("accumulate", ctypes.c_int),
                ("nindices", ctypes.c_int), ("indices", TensorDesc * 4), ("mode", ctypes.c_int), ("offsets", TensorDesc),
                ("include_last_offset", ctypes.c_int), ("use_per_sample_weights", ctypes.c_int),
                ("per_sample_weights", TensorDesc)]


class IndexArgs(ctypes.Structure):
    _fields_ = [("x", ctypes.c_void_p), ("index", ctypes.c_void_p), ("src", ctypes.c_void_p), ("y", ctypes.c_void_p),
                ("err", ctypes.c_void_p), ("indices", ctypes.c_void_p * 4), ("offsets", ctypes.c_void_p),
                ("per_sample_weights", ctypes.c_void_p), ("argmax", ctypes.c_void_p), ("count", ctypes.c_void_p)]


# The C layout, as tests/host/test_indexing_host.c checks it with sizeof and offsetof.
assert ctypes.sizeof(IndexDesc) == 1440 and IndexDesc.dim.offset == 552 and IndexDesc.value.offset == 560
assert IndexDesc.padding_idx.offset == 584 and IndexDesc.atomic.offset == 592
assert IndexDesc.indices.offset == 608 and IndexDesc.mode.offset == 1152 and IndexDesc.offsets.offset == 1160
assert IndexDesc.per_sample_weights.offset == 1304
assert ctypes.sizeof(IndexArgs) == 104 and IndexArgs.count.offset == 96

_vp, _i32, _pp = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)


class Baracuda(Lib):
    SIGS = {
        "brc_index_plan": (_i32, [_vp, ctypes.POINTER(IndexDesc), _vp, _pp]),
        "brc_index_run": (_i32, [_vp, _vp, _vp, _vp, _vp, _vp, _vp]),
        "brc_index_run_args": (_i32, [_vp, ctypes.POINTER(IndexArgs), _vp, ctypes.c_size_t, _vp]),
        "brc_plan_workspace_size": (ctypes.c_size_t, [_vp]),
    }

    @staticmethod
    def desc(t):
        """The descriptor of a torch tensor (its own strides)."""
        d = TensorDesc()
        d.dtype = {torch.float32: 0, torch.bfloat16: 3, torch.int32: 9, torch.int64: 10, torch.bool: 12,
                   torch.uint8: 7}[t.dtype]
        d.rank = t.dim()
        for i in range(t.dim()):
            d.shape[i], d.strides[i] = t.shape[i], t.stride(i)
        return d


def cases(quick):
    s = 8 if quick else 1
    return {
        "embedding": [((131072 // s, 4096), 32768 // s), ((32000 // s, 1024), 8192 // s)],
        "index_select": [((262144 // s, 1024), 0, 131072 // s), ((4096 // s, 8192), 1, 4096 // s)],
        "gather": [((8192 // s, 8192), 1, (8192 // s, 4096)), ((8192 // s, 8192), 0, (4096 // s, 8192))],
        "embedding_backward": [((32000 // s, 4096), 32768 // s, 0), ((32000 // s, 4096), 32768 // s, 1)],
        "index_add": [((32000 // s, 4096), 32768 // s)],
        "masked_select": [(8192 // s, 8192)],
        "nonzero": [(8192 // s, 8192)],
        "embedding_bag": [((32000 // s, 1024), 4096 // s, 32, m) for m in ("sum", "mean", "max")],
        "index_put": [((32000 // s, 1024), 131072 // s)],
    }


class Bench:
    def __init__(self, brc, ctx, copy_gbps):
        self.brc, self.ctx, self.copy_gbps = brc, ctx, copy_gbps
        self.stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        self.rows, self.failures = [], []

    def measure(self, op, shape, dtype, direction, nbytes, d, ptrs, out, ref, torch_cands, exact, note="",
                poison=True, check=None):
        """ptrs: brc_index_run's four pointers, or an IndexArgs (run through brc_index_run_args with the
        plan's workspace). check: a function of nothing that raises when our output is wrong (instead of
        comparing out with ref)."""
        lib, brc = self.brc.lib, self.brc
        plan = brc.plan("brc_index_plan", d, self.ctx)
        try:
            sku = lib.brc_plan_sku(plan).decode()
            if isinstance(ptrs, IndexArgs):
                wsz = lib.brc_plan_workspace_size(plan)
                ws = torch.empty(max(wsz, 1), dtype=torch.uint8, device="cuda")
                run = lambda: brc.check(lib.brc_index_run_args(plan, ctypes.byref(ptrs), ws.data_ptr(), wsz,
                                                               self.stream), op)
            else:
                run = lambda: brc.check(lib.brc_index_run(plan, *ptrs, None, self.stream), op)
            if poison:  # not for in-place updates
                out.fill_(float("nan") if out.is_floating_point() else -1)
            run()
            torch.cuda.synchronize()
            tag = f"{op} {dtype} {shape}"
            if check is not None:
                check()
            elif exact:
                if not torch.equal(out, ref):
                    raise AssertionError(f"{tag}: differs from PyTorch")
            else:
                err = rel_l2_of(out, ref)
                if not err < (2e-2 if dtype == "bf16" else 1e-5):
                    raise AssertionError(f"{tag}: relative L2 error {err:.3e}")
            tnote, torch_fn = first_working(torch_cands)
            ours_us = time_us(run)
            torch_us = time_us(torch_fn)
            gbps = nbytes / (ours_us * 1e-6) / 1e9
            row = {"op": op, "shape": list(shape), "dtype": dtype, "direction": direction,
                   "ours_us": round(ours_us, 3), "torch_us": round(torch_us, 3), "gbps": round(gbps, 1),
                   "pct_copy": round(100.0 * gbps / self.copy_gbps, 1), "ratio_vs_torch": round(torch_us / ours_us, 3),
                   "sku": sku, "note": (note + "; " if note else "") + "torch: " + tnote}
            self.rows.append(row)
            print(f"  {op:<18} {dtype:<5} {str(shape):<28} ours {ours_us:9.1f} us  torch {torch_us:9.1f} us  "
                  f"{gbps:7.1f} GB/s  {row['pct_copy']:5.1f}%  {sku}", file=sys.stderr, flush=True)
        finally:
            torch.cuda.synchronize()
            lib.brc_plan_destroy(plan)

    def run(self, op, dtype, case):
        td = TORCH_DTYPE[dtype]
        es = torch.tensor([], dtype=td).element_size()
        g = torch.Generator(device="cuda").manual_seed(17)
        rand = lambda *s: torch.randn(*s, device="cuda", generator=g).to(td)
        idx = lambda hi, *s: torch.randint(0, hi, s, device="cuda", generator=g, dtype=torch.int64)
        D = self.brc.desc
        if op == "embedding":
            (V, C), N = case
            w, ix = rand(V, C), idx(V, N)
            y = torch.empty(N, C, dtype=td, device="cuda")
            d = IndexDesc(kind=KIND[op], x=D(w), index=D(ix), y=D(y))
            self.measure(op, (V, C, N), dtype, "fwd", 2 * N * C * es + N * 8, d,
                         (w.data_ptr(), ix.data_ptr(), None, y.data_ptr()), y, torch.nn.functional.embedding(ix, w),
                         [("F.embedding(ix, w)", lambda: torch.nn.functional.embedding(ix, w))], True)
        elif op == "index_select":
            (R, C), dim, N = case
            x, ix = rand(R, C), idx((R, C)[dim], N)
            y = torch.empty((N, C) if dim == 0 else (R, N), dtype=td, device="cuda")
            y2 = torch.empty_like(y)
            d = IndexDesc(kind=KIND[op], x=D(x), index=D(ix), y=D(y), dim=dim)
            self.measure(op, (R, C, dim, N), dtype, "fwd", 2 * y.numel() * es + N * 8, d,
                         (x.data_ptr(), ix.data_ptr(), None, y.data_ptr()), y, torch.index_select(x, dim, ix),
                         [(f"torch.index_select(x, {dim}, ix, out=y2)",
                           lambda: torch.index_select(x, dim, ix, out=y2))], True, f"dim {dim}")
        elif op == "gather":
            (R, C), dim, ish = case
            x, ix = rand(R, C), idx((R, C)[dim], *ish)
            y = torch.empty(ish, dtype=td, device="cuda")
            y2 = torch.empty_like(y)
            d = IndexDesc(kind=KIND[op], x=D(x), index=D(ix), y=D(y), dim=dim)
            self.measure(op, (R, C, dim) + tuple(ish), dtype, "fwd", y.numel() * (2 * es + 8), d,
                         (x.data_ptr(), ix.data_ptr(), None, y.data_ptr()), y, torch.gather(x, dim, ix),
                         [(f"torch.gather(x, {dim}, ix, out=y2)", lambda: torch.gather(x, dim, ix, out=y2))], True,
                         f"dim {dim}")
        elif op == "embedding_backward":
            (V, C), N, atomic = case
            dy, ix = rand(N, C), idx(V, N)
            dw = torch.empty(V, C, dtype=td, device="cuda")
            d = IndexDesc(kind=KIND[op], index=D(ix), src=D(dy), y=D(dw), atomic=atomic)
            ref = torch.ops.aten.embedding_dense_backward(dy.float(), ix, V, -1, False).to(td)
            cands = [("aten.embedding_dense_backward(dy, ix, V, -1, False)",
                      lambda: torch.ops.aten.embedding_dense_backward(dy, ix, V, -1, False))]
            self.measure(op, (V, C, N), dtype, "bwd", N * C * es + N * 8 + V * C * es, d,
                         (None, ix.data_ptr(), dy.data_ptr(), dw.data_ptr()), dw, ref, cands, False,
                         "atomic" if atomic else "deterministic")
        elif op == "index_add":
            (V, C), N = case
            y0, src, ix = rand(V, C), rand(N, C), idx(V, N)
            y, y2 = y0.clone(), y0.clone()
            ref = y0.float().index_add(0, ix, src.float()).to(td)
            d = IndexDesc(kind=KIND[op], index=D(ix), src=D(src), y=D(y), dim=0, value=1.0)
            # Timed repeatedly in place (the values drift; only time matters after the check).
            self.measure(op, (V, C, N), dtype, "fwd", 3 * N * C * es + N * 8, d,
                         (None, ix.data_ptr(), src.data_ptr(), y.data_ptr()), y, ref,
                         [("y2.index_add_(0, ix, src)", lambda: y2.index_add_(0, ix, src))], False, poison=False)

        elif op == "masked_select":
            R, C = case
            x = rand(R, C)
            mask = torch.rand(R, C, device="cuda", generator=g) < 0.5
            y = torch.empty(R * C, dtype=td, device="cuda")
            cnt = torch.empty(1, dtype=torch.int64, device="cuda")
            d = IndexDesc(kind=KIND[op], x=D(x), index=D(mask), y=D(y))
            a = IndexArgs(x=x.data_ptr(), index=mask.data_ptr(), y=y.data_ptr(), count=cnt.data_ptr())
            ref = torch.masked_select(x, mask)
            n = ref.numel()

            def check():
                if int(cnt.item()) != n or not torch.equal(y[:n], ref):
                    raise AssertionError(f"masked_select {dtype}: count {int(cnt.item())} vs {n} or values differ")
            self.measure(op, (R, C), dtype, "fwd", R * C * (1 + es) + n * es, d, a, y, ref,
                         [("torch.masked_select(x, mask) (synchronizes)", lambda: torch.masked_select(x, mask))],
                         True, "density 0.5", check=check)
        elif op == "nonzero":
            R, C = case
            x = rand(R, C) * (torch.rand(R, C, device="cuda", generator=g) < 0.5).to(td)
            y = torch.empty(R * C, 2, dtype=torch.int64, device="cuda")
            cnt = torch.empty(1, dtype=torch.int64, device="cuda")
            d = IndexDesc(kind=KIND[op], x=D(x), y=D(y))
            a = IndexArgs(x=x.data_ptr(), y=y.data_ptr(), count=cnt.data_ptr())
            ref = torch.nonzero(x)
            n = ref.shape[0]

            def check():
                if int(cnt.item()) != n or not torch.equal(y[:n], ref):
                    raise AssertionError(f"nonzero {dtype}: count {int(cnt.item())} vs {n} or rows differ")
            self.measure(op, (R, C), dtype, "fwd", R * C * es + n * 16, d, a, y, ref,
                         [("torch.nonzero(x) (synchronizes)", lambda: torch.nonzero(x))], True, "density 0.5",
                         check=check)
        elif op == "embedding_bag":
            (V, C), B, L, mode = case
            w, ix = rand(V, C), idx(V, B, L)
            y = torch.empty(B, C, dtype=td, device="cuda")
            am = torch.empty(B, C, dtype=torch.int64, device="cuda")
            d = IndexDesc(kind=KIND[op], x=D(w), index=D(ix), y=D(y), mode=BAG_MODE[mode])
            a = IndexArgs(x=w.data_ptr(), index=ix.data_ptr(), y=y.data_ptr(), argmax=am.data_ptr())
            F = torch.nn.functional
            ref = F.embedding_bag(ix, w.float(), mode=mode).to(td)
            exact = mode == "max"
            nbytes = B * L * C * es + B * C * es + B * L * 8 + (B * C * 8 if mode == "max" else 0)
            self.measure(op, (V, C, B, L), dtype, "fwd", nbytes, d, a, y, ref,
                         [(f"F.embedding_bag(ix, w, mode='{mode}')", lambda: F.embedding_bag(ix, w, mode=mode))],
                         exact, f"mode {mode}")
        elif op == "index_put":
            (V, C), N = case
            y0, vals, ix = rand(V, C), rand(N, C), idx(V, N)
            y, y2 = y0.clone(), y0.clone()
            ref = y0.float().index_put((ix,), vals.float(), accumulate=True).to(td)
            d = IndexDesc(kind=KIND[op], y=D(y), src=D(vals), nindices=1, accumulate=1)
            d.indices[0] = D(ix)
            a = IndexArgs(src=vals.data_ptr(), y=y.data_ptr())
            a.indices[0] = ix.data_ptr()
            self.measure(op, (V, C, N), dtype, "fwd", 3 * N * C * es + N * 8, d, a, y, ref,
                         [("y2.index_put_((ix,), v, accumulate=True)",
                           lambda: y2.index_put_((ix,), vals, accumulate=True))], False, "accumulate", poison=False)

    def run_case(self, op, dtype, case):
        try:
            self.run(op, dtype, case)
        finally:
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
    all_cases = cases(args.quick)
    for op in args.ops.split(","):
        for dtype in args.dtypes.split(","):
            for case in all_cases[op]:
                attempt(bench.failures, f"{op} {dtype} {case}", lambda: bench.run_case(op, dtype, case))
    brc.lib.brc_context_destroy(ctx)
    doc = results_doc(copy_gbps, bench.rows, (f"CUDA events around {REPS} launches after {WARMUP} warm-ups, median of "
                      f"{REPEATS} repeats, per launch; gbps = bytes the op must move / ours_us; pct_copy = gbps / "
                      "copy_gbps; ratio_vs_torch = torch_us / ours_us"))
    if args.out:
        write_results(args.out, doc)
    for r in doc["rows"]:
        print(f"{r['op']:<18} {r['dtype']:<5} {str(r['shape']):<28} {r['ours_us']:9.1f} {r['torch_us']:9.1f} "
              f"{r['gbps']:7.1f} {r['pct_copy']:6.1f}% {r['ratio_vs_torch']:6.2f}x")
    exit_if_failed(bench.failures)


if __name__ == "__main__":
    main()
