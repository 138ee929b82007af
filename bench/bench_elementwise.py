#!/usr/bin/env python3
"""Elementwise family benchmark: baracuda (through ctypes) against PyTorch eager, side by side.

Run on the GPU machine:
    python3 bench/bench_elementwise.py --lib build/libbaracuda.so --out bench/results/elementwise.json

For every op it times ours and PyTorch's with CUDA events on one stream (3 warm-ups, then 5
repeats of 20 launches; the median per-launch time is kept), checks our output against a
float64 reference computed by PyTorch on the GPU (relative L2 error under the dtype's
tolerance; our output is poisoned with NaN before its first run), and reports the bandwidth
ours reaches as a share of the device-to-device copy bandwidth measured in the same run.
Writes the results JSON (format: shared/design/performance.md) and prints a table.
"""
import argparse
import ctypes
import datetime
import json
import os
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as F

# ---- the C API, as ctypes sees it --------------------------------------------------------------

MAX_RANK = 8
# Frozen numbers from BRC_DTYPE_LIST in include/baracuda/baracuda.h.
BRC_DTYPE = {"f32": 0, "f16": 2, "bf16": 3}
TORCH_DTYPE = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
# Relative L2 tolerance by output dtype.
TOLERANCE = {"f32": 1e-5, "f16": 1e-3, "bf16": 1e-2}


class TensorDesc(ctypes.Structure):
    # brc_dtype is a C enum (4 bytes); rank is int32, so shape starts at offset 8.
    _fields_ = [("dtype", ctypes.c_int), ("rank", ctypes.c_int32),
                ("shape", ctypes.c_int64 * MAX_RANK), ("strides", ctypes.c_int64 * MAX_RANK)]


class UnaryDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("x", TensorDesc), ("y", TensorDesc),
                ("alpha", ctypes.c_double), ("beta", ctypes.c_double)]


class BinaryDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("a", TensorDesc), ("b", TensorDesc), ("y", TensorDesc)]


class CastDesc(ctypes.Structure):
    _fields_ = [("x", TensorDesc), ("y", TensorDesc)]


class ContextOpts(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("device", ctypes.c_int), ("arch", ctypes.c_char_p)]


# The C layout on x86-64 / aarch64 Linux: a mismatch here would corrupt every call.
assert ctypes.sizeof(TensorDesc) == 136 and TensorDesc.shape.offset == 8
assert ctypes.sizeof(UnaryDesc) == 296 and UnaryDesc.x.offset == 8
assert ctypes.sizeof(BinaryDesc) == 416 and BinaryDesc.a.offset == 8
assert ctypes.sizeof(CastDesc) == 272
assert ctypes.sizeof(ContextOpts) == 24


class Lib:
    """libbaracuda through ctypes: the entry points every benchmark needs plus those a subclass
    names in SIGS; every failing call raises with brc_last_error()."""

    SIGS = {}

    def __init__(self, path):
        lib = ctypes.CDLL(path)
        vp, i32, pp = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)
        sigs = {
            "brc_version_string": (ctypes.c_char_p, []),
            "brc_status_name": (ctypes.c_char_p, [i32]),
            "brc_last_error": (ctypes.c_char_p, []),
            "brc_context_create": (i32, [ctypes.POINTER(ContextOpts), pp]),
            "brc_context_destroy": (None, [vp]),
            "brc_context_arch": (ctypes.c_char_p, [vp]),
            "brc_plan_destroy": (None, [vp]),
            "brc_plan_sku": (ctypes.c_char_p, [vp]),
            **self.SIGS,
        }
        for name, (res, args) in sigs.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        self.lib = lib

    def check(self, status, what):
        if status != 0:
            name = self.lib.brc_status_name(status).decode()
            raise RuntimeError(f"{what}: {name}: {self.lib.brc_last_error().decode()}")

    def context(self, device):
        opts = ContextOpts(ctypes.sizeof(ContextOpts), device, None)
        ctx = ctypes.c_void_p()
        self.check(self.lib.brc_context_create(ctypes.byref(opts), ctypes.byref(ctx)), "brc_context_create")
        return ctx

    def plan(self, fn, desc, ctx):
        """A plan from the family's plan function fn (a name in SIGS) and its descriptor."""
        plan = ctypes.c_void_p()
        self.check(getattr(self.lib, fn)(ctx, ctypes.byref(desc), None, ctypes.byref(plan)), fn)
        return plan


_vp, _i32, _pp = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)


class Baracuda(Lib):
    """The elementwise entry points."""

    SIGS = {
        "brc_tensor_desc_contiguous": (_i32, [ctypes.POINTER(TensorDesc), _i32, ctypes.c_int32,
                                              ctypes.POINTER(ctypes.c_int64)]),
        "brc_unary_kind_from_name": (_i32, [ctypes.c_char_p]),
        "brc_binary_kind_from_name": (_i32, [ctypes.c_char_p]),
        "brc_unary_plan": (_i32, [_vp, ctypes.POINTER(UnaryDesc), _vp, _pp]),
        "brc_binary_plan": (_i32, [_vp, ctypes.POINTER(BinaryDesc), _vp, _pp]),
        "brc_cast_plan": (_i32, [_vp, ctypes.POINTER(CastDesc), _vp, _pp]),
        "brc_unary_run": (_i32, [_vp, _vp, _vp, _vp, _vp]),
        "brc_binary_run": (_i32, [_vp, _vp, _vp, _vp, _vp, _vp]),
        "brc_cast_run": (_i32, [_vp, _vp, _vp, _vp, _vp]),
    }

    def desc(self, dtype, n):
        d = TensorDesc()
        shape = (ctypes.c_int64 * 1)(n)
        self.check(self.lib.brc_tensor_desc_contiguous(ctypes.byref(d), BRC_DTYPE[dtype], 1, shape),
                   "brc_tensor_desc_contiguous")
        return d

    def kind(self, family, name):
        k = getattr(self.lib, f"brc_{family}_kind_from_name")(name.encode())
        if k < 0:
            raise RuntimeError(f"unknown {family} kind {name}")
        return k

    def plan(self, family, desc, ctx):
        plan = ctypes.c_void_p()
        fn = getattr(self.lib, f"brc_{family}_plan")
        self.check(fn(ctx, ctypes.byref(desc), None, ctypes.byref(plan)), f"brc_{family}_plan")
        return plan


# ---- timing --------------------------------------------------------------------------------------

WARMUP, REPS, REPEATS = 3, 20, 5


def time_us(fn):
    """Median over REPEATS of the mean per-launch time of REPS back-to-back launches (µs)."""
    for _ in range(WARMUP):
        fn()
    torch.cuda.synchronize()
    per_launch = []
    for _ in range(REPEATS):
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(REPS):
            fn()
        stop.record()
        stop.synchronize()
        per_launch.append(start.elapsed_time(stop) * 1e3 / REPS)
    return statistics.median(per_launch)


def interleaved(*fns, rounds=9, reps=REPS):
    """Per-launch time of each fn over `rounds` rounds; in a round every fn runs `reps` launches
    between two events, in an order reversed every other round (A B C, C B A, ...), so clock,
    power and cache drift during the run falls on all of them alike. Returns the median time per
    fn and, for each later fn, the median over rounds of its time over fns[0]'s in the same round
    (ratio_vs_torch = that of PyTorch's over ours when fns = (ours, torch))."""
    for fn in fns:
        for _ in range(WARMUP):
            fn()
    torch.cuda.synchronize()
    times = [[] for _ in fns]
    for r in range(rounds):
        for i in (range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))):
            start = torch.cuda.Event(enable_timing=True)
            stop = torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(reps):
                fns[i]()
            stop.record()
            stop.synchronize()
            times[i].append(start.elapsed_time(stop) * 1e3 / reps)
    med = [statistics.median(t) for t in times]
    ratios = [statistics.median(t[k] / times[0][k] for k in range(rounds)) for t in times[1:]]
    return med, ratios


def rel_l2(out, ref_fn, inputs, chunk=1 << 24):
    """‖out − ref‖ / ‖ref‖ with ref = ref_fn(*inputs in float64), computed chunk by chunk to bound
    memory. NaN anywhere in out (the poison left by a kernel that skipped elements) gives NaN."""
    num = torch.zeros((), dtype=torch.float64, device=out.device)
    den = torch.zeros((), dtype=torch.float64, device=out.device)
    for i in range(0, out.numel(), chunk):
        ref = ref_fn(*(t[i:i + chunk].double() for t in inputs))
        diff = out[i:i + chunk].double() - ref
        num += (diff * diff).sum()
        den += (ref * ref).sum()
    return (num.sqrt() / den.sqrt()).item() if den.item() > 0 else num.sqrt().item()


def first_working(candidates, missing_ok=False):
    """The first (note, fn) whose fn runs without error (PyTorch's out= bindings vary by version);
    (None, None) when none runs and missing_ok, else an error."""
    for note, fn in candidates:
        try:
            fn()
            torch.cuda.synchronize()
            return note, fn
        except (RuntimeError, TypeError, AttributeError, NotImplementedError):
            continue
    if missing_ok:
        return None, None
    raise RuntimeError("no PyTorch variant ran: " + ", ".join(n for n, _ in candidates))


def rel_l2_of(out, ref):
    """‖out − ref‖ / ‖ref‖ of two tensors, in float64 (‖out − ref‖ when ref is 0)."""
    o, r = out.double(), ref.double()
    den = r.norm().item()
    return ((o - r).norm().item() / den) if den > 0 else (o - r).norm().item()


def results_doc(copy_gbps, rows, note, **extra):
    """The results JSON of one run (format: shared/design/performance.md)."""
    return {"device": torch.cuda.get_device_name(), "driver": driver_version(),
            "date": datetime.date.today().isoformat(), "commit": os.environ.get("BRC_COMMIT", "unknown"),
            "copy_gbps": round(copy_gbps, 1), **extra, "note": note, "rows": rows}


def write_results(path, doc):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def attempt(failures, label, fn):
    """Runs one bench case: a failed check (AssertionError) or a library / CUDA error (RuntimeError)
    is appended to failures as "label: message" (the message alone for label None) and printed, and
    the run goes on."""
    try:
        fn()
    except (AssertionError, RuntimeError) as e:
        failures.append(f"{label}: {e}" if label is not None else str(e))
        print(f"FAILED {failures[-1]}", file=sys.stderr, flush=True)
        torch.cuda.synchronize()


def exit_if_failed(failures, what="case(s)"):
    """Lists the failed cases and exits with status 1 when there are any."""
    if failures:
        print(f"{len(failures)} {what} failed:", *failures, sep="\n  ", file=sys.stderr)
        sys.exit(1)


# ---- the ops -------------------------------------------------------------------------------------

# name: (float64 reference, PyTorch variants to time in order of preference: (note, fn(x, y))).
UNARY = {
    "relu": (torch.relu, [
        ("torch.clamp_min(x, 0, out=y) (what relu runs on CUDA)", lambda x, y: torch.clamp_min(x, 0, out=y)),
        ("torch.relu(x) (allocates)", lambda x, y: torch.relu(x))]),
    "gelu_erf": (lambda x: F.gelu(x), [
        ("torch._C._nn.gelu(x, out=y)", lambda x, y: torch._C._nn.gelu(x, approximate="none", out=y)),
        ("F.gelu(x) (allocates)", lambda x, y: F.gelu(x))]),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), [
        ("torch._C._nn.gelu(x, approximate='tanh', out=y)",
         lambda x, y: torch._C._nn.gelu(x, approximate="tanh", out=y)),
        ("F.gelu(x, approximate='tanh') (allocates)", lambda x, y: F.gelu(x, approximate="tanh"))]),
    "silu": (F.silu, [
        ("torch._C._nn.silu(x, out=y)", lambda x, y: torch._C._nn.silu(x, out=y)),
        ("F.silu(x) (allocates)", lambda x, y: F.silu(x))]),
    "exp": (torch.exp, [("torch.exp(x, out=y)", lambda x, y: torch.exp(x, out=y))]),
    "sigmoid": (torch.sigmoid, [("torch.sigmoid(x, out=y)", lambda x, y: torch.sigmoid(x, out=y))]),
}
BINARY = {
    "add": (torch.add, [("torch.add(a, b, out=y)", lambda a, b, y: torch.add(a, b, out=y))]),
    "mul": (torch.mul, [("torch.mul(a, b, out=y)", lambda a, b, y: torch.mul(a, b, out=y))]),
}
CASTS = [("f32", "bf16"), ("bf16", "f32")]
DTYPES = ["f32", "bf16"]


def driver_version():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        return out.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        pass
    try:  # the CUDA driver API version, when nvidia-smi is missing
        v = ctypes.c_int()
        if ctypes.CDLL("libcuda.so.1").cuDriverGetVersion(ctypes.byref(v)) == 0:
            return f"CUDA driver API {v.value // 1000}.{v.value % 1000 // 10}"
    except OSError:
        pass
    return "unknown"


class Bench:
    def __init__(self, brc, ctx, n, copy_gbps):
        self.brc, self.ctx, self.n, self.copy_gbps = brc, ctx, n, copy_gbps
        self.stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        self.rows = []
        # Random inputs (never zeros), kept for the whole run; outputs per dtype.
        g = torch.Generator(device="cuda").manual_seed(1234)
        a32 = torch.randn(n, device="cuda", generator=g)
        b32 = torch.randn(n, device="cuda", generator=g)
        self.a = {"f32": a32, "bf16": a32.to(torch.bfloat16)}
        self.b = {"f32": b32, "bf16": b32.to(torch.bfloat16)}

    def outputs(self, dtype):
        t = TORCH_DTYPE[dtype]
        return torch.empty(self.n, dtype=t, device="cuda"), torch.empty(self.n, dtype=t, device="cuda")

    def measure(self, op, dtype, out_dtype, bytes_moved, ours_fn, torch_candidates, ref_fn, inputs, y_ours):
        """Checks ours once on a poisoned output, then times ours and PyTorch's; appends a row."""
        y_ours.fill_(float("nan"))
        ours_fn()
        torch.cuda.synchronize()
        err = rel_l2(y_ours, ref_fn, inputs)
        tol = TOLERANCE[out_dtype]
        if not err < tol:
            raise AssertionError(f"{op} {dtype}: relative L2 error {err:.3e} >= {tol:.0e}")
        note, torch_fn = first_working(torch_candidates)
        ours_us = time_us(ours_fn)
        torch_us = time_us(torch_fn)
        gbps = bytes_moved / (ours_us * 1e-6) / 1e9
        row = {"op": op, "shape": [self.n], "dtype": dtype, "direction": "fwd",
               "ours_us": round(ours_us, 3), "torch_us": round(torch_us, 3), "gbps": round(gbps, 1),
               "pct_copy": round(100.0 * gbps / self.copy_gbps, 1),
               "ratio_vs_torch": round(torch_us / ours_us, 3), "note": "torch: " + note}
        self.rows.append(row)
        print(f"  {op:<16} {dtype:<10} ours {ours_us:9.1f} us  torch {torch_us:9.1f} us  "
              f"{gbps:7.1f} GB/s  rel_l2 {err:.2e}", file=sys.stderr, flush=True)

    def unary(self, name, dtype):
        ref, candidates = UNARY[name]
        d = UnaryDesc()
        d.kind = self.brc.kind("unary", name)
        d.x = d.y = self.brc.desc(dtype, self.n)
        plan = self.brc.plan("unary", d, self.ctx)
        x = self.a[dtype]
        y, y_torch = self.outputs(dtype)
        lib, stream, xp, yp = self.brc.lib, self.stream, x.data_ptr(), y.data_ptr()

        def ours():
            self.brc.check(lib.brc_unary_run(plan, xp, yp, None, stream), "brc_unary_run")

        try:
            size = x.element_size()
            self.measure(f"unary.{name}", dtype, dtype, 2 * size * self.n, ours,
                         [(note, lambda f=f: f(x, y_torch)) for note, f in candidates], ref, [x], y)
        finally:
            lib.brc_plan_destroy(plan)

    def binary(self, name, dtype):
        ref, candidates = BINARY[name]
        d = BinaryDesc()
        d.kind = self.brc.kind("binary", name)
        d.a = d.b = d.y = self.brc.desc(dtype, self.n)
        plan = self.brc.plan("binary", d, self.ctx)
        a, b = self.a[dtype], self.b[dtype]
        y, y_torch = self.outputs(dtype)
        lib, stream = self.brc.lib, self.stream
        ap, bp, yp = a.data_ptr(), b.data_ptr(), y.data_ptr()

        def ours():
            self.brc.check(lib.brc_binary_run(plan, ap, bp, yp, None, stream), "brc_binary_run")

        try:
            size = a.element_size()
            self.measure(f"binary.{name}", dtype, dtype, 3 * size * self.n, ours,
                         [(note, lambda f=f: f(a, b, y_torch)) for note, f in candidates], ref, [a, b], y)
        finally:
            lib.brc_plan_destroy(plan)

    def cast(self, src, dst):
        d = CastDesc()
        d.x = self.brc.desc(src, self.n)
        d.y = self.brc.desc(dst, self.n)
        plan = self.brc.plan("cast", d, self.ctx)
        x = self.a[src]
        y, y_torch = self.outputs(dst)
        lib, stream, xp, yp = self.brc.lib, self.stream, x.data_ptr(), y.data_ptr()

        def ours():
            self.brc.check(lib.brc_cast_run(plan, xp, yp, None, stream), "brc_cast_run")

        try:
            bytes_moved = (x.element_size() + y.element_size()) * self.n
            # The float64 reference of a cast is the input itself: the error is the rounding.
            self.measure("cast", f"{src}->{dst}", dst, bytes_moved, ours,
                         [("y.copy_(x)", lambda: y_torch.copy_(x))], lambda t: t, [x], y)
        finally:
            lib.brc_plan_destroy(plan)


def copy_bandwidth():
    """Device-to-device copy of 1 GiB of f32 (bytes read + written), GB/s."""
    n = 1 << 28
    x = torch.randn(n, device="cuda")
    y = torch.empty_like(x)
    us = time_us(lambda: y.copy_(x))
    del x, y
    torch.cuda.empty_cache()
    return 2 * 4 * n / (us * 1e-6) / 1e9


def print_table(doc):
    print(f"{doc['device']}  driver {doc['driver']}  commit {doc['commit']}  copy {doc['copy_gbps']:.1f} GB/s")
    head = f"{'op':<16} {'dtype':<10} {'ours_us':>10} {'torch_us':>10} {'GB/s':>8} {'% copy':>7} {'speedup':>8}"
    print(head)
    print("-" * len(head))
    for r in doc["rows"]:
        print(f"{r['op']:<16} {r['dtype']:<10} {r['ours_us']:>10.1f} {r['torch_us']:>10.1f} {r['gbps']:>8.1f} "
              f"{r['pct_copy']:>6.1f}% {r['ratio_vs_torch']:>7.2f}x")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True, help="path to libbaracuda.so")
    ap.add_argument("--out", required=True, help="results JSON to write")
    ap.add_argument("--n", type=int, default=1 << 28, help="elements per tensor (default 2^28)")
    ap.add_argument("--device", type=int, default=0)
    args = ap.parse_args()

    torch.cuda.set_device(args.device)
    torch.cuda.init()
    torch.empty(1, device="cuda")  # makes the primary context current on this thread
    brc = Baracuda(args.lib)
    ctx = brc.context(args.device)
    print(f"baracuda {brc.lib.brc_version_string().decode()} on {brc.lib.brc_context_arch(ctx).decode()}, "
          f"torch {torch.__version__}", file=sys.stderr)

    copy_gbps = copy_bandwidth()
    print(f"copy bandwidth {copy_gbps:.1f} GB/s", file=sys.stderr)
    bench = Bench(brc, ctx, args.n, copy_gbps)
    cases = ([(bench.unary, name, dtype) for dtype in DTYPES for name in UNARY] +
             [(bench.binary, name, dtype) for dtype in DTYPES for name in BINARY] +
             [(bench.cast, src, dst) for src, dst in CASTS])
    # A failing op (library error or wrong result) is reported and left out of the rows; the
    # others still run, and the exit status says that something failed.
    failures = []
    for fn, p, q in cases:
        attempt(failures, f"{fn.__name__} {p} {q}", lambda: fn(p, q))
    brc.lib.brc_context_destroy(ctx)

    doc = results_doc(copy_gbps, bench.rows, (f"CUDA events around {REPS} launches after {WARMUP} warm-ups, median of {REPEATS} "
                 "repeats, per launch; gbps = bytes ours must move (inputs read once, output written once) "
                 "/ ours_us; pct_copy = gbps / copy_gbps; ratio_vs_torch = torch_us / ours_us; each row's "
                 "note says what PyTorch call was timed"))
    write_results(args.out, doc)
    print_table(doc)
    exit_if_failed(failures, "op(s)")


if __name__ == "__main__":
    main()
