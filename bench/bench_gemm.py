#!/usr/bin/env python3
"""GEMM family benchmark: baracuda (through ctypes) against PyTorch in one run, side by side.

Run on the GPU machine:
    python3 bench/bench_gemm.py --lib build/libbaracuda.so --out bench/results/gemm.json

Large shapes (M x N x K): 8192^3, 4096^3 and 4096 x 14336 x 4096, bf16 and f16, against
torch.matmul (A [M, K] @ B [K, N], all row-major); the linear layer with a bias and with bias +
gelu_tanh at 4096 x 14336 x 4096 against F.linear / F.gelu(F.linear) (ours fuses the epilogue);
fp8 e4m3 -> bf16 with scales against torch._scaled_mm where PyTorch has it. Decode shapes: M in
{1, 2, 4, 8, 16} x K = 4096 x N in {4096, 14336} and M in {1, 8} x K = 14336 x N = 4096, F.linear
(x [M, K], W [N, K]) bf16 and f16: ours as selected by default (the GEMV for M <= 8), with the
cuBLASLt plan's time beside it (lib_us), GB/s = the weight, x and y bytes over the time, % of the
device-to-device copy bandwidth measured in the same run.

Timing: large shapes in 9 interleaved rounds (ours, PyTorch's, ours with autotune; the order reversed
every other round), the ratio the median of the per-round ratios, with the kernels each side
launched (torch.profiler); decode: CUDA events around back-to-back launches after warm-ups, median
of repeats (bench_elementwise.time_us); decode shapes are also timed as one CUDA graph of the same launches
(graph_* fields: device time without the host's per-call cost); decode weights are rotated over enough copies that each launch
reads from DRAM, not L2 (50 MB), for ours and PyTorch alike. Correctness: our output is poisoned
with NaN, computed once and compared with PyTorch in float64 (relative L2 error under the dtype's
tolerance) before anything is timed. Writes bench/results/gemm.json (format:
shared/design/performance.md) and prints a table.
"""
import argparse
import ctypes
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_elementwise import (TensorDesc, Lib, time_us, WARMUP, REPS, REPEATS, copy_bandwidth,  # noqa: E402
                               rel_l2_of, results_doc, write_results, attempt, interleaved)

BRC_DTYPE = {"f32": 0, "f16": 2, "bf16": 3, "fp8e4m3": 4}
TORCH_DTYPE = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16, "fp8e4m3": torch.float8_e4m3fn}
TOLERANCE = {"f16": 2e-3, "bf16": 1e-2}
ACT = {"none": 0, "relu": 1, "gelu": 2, "gelu_tanh": 3}
BACKEND = {"auto": 0, "bespoke": 1, "library": 2}


class GemmDesc(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("a", TensorDesc), ("b", TensorDesc), ("d", TensorDesc),
                ("trans_a", ctypes.c_int), ("trans_b", ctypes.c_int), ("use_c", ctypes.c_int), ("c", TensorDesc),
                ("act", ctypes.c_int), ("use_bias", ctypes.c_int), ("bias", TensorDesc), ("use_aux", ctypes.c_int),
                ("aux", TensorDesc)]


class GemmArgs(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("a", ctypes.c_void_p), ("b", ctypes.c_void_p),
                ("c", ctypes.c_void_p), ("d", ctypes.c_void_p), ("bias", ctypes.c_void_p), ("aux", ctypes.c_void_p),
                ("alpha", ctypes.c_double), ("beta", ctypes.c_double), ("a_scale", ctypes.c_void_p),
                ("b_scale", ctypes.c_void_p), ("d_scale", ctypes.c_void_p), ("amax_d", ctypes.c_void_p),
                ("workspace", ctypes.c_void_p), ("workspace_size", ctypes.c_size_t)]


class Prefs(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("backend", ctypes.c_int), ("force_strided", ctypes.c_int),
                ("vector_width", ctypes.c_int), ("allow_tf32", ctypes.c_int), ("autotune", ctypes.c_int),
                ("max_workspace", ctypes.c_size_t)]


# The C layouts on x86-64 / aarch64 Linux, as tests/host/test_gemm_host.c checks them.
assert ctypes.sizeof(GemmDesc) == 8 + 3 * 136 + 12 + 4 + 136 + 8 + 136 + 8 + 136 == 856
assert GemmDesc.c.offset == 432 and GemmDesc.bias.offset == 576 and GemmDesc.aux.offset == 720
assert ctypes.sizeof(GemmArgs) == 120 and ctypes.sizeof(Prefs) == 40

_vp, _i32, _pp = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)


class Baracuda(Lib):
    SIGS = {
        "brc_gemm_plan": (_i32, [_vp, ctypes.POINTER(GemmDesc), ctypes.POINTER(Prefs), _pp]),
        "brc_gemm_run": (_i32, [_vp, ctypes.POINTER(GemmArgs), _vp]),
        "brc_plan_workspace_size": (ctypes.c_size_t, [_vp]),
    }


def tdesc(t):
    """The descriptor of a torch tensor (shape and strides as they are)."""
    d = TensorDesc()
    d.dtype = BRC_DTYPE[{v: k for k, v in TORCH_DTYPE.items()}[t.dtype]]
    d.rank = t.dim()
    for i, (n, s) in enumerate(zip(t.shape, t.stride())):
        d.shape[i], d.strides[i] = n, s
    return d


class Gemm:
    """One plan of ours for D = act(A @ B + bias) on given tensors, with its workspace."""

    def __init__(self, brc, ctx, a, b, d, bias=None, act="none", backend="auto", trans_b=False, autotune=0):
        self.brc = brc
        g = GemmDesc()
        g.struct_size = ctypes.sizeof(GemmDesc)
        g.a, g.b, g.d = tdesc(a), tdesc(b), tdesc(d)
        g.trans_b = int(trans_b)
        g.act = ACT[act]
        if bias is not None:
            g.use_bias, g.bias = 1, tdesc(bias)
        prefs = Prefs(ctypes.sizeof(Prefs), BACKEND[backend], 0, 0, 0, autotune, 0)
        self.plan = ctypes.c_void_p()
        brc.check(brc.lib.brc_gemm_plan(ctx, ctypes.byref(g), ctypes.byref(prefs), ctypes.byref(self.plan)),
                  "brc_gemm_plan")
        self.sku = brc.lib.brc_plan_sku(self.plan).decode()
        ws = brc.lib.brc_plan_workspace_size(self.plan)
        self.ws = torch.empty(max(ws, 1), dtype=torch.uint8, device="cuda")
        self.ws_size = ws
        self.bias = bias
        self.scales = None

    def run(self, a, b, d, a_scale=None, b_scale=None):
        x = GemmArgs()
        x.struct_size = ctypes.sizeof(GemmArgs)
        x.a, x.b, x.d = a.data_ptr(), b.data_ptr(), d.data_ptr()
        if self.bias is not None:
            x.bias = self.bias.data_ptr()
        x.alpha, x.beta = 1.0, 0.0
        if a_scale is not None:
            x.a_scale, x.b_scale = a_scale.data_ptr(), b_scale.data_ptr()
        x.workspace, x.workspace_size = self.ws.data_ptr(), self.ws_size
        self.brc.check(self.brc.lib.brc_gemm_run(self.plan, ctypes.byref(x), torch.cuda.current_stream().cuda_stream),
                       "brc_gemm_run")

    def destroy(self):
        self.brc.lib.brc_plan_destroy(self.plan)


def paired(*fns, rounds=3):
    """Median per function of `rounds` alternating timings (ours and PyTorch's take turns, so a
    drift of the clocks during the run hits both alike)."""
    times = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            times[i].append(time_us(fn))
    return [sorted(t)[len(t) // 2] for t in times]


def kernel_events(fn, launches=1):
    """The profiler's records (torch.profiler, CUPTI) of the CUDA kernels `launches` calls of fn
    launch, after one call outside the profile; memsets left out."""
    fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(launches):
            fn()
        torch.cuda.synchronize()
    return [e for e in prof.events()
            if e.device_type == torch.autograd.DeviceType.CUDA and not e.name.startswith("Memset")]


def kernel_names(fn):
    """The CUDA kernels one call of fn launches (ours and PyTorch's alike)."""
    return sorted({e.name for e in kernel_events(fn)})


def large_row(op, shape, dtype, ours_fn, torch_fn, torch_name, sku, err, extra=None):
    """One large-shape row: interleaved timings, the per-round ratio, and both sides' kernels."""
    fns = [ours_fn, torch_fn] + ([extra] if extra else [])
    (ours, theirs, *more), (ratio_t, *_) = interleaved(*fns, reps=10)
    M, N, K = shape
    flops = 2.0 * M * N * K
    kern, tkern = kernel_names(ours_fn), kernel_names(torch_fn)
    row = {"op": op, "shape": list(shape), "dtype": dtype, "direction": "fwd", "ours_us": ours, "torch_us": theirs,
           "tflops": flops / ours / 1e6, "torch_tflops": flops / theirs / 1e6, "ratio_vs_torch": ratio_t,
           "ratio_of_medians": theirs / ours, "rel_l2": err, "sku": sku, "torch_fn": torch_name, "kernels": kern,
           "torch_kernels": tkern, "same_kernel": kern == tkern}
    if more:
        row["tuned_us"] = more[0]
    print(f"{op} {dtype} {M}x{N}x{K}: ours {ours:.1f} us torch {theirs:.1f} us (per-round {ratio_t:.3f}x, "
          f"of medians {theirs / ours:.3f}x)" + (f" autotune=1 {more[0]:.1f} us" if more else "") +
          f" {sku}; kernels {'the same' if kern == tkern else f'ours {kern} torch {tkern}'}",
          file=sys.stderr, flush=True)
    return row


def rotating(fn, sets):
    """fn over the argument sets in turn, one per call (so a set is re-read only after the others)."""
    state = {"i": 0}

    def call():
        fn(*sets[state["i"] % len(sets)])
        state["i"] += 1
    return call


def graph_us(fn, launches):
    """Per-launch device time of `launches` calls of fn captured into one CUDA graph (median of
    REPEATS replays): the host's cost per call (Python, ctypes, the dispatcher) drops out, which
    at ~15 us kernels otherwise decides the eager timing."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(launches):
            fn()
    g.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(REPEATS):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        g.replay()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) * 1e3 / launches)
    del g
    return sorted(times)[len(times) // 2]


def kernel_us(fn, launches):
    """Device time of the kernels one call of fn launches, as the profiler records them (CUPTI
    start/end stamps, the figure nsys reports), summed over `launches` calls and divided by them:
    the stream's idle gaps between kernels are left out, which graph_us keeps."""
    return sum(e.time_range.elapsed_us() for e in kernel_events(fn, launches)) / launches


def check(name, out, ref, dtype):
    assert not torch.isnan(out).any(), f"{name}: NaN in our output (poison left)"
    err = rel_l2_of(out, ref)
    assert err < TOLERANCE.get(dtype, 1e-2), f"{name}: relative L2 error {err:.3g}"
    return err


def bench_large(brc, ctx, rows, shapes, dtypes):
    for dtype in dtypes:
        td = TORCH_DTYPE[dtype]
        for (M, N, K) in shapes:
            a = torch.randn(M, K, device="cuda", dtype=td)
            b = torch.randn(K, N, device="cuda", dtype=td)
            d = torch.full((M, N), float("nan"), device="cuda", dtype=td)
            g = Gemm(brc, ctx, a, b, d)
            g.run(a, b, d)
            err = check(f"matmul {M}x{N}x{K}", d, a.double() @ b.double(), dtype)
            tuned = Gemm(brc, ctx, a, b, d, autotune=1)
            row = large_row("matmul", (M, N, K), dtype, lambda: g.run(a, b, d), lambda: torch.matmul(a, b),
                            "torch.matmul", g.sku, err, extra=lambda: tuned.run(a, b, d))
            row["tuned_sku"] = tuned.sku
            rows.append(row)
            tuned.destroy()
            g.destroy()
            del a, b, d
            torch.cuda.empty_cache()


def bench_linear(brc, ctx, rows, M, N, K, dtype):
    td = TORCH_DTYPE[dtype]
    x = torch.randn(M, K, device="cuda", dtype=td)
    w = torch.randn(N, K, device="cuda", dtype=td) / 32
    bias = torch.randn(N, device="cuda", dtype=td)
    for act in ["none", "gelu_tanh"]:
        d = torch.full((M, N), float("nan"), device="cuda", dtype=td)
        g = Gemm(brc, ctx, x, w.t(), d, bias=bias, act=act, trans_b=False)
        g.run(x, w.t(), d)
        ref = x.double() @ w.double().t() + bias.double()
        if act == "gelu_tanh":
            ref = F.gelu(ref, approximate="tanh")
            torch_fn = lambda: F.gelu(F.linear(x, w, bias), approximate="tanh")  # noqa: E731
            tname = "F.gelu(F.linear(x, W, b), approximate='tanh')"
        else:
            torch_fn = lambda: F.linear(x, w, bias)  # noqa: E731
            tname = "F.linear(x, W, b)"
        err = check(f"linear {act}", d, ref, dtype)
        op = "linear+bias" + ("+gelu_tanh" if act != "none" else "")
        rows.append(large_row(op, (M, N, K), dtype, lambda: g.run(x, w.t(), d), torch_fn, tname, g.sku, err))
        g.destroy()


def bench_fp8(brc, ctx, rows, shapes):
    if not hasattr(torch, "_scaled_mm"):
        print("torch._scaled_mm missing: no fp8 rows", file=sys.stderr)
        return
    for (M, N, K) in shapes:
        a = (torch.randn(M, K, device="cuda") / 2).to(torch.float8_e4m3fn)
        w = (torch.randn(N, K, device="cuda") / 2).to(torch.float8_e4m3fn)
        sa = torch.tensor(0.5, device="cuda")
        sb = torch.tensor(2.0, device="cuda")
        d = torch.full((M, N), float("nan"), device="cuda", dtype=torch.bfloat16)
        g = Gemm(brc, ctx, a, w.t(), d)
        g.run(a, w.t(), d, sa, sb)
        ref = (a.double() @ w.double().t()) * 1.0
        err = check(f"fp8 {M}x{N}x{K}", d, ref, "bf16")
        rows.append(large_row("matmul", (M, N, K), "fp8e4m3->bf16", lambda: g.run(a, w.t(), d, sa, sb),
                              lambda: torch._scaled_mm(a, w.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16),
                              "torch._scaled_mm", g.sku, err))
        g.destroy()


def bench_decode(brc, ctx, rows, copy_gbps, cases, dtypes):
    for dtype in dtypes:
        td = TORCH_DTYPE[dtype]
        for (M, K, N) in cases:
            wbytes = N * K * 2
            copies = max(2, -(-3 * 50 * 2**20 // wbytes))  # > 150 MB in rotation: beyond L2
            ws = [torch.randn(N, K, device="cuda", dtype=td) / 32 for _ in range(copies)]
            xs = [torch.randn(M, K, device="cuda", dtype=td) for _ in range(copies)]
            d = torch.full((M, N), float("nan"), device="cuda", dtype=td)
            g = Gemm(brc, ctx, xs[0], ws[0].t(), d)
            lib = Gemm(brc, ctx, xs[0], ws[0].t(), d, backend="library")
            g.run(xs[0], ws[0].t(), d)
            err = check(f"decode {M}x{K}x{N}", d, xs[0].double() @ ws[0].double().t(), dtype)
            sets = [(xs[i], ws[i].t(), d) for i in range(copies)]
            ours, theirs, lib_us = paired(rotating(g.run, sets), rotating(lambda x, wt, _d: F.linear(x, wt.t()), sets),
                                          rotating(lib.run, sets))
            launches = copies * max(1, -(-REPS // copies))
            ours_g = graph_us(rotating(g.run, sets), launches)
            theirs_g = graph_us(rotating(lambda x, wt, _d: F.linear(x, wt.t()), sets), launches)
            # What reading the same weights costs at this size: torch.sum over W (a read-only stream).
            floor_g = graph_us(rotating(lambda x, wt, _d: torch.sum(wt), sets), launches)
            ours_k = kernel_us(rotating(g.run, sets), launches)
            theirs_k = kernel_us(rotating(lambda x, wt, _d: F.linear(x, wt.t()), sets), launches)
            moved = wbytes + (M * K + M * N) * 2
            gbps, gbps_g = moved / ours / 1e3, moved / ours_g / 1e3
            rows.append({"op": "linear (decode)", "shape": [M, N, K], "dtype": dtype, "direction": "fwd",
                         "ours_us": ours, "torch_us": theirs, "lib_us": lib_us, "gbps": gbps,
                         "pct_copy": 100 * gbps / copy_gbps, "ratio_vs_torch": theirs / ours,
                         "graph_ours_us": ours_g, "graph_torch_us": theirs_g, "graph_gbps": gbps_g,
                         "graph_pct_copy": 100 * gbps_g / copy_gbps, "graph_ratio_vs_torch": theirs_g / ours_g,
                         "graph_read_w_us": floor_g, "graph_read_w_pct_copy": 100 * wbytes / floor_g / 1e3 / copy_gbps,
                         "kernel_us": ours_k, "kernel_pct_copy": 100 * moved / ours_k / 1e3 / copy_gbps,
                         "torch_kernel_us": theirs_k, "kernel_ratio_vs_torch": theirs_k / ours_k,
                         "rel_l2": err, "sku": g.sku, "torch_fn": "F.linear(x, W)"})
            print(f"decode {dtype} M={M} K={K} N={N}: ours {ours:.2f} us ({gbps:.0f} GB/s, "
                  f"{100 * gbps / copy_gbps:.0f}% copy) lib {lib_us:.2f} torch {theirs:.2f} "
                  f"({theirs / ours:.3f}x); in a graph ours {ours_g:.2f} us ({100 * gbps_g / copy_gbps:.0f}% copy) "
                  f"torch {theirs_g:.2f} ({theirs_g / ours_g:.3f}x); kernel time ours {ours_k:.2f} us "
                  f"({100 * moved / ours_k / 1e3 / copy_gbps:.0f}% copy) torch {theirs_k:.2f} ({theirs_k / ours_k:.3f}x); "
                  f"torch.sum(W) {floor_g:.2f} "
                  f"({100 * wbytes / floor_g / 1e3 / copy_gbps:.0f}% copy) {g.sku}", file=sys.stderr, flush=True)
            g.destroy()
            lib.destroy()
            del ws, xs
            torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true", help="small shapes only (a smoke run)")
    ap.add_argument("--decode-only", action="store_true", help="only the decode (GEMV) shapes")
    ap.add_argument("--decode-n", type=int, default=0, help="only the decode shapes of this N (with --decode-only)")
    args = ap.parse_args()
    torch.cuda.init()
    torch.empty(1, device="cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    brc = Baracuda(args.lib)
    ctx = brc.context(0)
    copy_gbps = copy_bandwidth()
    print(f"copy bandwidth {copy_gbps:.1f} GB/s", file=sys.stderr)
    rows, failures = [], []
    large = [(1024, 1024, 1024)] if args.quick else [(8192, 8192, 8192), (4096, 4096, 4096), (4096, 14336, 4096)]
    decode = [(1, 4096, 4096), (8, 4096, 4096)] if args.quick else \
        [(m, 4096, n) for n in (4096, 14336) for m in (1, 2, 4, 8, 16)] + [(1, 14336, 4096), (8, 14336, 4096)]
    if args.decode_n:
        decode = [c for c in decode if c[2] == args.decode_n]
    steps = [lambda: bench_large(brc, ctx, rows, large, ["bf16", "f16"]),
             lambda: bench_linear(brc, ctx, rows, *(large[-1]), "bf16"),
             lambda: bench_fp8(brc, ctx, rows, large[:1] + large[-1:]),
             lambda: bench_decode(brc, ctx, rows, copy_gbps, decode, ["bf16", "f16"])]
    for step in steps[-1:] if args.decode_only else steps:
        attempt(failures, None, step)
    brc.lib.brc_context_destroy(ctx)
    note = (f"CUDA events around {REPS} launches after {WARMUP} warm-ups, median of {REPEATS} repeats; "
            "tflops = 2MNK / time; decode gbps = weight + x + y bytes / time, weights rotated beyond L2; "
            "graph_*: the same decode launches replayed from one CUDA graph, graph_read_w_us = torch.sum(W) "
            "the same way (what reading W alone costs at that size); kernel_us / torch_kernel_us: the "
            "profiler's device time of the kernels a call launches (CUPTI stamps; gaps between kernels left out); lib_us = our cuBLASLt plan; ours = the "
            "default plan (cuBLASLt's first choice), tuned_us = ours with prefs.autotune = 1; large shapes: "
            "9 rounds of 10 launches each, the order reversed every other round, ours_us / torch_us the medians, "
            "ratio_vs_torch the median of the per-round ratios; kernels / torch_kernels: what torch.profiler "
            "saw each side launch")
    doc = results_doc(copy_gbps, rows, note)
    write_results(args.out, doc)
    for r in rows:
        print(f"{r['op']:<22} {r['dtype']:<14} {str(r['shape']):<22} ours {r['ours_us']:>9.2f} us  torch "
              f"{r['torch_us']:>9.2f} us  {r['ratio_vs_torch']:.3f}x")
    if failures:
        print(f"{len(failures)} failures", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
