#!/usr/bin/env python3
"""Sweep of the Hopper attention kernels' knobs (docs/attention-hopper.md) on the H100: for each
head dim and causal setting of the training shape (B=4 H=32 S=4096 bf16), every configuration
named on the command line is planned (the knobs are environment variables read at plan time),
checked once against PyTorch's cuDNN output, and timed in interleaved rounds beside cuDNN and the
mma.sync kernel (`BARACUDA_ATTENTION_PATH=mma`). The forward by default; --bwd the backward (from
our forward's o and lse, against cuDNN's torch.autograd.grad; dq, dk and dv checked). Prints
TFLOP/s and the ratio to cuDNN. A tuning tool: the benchmark of record is bench_attention.py.

    python3 bench/sweep_attn_fwd.py --lib build/libbaracuda.so \
        --config 'sched=3,stages=2' --config 'sched=1,stages=3' [--dims 64,128,256] [--bwd]

A configuration is comma-separated knob=value pairs: sched (BARACUDA_ATTN_WGMMA_SCHED), stages
(BARACUDA_ATTN_WGMMA_STAGES), bn (BARACUDA_ATTN_WGMMA_BN), nc (BARACUDA_ATTN_WGMMA_NC, consumer warpgroups),
path (BARACUDA_ATTENTION_PATH); backward: bstages (BARACUDA_ATTN_WGMMA_BWD_STAGES), ovl
(BARACUDA_ATTN_WGMMA_BWD_OVL), dq (BARACUDA_ATTN_WGMMA_BWD_DQ: 1 bulk dQ reductions); both: group
(BARACUDA_ATTN_GROUP, heads a scheduling group); forward: persist (BARACUDA_ATTN_PERSIST: 1 persistent
CTAs, one an SM). "default" is the plan with no knob set.
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_attention import Attention, Baracuda, BACKWARD, FORWARD, tflops  # noqa: E402
from bench_elementwise import time_us  # noqa: E402

KNOBS = {"sched": "BARACUDA_ATTN_WGMMA_SCHED", "stages": "BARACUDA_ATTN_WGMMA_STAGES",
         "bn": "BARACUDA_ATTN_WGMMA_BN", "nc": "BARACUDA_ATTN_WGMMA_NC", "path": "BARACUDA_ATTENTION_PATH",
         "bstages": "BARACUDA_ATTN_WGMMA_BWD_STAGES", "ovl": "BARACUDA_ATTN_WGMMA_BWD_OVL",
         "dq": "BARACUDA_ATTN_WGMMA_BWD_DQ", "group": "BARACUDA_ATTN_GROUP", "persist": "BARACUDA_ATTN_PERSIST"}


def plan_with(brc, ctx, t, causal, config, kind=FORWARD):
    """Our plan under the knobs of config ("mma": the mma.sync kernel, "default": no knob)."""
    saved = {v: os.environ.get(v) for v in KNOBS.values()}
    try:
        for v in KNOBS.values():
            os.environ.pop(v, None)
        if config == "mma":
            os.environ["BARACUDA_ATTENTION_PATH"] = "mma"
        elif config != "default":
            os.environ["BARACUDA_ATTENTION_PATH"] = "wgmma"
            for kv in config.split(","):
                k, v = kv.split("=")
                os.environ[KNOBS[k]] = v
        return Attention(brc, ctx, kind, t, causal)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--config", action="append", default=[])
    ap.add_argument("--dims", default="64,128,256")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bwd", action="store_true", help="the backward (else the forward)")
    ap.add_argument("--causal", default="0,1", help="causal settings to run (0, 1 or 0,1)")
    ap.add_argument("--no-mma", action="store_true", help="leave out the mma.sync kernel")
    args = ap.parse_args()
    brc = Baracuda(args.lib)
    ctx = brc.context(0)
    B, H, S = 4, 32, 4096
    configs = ([] if args.no_mma else ["mma"]) + ["default"] + args.config
    direction = "bwd" if args.bwd else "fwd"
    for D in [int(x) for x in args.dims.split(",")]:
        g = torch.Generator(device="cuda").manual_seed(D)
        mk = lambda: torch.randn(B, S, H, D, device="cuda", dtype=torch.bfloat16, generator=g)  # noqa: E731
        t = {"q": mk(), "k": mk(), "v": mk(), "dout": mk()}
        t["o"] = torch.empty_like(t["q"])
        t["lse"] = torch.empty(B, H, S, device="cuda", dtype=torch.float32)
        for n in ("dq", "dk", "dv"):
            t[n] = torch.empty_like(t["q"])
        qt, kt, vt = (t[n].transpose(1, 2).detach().clone().requires_grad_() for n in ("q", "k", "v"))
        douts = t["dout"].transpose(1, 2)
        for causal in [bool(int(c)) for c in args.causal.split(",")]:
            with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                out = F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal)
                refs = {"o": out.transpose(1, 2).float()}
                if args.bwd:
                    grads = torch.autograd.grad(out, (qt, kt, vt), douts, retain_graph=True)
                    refs.update({n: gr.transpose(1, 2).float() for n, gr in zip(("dq", "dk", "dv"), grads)})
                    del grads
            fwd = Attention(brc, ctx, FORWARD, t, causal)
            fwd.run()  # o and lse for the backward
            torch.cuda.synchronize()
            fwd.destroy()
            plans = [plan_with(brc, ctx, t, causal, c, BACKWARD if args.bwd else FORWARD) for c in configs]
            times = {c: [] for c in configs}
            times["cudnn"] = []
            for p, c in zip(plans, configs):
                outs = ("dq", "dk", "dv") if args.bwd else ("o",)
                for n in outs:
                    t[n].fill_(float("nan"))
                p.run()
                torch.cuda.synchronize()
                for n in outs:
                    err = ((t[n].float() - refs[n]).norm() / refs[n].norm()).item()
                    if not err < 1e-2:
                        print(f"D={D} causal={causal} {c} {n}: rel L2 vs cuDNN {err:.3g} (WRONG)")

            def torch_step():
                with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                    if args.bwd:
                        torch.autograd.grad(out, (qt, kt, vt), douts, retain_graph=True)
                    else:
                        F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal)
            for _ in range(args.rounds):
                for p, c in zip(plans, configs):
                    times[c].append(time_us(p.run))
                times["cudnn"].append(time_us(torch_step))
            med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
            for p, c in zip(plans, configs):
                us = med[c]
                print(f"{direction} D={D:3d} causal={int(causal)} {c:26s} {us:8.1f} us "
                      f"{tflops(B, H, S, S, D, causal, direction, us):6.1f} TF  x cuDNN {med['cudnn'] / us:.3f}  {p.sku}")
            print(f"{direction} D={D:3d} causal={int(causal)} {'cudnn':26s} {med['cudnn']:8.1f} us "
                  f"{tflops(B, H, S, S, D, causal, direction, med['cudnn']):6.1f} TF", flush=True)
            for p in plans:
                p.destroy()
            del out


if __name__ == "__main__":
    main()
