#!/usr/bin/env python3
"""Attention family benchmark: baracuda (through ctypes) against PyTorch's SDPA in one run, side by
side.

Run on the GPU machine:
    python3 bench/bench_attention.py --lib build/libbaracuda.so --out bench/results/attention.json

Training shapes, bf16, BSHD tensors ([B, S, H, D], PyTorch gets the [B, H, S, D] views of the same
memory), Sq = Sk = S, forward and backward, causal and not: B=4 H=32 S=4096 at D = 128, 64 and 256
(B H S the same at every D). PyTorch is timed under torch.nn.attention.sdpa_kernel with
SDPBackend.FLASH_ATTENTION (fa2_us) and SDPBackend.CUDNN_ATTENTION (cudnn_us); torch_us is the
faster of the two (null where a backend refuses a shape). Backward: ours is the default backward
plan alone (atomic dq; from our forward's o and lse), det_us the deterministic option
(deterministic = 1) timed in the same rounds; PyTorch's is torch.autograd.grad of its own forward's output
with retain_graph (its backward kernels, no accumulation into .grad). TFLOP/s count 4 B H Sq Sk D
for the forward and 2.5 times that for the backward, half of each when causal.

Decode, bf16: B=32 H=32 Hkv=8 Sk=4096 and B=1 H=32 Hkv=8 Sk=32768, D=128, Sq=1 (GQA 4). PyTorch
runs with enable_gqa=True where the backend takes it, else on K/V repeated to H heads beforehand
(the note says which; the repeat is not timed, but that backend then reads 4 times the bytes).
GB/s = the K and V bytes ours must read (2 B Sk Hkv D x 2 bytes) over the time; % copy is that
over the device-to-device copy bandwidth measured in the same run (bench_elementwise). K/V are
rotated over enough copies that each launch reads from DRAM, not L2 (50 MB).

Timing: CUDA events around back-to-back launches after warm-ups, median of repeats
(bench_elementwise.time_us), ours and PyTorch's alternating for 3 rounds, median kept.
Correctness, before anything is timed: our outputs are poisoned with NaN, computed once, checked
for NaN and against a float64 reference (PyTorch's math backend on the GPU, on batch 0 and the
first 4 heads; relative L2 under 1e-2), with PyTorch's own error on that slice (torch_rel_l2) and
ours against PyTorch's output over the whole tensor (rel_l2_vs_torch) beside it. Writes the
results JSON (format: shared/design/performance.md) and prints a table.
"""
import argparse
import contextlib
import ctypes
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_elementwise import (TensorDesc, Lib, time_us, WARMUP, REPS, REPEATS, copy_bandwidth,  # noqa: E402
                               rel_l2_of, results_doc, write_results, attempt)

BRC_DTYPE = {"f32": 0, "f16": 2, "bf16": 3}
TORCH_DTYPE = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
TOLERANCE = {"f16": 1e-2, "bf16": 1e-2}
FORWARD, BACKWARD = 0, 1
REF_HEADS = 4  # heads of batch 0 in the float64 reference
BACKENDS = {"fa2": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION}

# ---- the C API, as ctypes sees it (include/baracuda/attention.h, random.h) ---------------------------


class Philox(ctypes.Structure):
    _fields_ = [("seed", ctypes.c_uint64), ("offset", ctypes.c_uint64), ("device", ctypes.c_void_p)]


class AttentionDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int),
                ("q", TensorDesc), ("k", TensorDesc), ("v", TensorDesc), ("o", TensorDesc), ("lse", TensorDesc),
                ("dout", TensorDesc), ("dq", TensorDesc), ("dk", TensorDesc), ("dv", TensorDesc),
                ("has_mask", ctypes.c_int), ("mask", TensorDesc), ("has_alibi", ctypes.c_int), ("alibi", TensorDesc),
                ("causal", ctypes.c_int), ("window_left", ctypes.c_int64), ("window_right", ctypes.c_int64),
                ("scale", ctypes.c_double), ("softcap", ctypes.c_double), ("dropout_p", ctypes.c_double),
                ("varlen", ctypes.c_int), ("batch", ctypes.c_int64),
                ("max_seqlen_q", ctypes.c_int64), ("max_seqlen_k", ctypes.c_int64),
                ("deterministic", ctypes.c_int)]


class AttentionArgs(ctypes.Structure):
    _fields_ = [("q", ctypes.c_void_p), ("k", ctypes.c_void_p), ("v", ctypes.c_void_p), ("o", ctypes.c_void_p),
                ("lse", ctypes.c_void_p), ("dout", ctypes.c_void_p), ("dq", ctypes.c_void_p),
                ("dk", ctypes.c_void_p), ("dv", ctypes.c_void_p), ("mask", ctypes.c_void_p),
                ("alibi", ctypes.c_void_p), ("cu_seqlens_q", ctypes.c_void_p), ("cu_seqlens_k", ctypes.c_void_p),
                ("philox", Philox)]


# The C layouts on x86-64 / aarch64 Linux, as tests/host/test_attention_host.c checks them.
assert ctypes.sizeof(Philox) == 24
assert ctypes.sizeof(AttentionDesc) == 1608 and AttentionDesc.deterministic.offset == 1600 and AttentionDesc.q.offset == 8 and AttentionDesc.lse.offset == 552
assert AttentionDesc.dout.offset == 688 and AttentionDesc.has_mask.offset == 1232 and AttentionDesc.mask.offset == 1240
assert AttentionDesc.alibi.offset == 1384 and AttentionDesc.causal.offset == 1520
assert AttentionDesc.window_left.offset == 1528 and AttentionDesc.scale.offset == 1544
assert AttentionDesc.varlen.offset == 1568 and AttentionDesc.max_seqlen_k.offset == 1592
assert ctypes.sizeof(AttentionArgs) == 128 and AttentionArgs.lse.offset == 32 and AttentionArgs.mask.offset == 72
assert AttentionArgs.cu_seqlens_k.offset == 96 and AttentionArgs.philox.offset == 104

_vp, _i32, _pp, _i64 = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int64


class Baracuda(Lib):
    SIGS = {
        "brc_attention_plan": (_i32, [_vp, ctypes.POINTER(AttentionDesc), _vp, _pp]),
        "brc_attention_run": (_i32, [_vp, ctypes.POINTER(AttentionArgs), _vp, ctypes.c_size_t, _vp]),
        "brc_attention_counters": (ctypes.c_uint64, [_vp]),
        "brc_attention_plan_deterministic": (_i32, [_vp]),
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


class Attention:
    """One plan of ours on given BSHD tensors (forward: q k v -> o lse; backward: + dout -> dq dk
    dv), with its workspace and its arguments made once."""

    def __init__(self, brc, ctx, kind, t, causal, deterministic=False):
        self.brc, self.t = brc, t  # t: the tensors by name (kept alive with the plan)
        d = AttentionDesc()
        d.kind = kind
        for name in ("q", "k", "v", "o", "lse"):
            setattr(d, name, tdesc(t[name]))
        if kind == BACKWARD:
            for name in ("dout", "dq", "dk", "dv"):
                setattr(d, name, tdesc(t[name]))
        d.causal = int(causal)
        d.deterministic = int(deterministic)
        d.window_left = d.window_right = -1
        self.plan = ctypes.c_void_p()
        brc.check(brc.lib.brc_attention_plan(ctx, ctypes.byref(d), None, ctypes.byref(self.plan)),
                  "brc_attention_plan")
        self.sku = brc.lib.brc_plan_sku(self.plan).decode()
        self.ws_size = brc.lib.brc_plan_workspace_size(self.plan)
        self.ws = torch.empty(max(self.ws_size, 1), dtype=torch.uint8, device="cuda")
        self.args = self.args_for(t)

    def bind(self, t):
        """Points the arguments at tensors t (same shapes and strides as the plan's)."""
        self.args = self.args_for(t)

    def args_for(self, t):
        """An arguments struct for the plan's tensors with those of t in their place."""
        a, every = AttentionArgs(), {**self.t, **t}
        for name in ("q", "k", "v", "o", "lse", "dout", "dq", "dk", "dv"):
            if name in every:
                setattr(a, name, every[name].data_ptr())
        self.keep = getattr(self, "keep", []) + [every]  # the tensors live as long as the plan
        return a

    def run(self, args=None):
        self.brc.check(self.brc.lib.brc_attention_run(self.plan, ctypes.byref(args or self.args), self.ws.data_ptr(),
                                                       self.ws_size, torch.cuda.current_stream().cuda_stream),
                       "brc_attention_run")

    def destroy(self):
        self.brc.lib.brc_plan_destroy(self.plan)


# ---- PyTorch ---------------------------------------------------------------------------------------


def sdpa(q, k, v, causal, gqa=False):
    """PyTorch's SDPA on BSHD tensors (through their [B, H, S, D] views); the output is BHSD."""
    if gqa:
        return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                              is_causal=causal, enable_gqa=True)
    return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal)


def try_backend(backend, fn):
    """fn() under the backend, or None when the backend refuses (no kernel for the shape)."""
    try:
        with sdpa_kernel(backend):
            out = fn()
        torch.cuda.synchronize()
        return out
    except (RuntimeError, TypeError, NotImplementedError, ValueError):
        return None


def paired(entries, rounds=3):
    """Median per entry of `rounds` alternating timings; entries: (name, fn, backend or None)."""
    times = {name: [] for name, _, _ in entries}
    for _ in range(rounds):
        for name, fn, backend in entries:
            with (sdpa_kernel(backend) if backend is not None else contextlib.nullcontext()):
                times[name].append(time_us(fn))
    return {name: sorted(t)[len(t) // 2] for name, t in times.items()}


def reference(q, k, v, causal, dout=None):
    """Float64 o (and dq, dk, dv) of batch 0, heads 0..REF_HEADS-1, BSHD (math backend)."""
    H, Hkv = q.shape[2], k.shape[2]
    hs = min(REF_HEADS, H)
    kv = torch.arange(hs, device=q.device) // (H // Hkv)
    qs = q[:1, :, :hs].double().transpose(1, 2).requires_grad_(dout is not None)
    ks = k[:1].index_select(2, kv).double().transpose(1, 2).requires_grad_(dout is not None)
    vs = v[:1].index_select(2, kv).double().transpose(1, 2).requires_grad_(dout is not None)
    with sdpa_kernel(SDPBackend.MATH):
        o = F.scaled_dot_product_attention(qs, ks, vs, is_causal=causal)
    if dout is None:
        return o.detach().transpose(1, 2), None
    o.backward(dout[:1, :, :hs].double().transpose(1, 2))
    return o.detach().transpose(1, 2), [g.grad.transpose(1, 2) for g in (qs, ks, vs)]


def check(name, out, ref, dtype):
    assert not torch.isnan(out).any(), f"{name}: NaN in our output (poison left)"
    err = rel_l2_of(out, ref)
    assert err < TOLERANCE[dtype], f"{name}: relative L2 error {err:.3g}"
    return err


def tflops(B, H, Sq, Sk, D, causal, direction, us):
    flops = 4.0 * B * H * Sq * Sk * D * (2.5 if direction == "bwd" else 1.0) * (0.5 if causal else 1.0)
    return flops / us / 1e6


# ---- the shapes ------------------------------------------------------------------------------------------


def bench_train(brc, ctx, rows, B, H, S, D, dtype, bwd_only=False, forward_only=False):
    td = TORCH_DTYPE[dtype]
    g = torch.Generator(device="cuda").manual_seed(B * H * S + D)
    mk = lambda: torch.randn(B, S, H, D, device="cuda", dtype=td, generator=g)  # noqa: E731
    t = {"q": mk(), "k": mk(), "v": mk(), "dout": mk()}
    t["o"] = torch.full_like(t["q"], float("nan"))
    t["lse"] = torch.full((B, H, S), float("nan"), device="cuda", dtype=torch.float32)
    for name in ("dq", "dk", "dv"):
        t[name] = torch.full_like(t["q"], float("nan"))
    hs = min(REF_HEADS, H)
    for causal in (False, True):
        fwd = Attention(brc, ctx, FORWARD, t, causal)
        bwd = None if forward_only else Attention(brc, ctx, BACKWARD, t, causal)
        bwd_det = None if forward_only else Attention(brc, ctx, BACKWARD, t, causal, deterministic=True)
        try:
            for name in ("o", "dq", "dk", "dv"):
                t[name].fill_(float("nan"))
            fwd.run()
            if bwd:
                bwd.run()
            torch.cuda.synchronize()
            o_ref, grads_ref = reference(t["q"], t["k"], t["v"], causal, None if forward_only else t["dout"])
            tag = f"{dtype} B={B} H={H} S={S} D={D} causal={causal}"
            err_f = check(f"forward {tag}", t["o"][:1, :, :hs], o_ref, dtype)
            if bwd:
                errs_b = {n: check(f"backward {n} {tag}", t[n][:1, :, :hs], r, dtype)
                          for n, r in zip(("dq", "dk", "dv"), grads_ref)}
                # the deterministic option: the same check, then the default's outputs back in place
                for name in ("dq", "dk", "dv"):
                    t[name].fill_(float("nan"))
                bwd_det.run()
                torch.cuda.synchronize()
                errs_det = {n: check(f"backward det {n} {tag}", t[n][:1, :, :hs], r, dtype)
                            for n, r in zip(("dq", "dk", "dv"), grads_ref)}
                bwd.run()
                torch.cuda.synchronize()
            # PyTorch per backend, on leaves that require grad (so that its forward keeps its lse,
            # as ours writes it): its output, the graph its backward runs on, its error.
            leaves = [t[n].detach().clone().requires_grad_() for n in ("q", "k", "v")]
            dout_t = t["dout"].transpose(1, 2)
            outs = {}
            for name, backend in BACKENDS.items():
                out = try_backend(backend, lambda: sdpa(*leaves, causal))
                if out is not None:
                    outs[name] = out
            if not outs:
                raise RuntimeError(f"no PyTorch backend ran {tag}")
            first = next(iter(outs.values()))
            torch_err = rel_l2_of(first.transpose(1, 2)[:1, :, :hs], o_ref)
            vs_torch = rel_l2_of(t["o"], first.transpose(1, 2))
            # forward
            if not bwd_only:
                entries = [("ours", fwd.run, None)]
                entries += [(name, (lambda: sdpa(*leaves, causal)), BACKENDS[name]) for name in outs]
                us = paired(entries)
                record(rows, "attention", [B, H, H, S, S, D], dtype, "fwd", causal, us, fwd.sku, err_f, torch_err,
                       vs_torch, tflops_of=lambda x: tflops(B, H, S, S, D, causal, "fwd", x))
            if not bwd:
                del outs, leaves, o_ref
                continue
            # backward: the backends whose backward runs on this shape
            entries, torch_err_b, vs_torch_b = [("ours", bwd.run, None), ("ours_det", bwd_det.run, None)], None, None
            for name, out in outs.items():
                try:
                    grads = torch.autograd.grad(out, leaves, dout_t, retain_graph=True)
                    torch.cuda.synchronize()
                except RuntimeError:
                    continue
                if torch_err_b is None:
                    torch_err_b = max(rel_l2_of(gr[:1, :, :hs], r) for gr, r in zip(grads, grads_ref))
                    vs_torch_b = max(rel_l2_of(t[n], gr) for n, gr in zip(("dq", "dk", "dv"), grads))
                del grads
                entries.append((name, (lambda out=out: torch.autograd.grad(out, leaves, dout_t, retain_graph=True)),
                                None))
            del o_ref, grads_ref
            if len(entries) == 2:
                raise RuntimeError(f"no PyTorch backward ran {tag}")
            us = paired(entries)
            record(rows, "attention", [B, H, H, S, S, D], dtype, "bwd", causal, us, bwd.sku, max(errs_b.values()),
                   torch_err_b, vs_torch_b, tflops_of=lambda x: tflops(B, H, S, S, D, causal, "bwd", x),
                   extra={"rel_l2_each": errs_b, "sku_forward": fwd.sku, "det_us": round(us["ours_det"], 2),
                          "det_tflops": round(tflops(B, H, S, S, D, causal, "bwd", us["ours_det"]), 1),
                          "det_rel_l2_each": errs_det, "sku_det": bwd_det.sku,
                          "torch_fn": "torch.autograd.grad(sdpa output, (q, k, v), dout, retain_graph=True)"})
            del outs, leaves
        finally:
            fwd.destroy()
            if bwd:
                bwd.destroy()
                bwd_det.destroy()
            torch.cuda.empty_cache()


def bench_decode(brc, ctx, rows, copy_gbps, B, H, Hkv, Sk, D, dtype):
    td = TORCH_DTYPE[dtype]
    G = H // Hkv
    kv_bytes = 2 * B * Sk * Hkv * D * td.itemsize
    copies = max(1, -(-3 * 50 * 2**20 // kv_bytes))  # > 150 MB in rotation: beyond L2
    g = torch.Generator(device="cuda").manual_seed(B * Sk + H)
    q = torch.randn(B, 1, H, D, device="cuda", dtype=td, generator=g)
    ks = [torch.randn(B, Sk, Hkv, D, device="cuda", dtype=td, generator=g) for _ in range(copies)]
    vs = [torch.randn(B, Sk, Hkv, D, device="cuda", dtype=td, generator=g) for _ in range(copies)]
    o = torch.full_like(q, float("nan"))
    lse = torch.full((B, H, 1), float("nan"), device="cuda", dtype=torch.float32)
    t = {"q": q, "k": ks[0], "v": vs[0], "o": o, "lse": lse}
    plan = Attention(brc, ctx, FORWARD, t, False)
    try:
        plan.run()
        torch.cuda.synchronize()
        tag = f"decode {dtype} B={B} H={H} Hkv={Hkv} Sk={Sk} D={D}"
        o_ref, _ = reference(q, ks[0], vs[0], False)
        err = check(tag, o[:1, :, :min(REF_HEADS, H)], o_ref, dtype)
        # the plan's arguments for each K/V copy, made beforehand (only the pointers differ)
        sets = [plan.args_for({"k": ks[i], "v": vs[i]}) for i in range(copies)]
        state = {"i": 0}

        def ours():
            plan.run(sets[state["i"] % copies])
            state["i"] += 1

        # PyTorch per backend: enable_gqa, else K/V repeated to H heads (made here, not timed)
        entries, notes, outs = [("ours", ours, None)], {}, {}
        reps = None
        for name, backend in BACKENDS.items():
            out = try_backend(backend, lambda: sdpa(q, ks[0], vs[0], False, gqa=True))
            mode = "enable_gqa=True"
            if out is None:
                if reps is None:
                    reps = [(ks[i].repeat_interleave(G, dim=2), vs[i].repeat_interleave(G, dim=2))
                            for i in range(copies)]
                out = try_backend(backend, lambda: sdpa(q, reps[0][0], reps[0][1], False))
                mode = "K/V repeated to H heads (4x the bytes)"
            if out is None:
                continue
            outs[name], notes[name] = out, mode
            st = {"i": 0}
            if mode.startswith("enable_gqa"):
                def fn(st=st):
                    i = st["i"] % copies
                    st["i"] += 1
                    return sdpa(q, ks[i], vs[i], False, gqa=True)
            else:
                def fn(st=st):
                    i = st["i"] % copies
                    st["i"] += 1
                    return sdpa(q, reps[i][0], reps[i][1], False)
            entries.append((name, fn, backend))
        if not outs:
            raise RuntimeError(f"no PyTorch backend ran {tag}")
        first = next(iter(outs.values())).transpose(1, 2)
        torch_err = rel_l2_of(first[:1, :, :min(REF_HEADS, H)], o_ref)
        vs_torch = rel_l2_of(o, first)
        us = paired(entries)
        gbps = kv_bytes / us["ours"] / 1e3
        record(rows, "attention (decode)", [B, H, Hkv, 1, Sk, D], dtype, "fwd", False, us, plan.sku, err, torch_err,
               vs_torch, tflops_of=lambda x: tflops(B, H, 1, Sk, D, False, "fwd", x),
               extra={"gbps": gbps, "pct_copy": 100 * gbps / copy_gbps, "kv_bytes": kv_bytes,
                      "torch_note": notes, "kv_copies": copies})
        del reps
    finally:
        plan.destroy()
        del ks, vs
        torch.cuda.empty_cache()


def record(rows, op, shape, dtype, direction, causal, us, sku, err, torch_err, vs_torch, tflops_of, extra=None):
    theirs = {name: us.get(name) for name in BACKENDS}
    avail = [x for x in theirs.values() if x is not None]
    torch_us = min(avail)
    best = min((x, n) for n, x in theirs.items() if x is not None)[1]
    row = {"op": op, "shape": shape, "shape_names": "B,H,Hkv,Sq,Sk,D", "dtype": dtype, "direction": direction,
           "causal": causal, "ours_us": round(us["ours"], 2), "torch_us": round(torch_us, 2),
           "fa2_us": None if theirs["fa2"] is None else round(theirs["fa2"], 2),
           "cudnn_us": None if theirs["cudnn"] is None else round(theirs["cudnn"], 2), "torch_best": best,
           "tflops": round(tflops_of(us["ours"]), 1), "torch_tflops": round(tflops_of(torch_us), 1),
           "ratio_vs_torch": round(torch_us / us["ours"], 3), "rel_l2": err, "torch_rel_l2": torch_err,
           "rel_l2_vs_torch": vs_torch, "sku": sku, **(extra or {})}
    rows.append(row)
    more = f" {row['gbps']:.0f} GB/s ({row['pct_copy']:.0f}% copy)" if "gbps" in row else ""
    print(f"{op} {direction} {dtype} {shape} causal={causal}: ours {us['ours']:.1f} us ({row['tflops']} TFLOP/s)"
          f"{more} fa2 {row['fa2_us']} cudnn {row['cudnn_us']} ({row['ratio_vs_torch']:.3f}x) {sku}",
          file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true", help="small shapes only (a smoke run)")
    ap.add_argument("--decode-only", action="store_true", help="only the decode shapes")
    ap.add_argument("--bwd-only", action="store_true", help="only the training backward rows (no forward, no decode)")
    ap.add_argument("--forward-only", action="store_true", help="training shapes: the forward rows only")
    args = ap.parse_args()
    torch.cuda.init()
    torch.empty(1, device="cuda")  # makes the primary context current on this thread
    brc = Baracuda(args.lib)
    ctx = brc.context(0)
    print(f"baracuda {brc.lib.brc_version_string().decode()} on {brc.lib.brc_context_arch(ctx).decode()}, "
          f"torch {torch.__version__}", file=sys.stderr)
    copy_gbps = copy_bandwidth()
    print(f"copy bandwidth {copy_gbps:.1f} GB/s", file=sys.stderr)
    rows, failures = [], []
    if args.quick:
        train = [(2, 8, 1024, 128), (2, 8, 1024, 64)]
        decode = [(4, 32, 8, 4096, 128)]
    else:
        train = [(4, 32, 4096, 128), (4, 32, 4096, 64), (4, 32, 4096, 256)]
        decode = [(32, 32, 8, 4096, 128), (1, 32, 8, 32768, 128)]
    steps = [] if args.decode_only else [(lambda s=s: bench_train(brc, ctx, rows, *s, "bf16", args.bwd_only,
                                                                  args.forward_only)) for s in train]
    if not args.bwd_only:
        steps += [(lambda s=s: bench_decode(brc, ctx, rows, copy_gbps, *s, "bf16")) for s in decode]
    for step in steps:
        attempt(failures, None, step)
    brc.lib.brc_context_destroy(ctx)
    doc = results_doc(copy_gbps, rows, (f"CUDA events around {REPS} launches after {WARMUP} warm-ups, median of "
                                        f"{REPEATS} repeats, ours and PyTorch's alternating for 3 rounds (median); "
                                        "shape = [B, H, Hkv, Sq, Sk, D], BSHD bf16; tflops = 4 B H Sq Sk D (x2.5 "
                                        "backward, /2 causal) / time; torch_us = the faster of SDPA's flash (fa2_us) "
                                        "and cuDNN (cudnn_us) backends; backward: ours from our forward's o and lse, "
                                        "PyTorch's torch.autograd.grad with retain_graph; decode gbps = K + V bytes / "
                                        "time, K/V rotated beyond L2; rel_l2 against float64 (batch 0, 4 heads)"),
                      failures=failures)
    write_results(args.out, doc)
    for r in rows:
        print(f"{r['op']:<19} {r['direction']} {'causal' if r['causal'] else '      '} {str(r['shape']):<30} "
              f"ours {r['ours_us']:>9.1f} us {r['tflops']:>6.1f} TF  torch {r['torch_us']:>9.1f} us  "
              f"{r['ratio_vs_torch']:.3f}x")
    if failures:
        print(f"{len(failures)} failures", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
