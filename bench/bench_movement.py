#!/usr/bin/env python3
"""Movement family benchmark: copy, transpose / permute, concat, split, KV-cache write_slice,
fill and pad, baracuda (through ctypes) against PyTorch eager on the same data, side by side.

Run on the GPU machine:
    python3 bench/bench_movement.py --lib build/libbaracuda.so --out bench/results/movement.json [--quick]

Each op is timed twice, both sides alike:
  - eager (ours_us, torch_us, pct_copy, ratio_vs_torch): CUDA events on one stream around
    back-to-back launches from Python (bench_elementwise.time_us: warm-ups, then the median of
    repeats, per launch). Small rows are bound by the host here (the ctypes call or PyTorch's
    dispatcher), not by the kernel;
  - from a CUDA graph (ours_graph_us, torch_graph_us, pct_copy_graph, ratio_vs_torch_graph): GRAPH_N
    launches of the same call (ours through ctypes, PyTorch's op) captured into a
    torch.cuda.CUDAGraph and replayed, ours and PyTorch's graphs alternating over rounds
    (bench_elementwise.interleaved; the ratio is the median of the rounds' ratios); per launch. This
    is the kernels' time without the host in between.
The targets (issue 7) are read as: >= 90% of copy at large sizes from pct_copy_graph (the kernel's
bandwidth; at large sizes it agrees with pct_copy); never slower than PyTorch from both
ratio_vs_torch (what an eager caller sees) and ratio_vs_torch_graph.
Before timing, our output is poisoned, computed once and compared with PyTorch's result bit for bit
(movement must be exact). GB/s counts the bytes the op must move (inputs read once, outputs written
once; fill: written only); % copy is that over the device-to-device copy bandwidth measured in the
same run. Writes the results JSON (format: shared/design/performance.md) and prints a table.
"""
import argparse
import ctypes
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_elementwise import (TensorDesc, Lib, time_us, interleaved, WARMUP, REPS, REPEATS,  # noqa: E402
                               copy_bandwidth, first_working, results_doc, write_results, attempt, exit_if_failed)

GRAPH_N, GRAPH_ROUNDS = 20, 7  # launches captured in one graph; interleaved rounds of replays

BRC_DTYPE = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3, torch.uint8: 7,
             torch.int32: 9, torch.int64: 10}
NAMES = {torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16", torch.uint8: "u8"}


class CopyDesc(ctypes.Structure):
    _fields_ = [("x", TensorDesc), ("y", TensorDesc)]


class PermuteDesc(ctypes.Structure):
    _fields_ = [("x", TensorDesc), ("y", TensorDesc), ("perm", ctypes.c_int32 * 8)]


class ConcatDesc(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int32), ("xs", ctypes.POINTER(TensorDesc)), ("y", TensorDesc), ("dim", ctypes.c_int32)]


class SplitDesc(ctypes.Structure):
    _fields_ = [("x", TensorDesc), ("n", ctypes.c_int32), ("ys", ctypes.POINTER(TensorDesc)), ("dim", ctypes.c_int32)]


class SliceDesc(ctypes.Structure):
    _fields_ = [("x", TensorDesc), ("y", TensorDesc), ("dim", ctypes.c_int32), ("dynamic_start", ctypes.c_int32),
                ("start", ctypes.c_int64), ("step", ctypes.c_int64)]


class FillDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("y", TensorDesc), ("x", TensorDesc), ("a", ctypes.c_double),
                ("b", ctypes.c_double), ("k", ctypes.c_int64)]


class PadDesc(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int), ("x", TensorDesc), ("y", TensorDesc), ("lo", ctypes.c_int64 * 8),
                ("hi", ctypes.c_int64 * 8), ("value", ctypes.c_double)]


# The C layouts on x86-64 / aarch64 Linux, as tests/host/test_movement_host.c checks them.
assert ctypes.sizeof(CopyDesc) == 272 and ctypes.sizeof(PermuteDesc) == 304
assert ctypes.sizeof(ConcatDesc) == 160 and ConcatDesc.y.offset == 16 and ConcatDesc.dim.offset == 152
assert ctypes.sizeof(SplitDesc) == 160 and SplitDesc.ys.offset == 144
assert ctypes.sizeof(SliceDesc) == 296 and SliceDesc.start.offset == 280
assert ctypes.sizeof(PadDesc) == 416 and PadDesc.value.offset == 408

_vp, _i32, _pp = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)


class Baracuda(Lib):
    """The movement entry points."""

    SIGS = {
        "brc_copy_plan": (_i32, [_vp, ctypes.POINTER(CopyDesc), _vp, _pp]),
        "brc_permute_plan": (_i32, [_vp, ctypes.POINTER(PermuteDesc), _vp, _pp]),
        "brc_concat_plan": (_i32, [_vp, ctypes.POINTER(ConcatDesc), _vp, _pp]),
        "brc_split_plan": (_i32, [_vp, ctypes.POINTER(SplitDesc), _vp, _pp]),
        "brc_write_slice_plan": (_i32, [_vp, ctypes.POINTER(SliceDesc), _vp, _pp]),
        "brc_fill_plan": (_i32, [_vp, ctypes.POINTER(FillDesc), _vp, _pp]),
        "brc_pad_plan": (_i32, [_vp, ctypes.POINTER(PadDesc), _vp, _pp]),
        "brc_copy_run": (_i32, [_vp, _vp, _vp, _vp]),
        "brc_concat_run": (_i32, [_vp, ctypes.POINTER(ctypes.c_void_p), _vp, _vp]),
        "brc_split_run": (_i32, [_vp, _vp, ctypes.POINTER(ctypes.c_void_p), _vp]),
        "brc_write_slice_run": (_i32, [_vp, _vp, _vp, _vp, _vp]),
        "brc_fill_run": (_i32, [_vp, _vp, _vp, _vp]),
        "brc_pad_run": (_i32, [_vp, _vp, _vp, _vp]),
        "brc_plan_descriptor": (ctypes.c_char_p, [_vp]),
    }


def desc_of(t):
    """The TensorDesc of a torch tensor (its own strides)."""
    d = TensorDesc()
    d.dtype, d.rank = BRC_DTYPE[t.dtype], t.dim()
    for i, (n, s) in enumerate(zip(t.shape, t.stride())):
        d.shape[i], d.strides[i] = n, s
    return d


def es_of(dtype):
    return torch.tensor([], dtype=dtype).element_size()


def rand(shape, dtype, g):
    if dtype.is_floating_point:
        return torch.randn(shape, device="cuda", generator=g).to(dtype)
    return torch.randint(1, 200, shape, device="cuda", generator=g, dtype=torch.int32).to(dtype)


class Bench:
    def __init__(self, brc, ctx, copy_gbps):
        self.brc, self.ctx, self.copy_gbps = brc, ctx, copy_gbps
        self.stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        self.rows, self.failures = [], []

    def record(self, op, shape, dtype, nbytes, plan, ours_fn, torch_cands, outs, refs, note="", poison=True):
        lib = self.brc.lib
        for o in outs if poison else []:  # outputs are dense: poison their bytes
            o.view(torch.uint8).fill_(0xA5)
        ours_fn()
        torch.cuda.synchronize()
        tag = f"{op} {NAMES[dtype]} {shape}"
        for o, r in zip(outs, refs):
            if not torch.equal(o.view(torch.uint8), r.contiguous().view(torch.uint8)):
                raise AssertionError(f"{tag}: differs from PyTorch's result (bitwise)")
        tnote, torch_fn = first_working(torch_cands)
        ours_us, torch_us = time_us(ours_fn), time_us(torch_fn)
        (ours_g, torch_g), ratio_g = self.graph_times(ours_fn, torch_fn)
        gbps = nbytes / (ours_us * 1e-6) / 1e9
        gbps_g = nbytes / (ours_g * 1e-6) / 1e9
        row = {"op": op, "shape": list(shape), "dtype": NAMES[dtype], "direction": "fwd",
               "ours_us": round(ours_us, 3), "torch_us": round(torch_us, 3), "gbps": round(gbps, 1),
               "pct_copy": round(100.0 * gbps / self.copy_gbps, 1), "ratio_vs_torch": round(torch_us / ours_us, 3),
               "ours_graph_us": round(ours_g, 3), "torch_graph_us": round(torch_g, 3),
               "pct_copy_graph": round(100.0 * gbps_g / self.copy_gbps, 1), "ratio_vs_torch_graph": round(ratio_g, 3),
               "sku": lib.brc_plan_sku(plan).decode(), "descriptor": lib.brc_plan_descriptor(plan).decode(),
               "note": f"torch: {tnote}{'; ' + note if note else ''}"}
        self.rows.append(row)
        print(f"  {op:<14} {NAMES[dtype]:<5} {str(shape):<24} ours {ours_us:9.1f} us  torch {torch_us:9.1f} us  "
              f"{gbps:7.1f} GB/s {row['pct_copy']:5.1f}%  {row['ratio_vs_torch']:.2f}x | graph ours {ours_g:9.2f} "
              f"torch {torch_g:9.2f} {row['pct_copy_graph']:5.1f}% {ratio_g:.3f}x  {row['sku']}",
              file=sys.stderr, flush=True)

    def graph_times(self, ours_fn, torch_fn):
        """Per-launch times of GRAPH_N launches of each fn captured into a CUDA graph and replayed
        (ours and PyTorch's graphs alternating, bench_elementwise.interleaved), and the median over
        rounds of PyTorch's time over ours. Our calls take the capture stream through self.stream
        (the ctypes object every run lambda passes), set while capturing."""
        graphs = []
        old = self.stream.value
        try:
            for fn in (ours_fn, torch_fn):
                s = torch.cuda.Stream()
                s.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(s):
                    self.stream.value = s.cuda_stream
                    for _ in range(WARMUP):
                        fn()
                torch.cuda.current_stream().wait_stream(s)
                torch.cuda.synchronize()
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    self.stream.value = torch.cuda.current_stream().cuda_stream
                    for _ in range(GRAPH_N):
                        fn()
                self.stream.value = old
                graphs.append(g)
            med, ratios = interleaved(graphs[0].replay, graphs[1].replay, rounds=GRAPH_ROUNDS, reps=1)
        finally:
            self.stream.value = old
            torch.cuda.synchronize()
        del graphs
        return [m / GRAPH_N for m in med], ratios[0]

    def plan(self, fn, desc):
        return self.brc.plan(fn, desc, self.ctx)

    def run_case(self, op, dtype, shape):
        brc, lib, st = self.brc, self.brc.lib, self.stream
        g = torch.Generator(device="cuda").manual_seed(sum(shape) * 31 + len(op) + es_of(dtype))
        es = torch.tensor([], dtype=dtype).element_size()
        plans = []
        chk = brc.check
        try:
            if op == "copy":
                x = rand(shape, dtype, g)
                y = torch.empty_like(x)
                p = self.plan("brc_copy_plan", CopyDesc(desc_of(x), desc_of(y)))
                plans.append(p)
                self.record(op, shape, dtype, 2 * x.numel() * es, p,
                            lambda: chk(lib.brc_copy_run(p, x.data_ptr(), y.data_ptr(), st), op),
                            [("y.copy_(x)", lambda: y.copy_(x))], [y], [x])
            elif op in ("transpose", "permute"):
                x = rand(shape, dtype, g)
                perm = (1, 0) if op == "transpose" else (0, 2, 1, 3)
                xv = x.permute(*perm)
                y = torch.empty(xv.shape, dtype=dtype, device="cuda")
                pd = PermuteDesc(desc_of(x), desc_of(y))
                for i, a in enumerate(perm):
                    pd.perm[i] = a
                p = self.plan("brc_permute_plan", pd)
                plans.append(p)
                t = torch.empty_like(y)
                self.record(op, shape, dtype, 2 * x.numel() * es, p,
                            lambda: chk(lib.brc_copy_run(p, x.data_ptr(), y.data_ptr(), st), op),
                            [(f"t.copy_(x.permute{perm})", lambda: t.copy_(xv))], [y], [xv.contiguous()],
                            note=f"perm {perm}")
            elif op in ("concat", "split"):
                rows, cols, n, dim = shape
                parts = [rand((rows, cols), dtype, g) for _ in range(n)]
                big = torch.cat(parts, dim)
                descs = (TensorDesc * n)(*[desc_of(t) for t in parts])
                if op == "concat":
                    y = torch.empty_like(big)
                    p = self.plan("brc_concat_plan", ConcatDesc(n, descs, desc_of(y), dim))
                    ptrs = (ctypes.c_void_p * n)(*[t.data_ptr() for t in parts])
                    plans.append(p)
                    self.record(op, shape, dtype, 2 * big.numel() * es, p,
                                lambda: chk(lib.brc_concat_run(p, ptrs, y.data_ptr(), st), op),
                                [(f"torch.cat(xs, {dim}, out=y)", lambda: torch.cat(parts, dim, out=y)),
                                 (f"torch.cat(xs, {dim})", lambda: torch.cat(parts, dim))], [y], [big],
                                note=f"{n} x [{rows}, {cols}] along dim {dim}")
                else:
                    outs = [torch.empty_like(t) for t in parts]
                    p = self.plan("brc_split_plan", SplitDesc(desc_of(big), n, descs, dim))
                    ptrs = (ctypes.c_void_p * n)(*[t.data_ptr() for t in outs])
                    plans.append(p)
                    tmp = [torch.empty_like(t) for t in parts]

                    def torch_split():
                        for o, s in zip(tmp, torch.split(big, [t.shape[dim] for t in parts], dim)):
                            o.copy_(s)
                    self.record(op, shape, dtype, 2 * big.numel() * es, p,
                                lambda: chk(lib.brc_split_run(p, big.data_ptr(), ptrs, st), op),
                                [("copy_ of each torch.split view", torch_split)], outs, parts,
                                note=f"{n} x [{rows}, {cols}] along dim {dim}")
            elif op == "kv_append":
                B, H, S, D = shape
                cache = rand((B, H, S, D), dtype, g)
                tok = rand((B, H, 1, D), dtype, g)
                pos = S // 2
                start = torch.tensor([pos], dtype=torch.int64, device="cuda")
                p = self.plan("brc_write_slice_plan", SliceDesc(desc_of(tok), desc_of(cache), 2, 1, 0, 1))
                plans.append(p)
                ref = cache.clone()
                ref[:, :, pos:pos + 1].copy_(tok)
                mine = cache.clone()
                self.record(op, shape, dtype, 2 * tok.numel() * es, p,
                            lambda: chk(lib.brc_write_slice_run(p, tok.data_ptr(), mine.data_ptr(), start.data_ptr(),
                                                                st), op),
                            [("cache[:, :, pos:pos+1].copy_(tok) (host position)",
                              lambda: cache[:, :, pos:pos + 1].copy_(tok)),
                             ("cache.index_copy_(2, start, tok) (device position)",
                              lambda: cache.index_copy_(2, start, tok))], [mine], [ref],
                            note="start read from device memory", poison=False)  # the rest of the cache must stay
            elif op == "fill":
                y = torch.empty(shape, dtype=dtype, device="cuda")
                p = self.plan("brc_fill_plan", FillDesc(0, desc_of(y), desc_of(y), 0.0, 0.0, 0))
                plans.append(p)
                self.record(op, shape, dtype, y.numel() * es, p,
                            lambda: chk(lib.brc_fill_run(p, None, y.data_ptr(), st), op),
                            [("y.zero_()", lambda: y.zero_())], [y], [torch.zeros_like(y)], note="zeros")
            elif op == "pad_reflect":
                x = rand(shape, dtype, g)
                ref = F.pad(x, (3, 3, 3, 3), mode="reflect")
                y = torch.empty_like(ref)
                pd = PadDesc(1, desc_of(x), desc_of(y))
                pd.lo[2] = pd.lo[3] = pd.hi[2] = pd.hi[3] = 3
                p = self.plan("brc_pad_plan", pd)
                plans.append(p)
                self.record(op, shape, dtype, (x.numel() + y.numel()) * es, p,
                            lambda: chk(lib.brc_pad_run(p, x.data_ptr(), y.data_ptr(), st), op),
                            [("F.pad(x, (3, 3, 3, 3), mode='reflect')", lambda: F.pad(x, (3, 3, 3, 3), mode="reflect"))],
                            [y], [ref])
        finally:
            torch.cuda.synchronize()
            for p in plans:
                lib.brc_plan_destroy(p)
            torch.cuda.empty_cache()


# (op, shape): large sizes first (the bandwidth targets), then small ones (launch overhead).
CASES = [
    ("copy", (32768, 4096)), ("copy", (64, 1024)), ("copy", (1000003,)),
    ("transpose", (8192, 8192)), ("transpose", (4096, 1000)), ("transpose", (512, 512)),
    ("permute", (8, 2048, 32, 128)), ("permute", (1, 128, 32, 128)),
    ("concat", (8192, 4096, 4, 1)), ("concat", (8192, 4096, 4, 0)), ("concat", (64, 1000, 3, 1)),
    ("split", (8192, 4096, 4, 1)), ("split", (64, 1000, 3, 1)),
    ("kv_append", (32, 8, 4096, 128)),
    ("fill", (32768, 4096)), ("fill", (64, 1024)),
    ("pad_reflect", (16, 64, 256, 256)),
]
QUICK = [("copy", (1024, 1024)), ("transpose", (1024, 1024)), ("concat", (1024, 512, 4, 1)),
         ("split", (1024, 512, 4, 1)), ("kv_append", (4, 8, 256, 128)), ("fill", (1024, 1024)),
         ("pad_reflect", (2, 8, 64, 64))]


def print_table(doc):
    print(f"{doc['device']}  driver {doc['driver']}  commit {doc['commit']}  copy {doc['copy_gbps']:.1f} GB/s")
    head = (f"{'op':<12} {'dtype':<5} {'shape':>22} {'ours_us':>9} {'torch_us':>9} {'GB/s':>7} {'% copy':>7} {'vs torch':>8}"
            f" | {'graph us':>9} {'torch':>9} {'% copy':>7} {'vs torch':>8}")
    print(head)
    print("-" * len(head))
    for r in doc["rows"]:
        print(f"{r['op']:<12} {r['dtype']:<5} {str(tuple(r['shape'])):>22} {r['ours_us']:9.1f} {r['torch_us']:9.1f} "
              f"{r['gbps']:7.1f} {r['pct_copy']:6.1f}% {r['ratio_vs_torch']:7.3f}x | {r['ours_graph_us']:9.2f} "
              f"{r['torch_graph_us']:9.2f} {r['pct_copy_graph']:6.1f}% {r['ratio_vs_torch_graph']:7.3f}x")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", default=None, help="write the results JSON here")
    ap.add_argument("--quick", action="store_true", help="small shapes only")
    ap.add_argument("--device", type=int, default=0)
    ap.add_argument("--dtypes", default="bf16,f32")
    ap.add_argument("--ops", default=None, help="only these ops (comma-separated, e.g. transpose,pad_reflect)")
    ap.add_argument("--cases", default=None,
                    help="these cases instead of the table's (op:shape,... with shape dims joined by x, e.g. "
                         "copy:65536,copy:64x1024)")
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
    dtypes = [{"bf16": torch.bfloat16, "f32": torch.float32, "f16": torch.float16, "u8": torch.uint8}[d]
              for d in args.dtypes.split(",")]
    only = set(args.ops.split(",")) if args.ops else None
    cases = QUICK if args.quick else CASES
    if args.cases:
        cases = [(c.split(":")[0], tuple(int(v) for v in c.split(":")[1].split("x"))) for c in args.cases.split(",")]
    for op, shape in cases:
        if only and op not in only:
            continue
        for dtype in dtypes:
            attempt(bench.failures, f"{op} {NAMES[dtype]} {shape}", lambda: bench.run_case(op, dtype, shape))
    brc.lib.brc_context_destroy(ctx)
    doc = results_doc(copy_gbps, bench.rows, (
        f"CUDA events around {REPS} launches after {WARMUP} warm-ups, median of {REPEATS} repeats, per launch; "
        f"*_graph_us: {GRAPH_N} launches captured in a CUDA graph, replays of ours and PyTorch's alternating over "
        f"{GRAPH_ROUNDS} rounds, median per launch; ratio_vs_torch_graph: median of the rounds' ratios; "
        "gbps = bytes the op must move (inputs read once, outputs written once; fill: written) / ours_us; "
        "pct_copy = gbps / copy_gbps; ratio_vs_torch = torch_us / ours_us; outputs checked bit for bit against "
        "PyTorch's before timing; each row's note says what PyTorch call was timed"))
    if args.out:
        write_results(args.out, doc)
    print_table(doc)
    exit_if_failed(bench.failures)


if __name__ == "__main__":
    main()
