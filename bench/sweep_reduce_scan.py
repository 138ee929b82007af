#!/usr/bin/env python3
"""Tuning sweep for the reductions' and scans' slow rows: the same problem planned under several
settings of the BARACUDA_REDUCE_* / BARACUDA_SCAN_* knobs (runtime/ops/reduce.c, scan.c), each
checked (NaN-poisoned output against a float64 PyTorch reference; argmax / cummax indices equal to
PyTorch's) and timed with bench_elementwise.time_us, PyTorch timed before and after on the same
data. Prints one line a setting and writes the rows as JSON (--out) after every case.

    python3 bench/sweep_reduce_scan.py --lib build/libbaracuda.so --out sweep.json [--only reduce|scan|onepass]
    python3 bench/sweep_reduce_scan.py --lib build/libbaracuda.so --prewarm 3/14   # compile a slice only

--only scan10 / scan10b / scan10c: the 1 x 2^24 f32 scans' settings of scan10 (SCAN10 / SCAN10B /
SCAN10C below), interleaved as red8. --only scan11: the deep-ring pipelined one pass (SCAN11).
--only scan13 / scan13b / scan13c: cumprod forward rows, float-float thread runs against f64 ones (SCAN13*).
--only scan14: register caps and slabs of the unsplit rows (SCAN14); scan14r: from the end (SCAN14R).
--only cols12: split columns (dim 0), the one pass's settings against the three kernels (COLS12);
--only cols12b: the chosen defaults against both (COLS12B).
--only red8 (scanred8): every setting of a case planned and checked first, then all of them and
PyTorch timed in interleaved rounds (bench_elementwise.interleaved: the same clocks for all); the
ratio is the median over rounds of PyTorch's time over the setting's.
"""
import argparse
import ctypes
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_reduce as BR  # noqa: E402
import bench_scan as BS  # noqa: E402
from bench_elementwise import time_us, interleaved, rel_l2_of as rel_l2, copy_bandwidth  # noqa: E402

KNOBS = ["BARACUDA_REDUCE_" + k for k in ("U", "MINB", "TPRMAX", "CU", "CMINB", "CTX", "CTHREADS", "WAVES", "FLAT", "XV",
                                          "OU", "FINT", "XI")] + \
        ["BARACUDA_SCAN_" + k for k in ("NV", "TMAX", "MINB", "WAVES8", "KST", "FAST", "FUSE", "ONEPASS", "OPT", "LBG",
                                        "OPAD", "OSLEEP", "OPOLL", "OTICKET", "OPIPE", "OPST", "LITE", "PDL", "L2H", "RNV", "RMINB", "PF",
                                        "CPW", "CVB", "FF")]


def scan_input(op, dtype, R, C):
    """A scan case's input (cumprod: factors near 1; logcumsumexp: a wider range) and PyTorch's op."""
    td = BS.TORCH_DTYPE[dtype]
    g = torch.Generator(device="cuda").manual_seed(R * 131 + C + 7)
    if op == "cumprod":
        x = torch.exp(torch.randn(R, C, device="cuda", generator=g) * (0.5 / C ** 0.5)).to(td)
    elif op == "logcumsumexp":
        x = (torch.randn(R, C, device="cuda", generator=g) * 3).to(td)
    else:
        x = torch.randn(R, C, device="cuda", generator=g).to(td)
    tfn = {"cumsum": torch.cumsum, "cumprod": torch.cumprod, "logcumsumexp": torch.logcumsumexp,
           "cummax": torch.cummax}[op]
    return x, tfn


def set_knobs(cfg):
    for k in KNOBS:
        os.environ.pop(k, None)
    for k, v in cfg.items():
        os.environ[("BARACUDA_REDUCE_" if k.startswith("R") else "BARACUDA_SCAN_") + k[1:]] = str(v)


def cfg_name(cfg):
    return ",".join(f"{k}={v}" for k, v in cfg.items()) or "default"


RCOL = [{}, {"RCMINB": 2}, {"RCMINB": 3}, {"RCMINB": 4}, {"RCU": 8}, {"RCU": 2}, {"RCTX": 16}, {"RCTX": 64},
        {"RCTHREADS": 512}, {"RCTHREADS": 128}, {"RWAVES": 2}, {"RCU": 8, "RCMINB": 2}, {"RCTX": 64, "RCTHREADS": 512}]
RROW = [{}, {"RMINB": 2}, {"RMINB": 3}, {"RMINB": 4}, {"RTPRMAX": 256}, {"RTPRMAX": 1024}, {"RU": 8}, {"RU": 2},
        {"RU": 8, "RMINB": 2}, {"RTPRMAX": 256, "RMINB": 4}]
RFULL = [{}, {"RMINB": 2}, {"RMINB": 3}, {"RMINB": 4}, {"RU": 8}, {"RU": 8, "RMINB": 2}, {"RWAVES": 2},
         {"RTPRMAX": 256}, {"RTPRMAX": 1024}, {"RTPRMAX": 256, "RMINB": 4}]
# red6: A/B of the defaults chosen from the first sweep against the former ones (the knobs set to
# the old values), then the rows still open.
REDUCE_CASES = [("sum(0)", "bf16", "8192x32768", [{}, {"RCU": 4, "RCMINB": 0}, {"RCTX": 16}, {"RCTX": 16, "RCU": 4, "RCMINB": 0},
                                                 {"RCMINB": 3}, {"RCMINB": 4}, {"RCU": 16}]),
                ("sum(0)", "bf16", "32768x4096", [{}, {"RCU": 4, "RCMINB": 0}]),
                ("sum(0)", "f32", "8192x32768", [{}, {"RCTX": 32}]),
                ("amax", "f32", "4096x131072", [{}, {"RTPRMAX": 512, "RMINB": 0}, {"RTPRMAX": 128}, {"RMINB": 0}]),
                ("argmax", "f32", "4096x131072", [{}, {"RTPRMAX": 512, "RMINB": 0}]),
                ("sum(-1)", "f32", "full", [{}, {"RMINB": 0}]), ("amax", "f32", "full", [{}, {"RU": 8}])]

SCMAX = [{}, {"SKST": 1}, {"SNV": 2}, {"SNV": 1}, {"SKST": 1, "SNV": 2}, {"SMINB": 2}, {"STMAX": 256},
         {"STMAX": 128}, {"SKST": 1, "STMAX": 256}, {"SKST": 1, "STMAX": 128}]
SSPLIT = [{}, {"SFUSE": 1}, {"SWAVES8": 8}, {"SWAVES8": 4}, {"SWAVES8": 32}, {"SFUSE": 1, "SWAVES8": 8},
          {"SFUSE": 1, "SWAVES8": 4}, {"SFUSE": 1, "SWAVES8": 2}, {"SNV": 2}, {"SMINB": 2}, {"SFUSE": 1, "SNV": 2}]
SLSE = [{"SFAST": 0}, {}, {"SFUSE": 1}, {"SWAVES8": 8}, {"SFUSE": 1, "SWAVES8": 8}, {"SNV": 2}, {"SMINB": 2}]
SCAN_CASES = [("cumprod", "f32", (1, 1 << 24), SSPLIT), ("logcumsumexp", "f32", (1, 1 << 24), SLSE),
              ("cumsum", "f32", (1, 1 << 24), SSPLIT), ("cummax", "f32", (8192, 32768), SCMAX),
              ("logcumsumexp", "bf16", (1, 1 << 24), SLSE), ("cumsum", "bf16", (1, 1 << 24), SSPLIT[:8])]

# scan7: the one-pass split rows (BARACUDA_SCAN_ONEPASS=1; OPT threads a CTA, NV slabs, LBG look-back
# group, MINB register cap) against the three kernels (ONEPASS=0), on the 1-D rows. Run at 1e5a1c4,
# where the one pass was the default of every split row (bench/results/sweep_scan_onepass.json names
# the settings without ONEPASS=1); from bcc9143 it is asked for explicitly.
_O = {"SONEPASS": 1}
S1 = [{"SONEPASS": 0}, _O, {**_O, "SOPT": 256}, {**_O, "SOPT": 1024}, {**_O, "SNV": 2}, {**_O, "SMINB": 0},
      {**_O, "SNV": 8}, {**_O, "SOPT": 256, "SNV": 8}, {**_O, "SLBG": 16}, {**_O, "SMINB": 3}]
S1P = [{"SONEPASS": 0}, _O, {**_O, "SOPT": 256}, {**_O, "SOPT": 1024}, {**_O, "SNV": 1}, {**_O, "SMINB": 0},
       {**_O, "SNV": 4}, {**_O, "SOPT": 1024, "SNV": 1}]
ONEPASS_CASES = [("cumsum", "f32", (1, 1 << 24), S1), ("cumprod", "f32", (1, 1 << 24), S1P),
                 ("logcumsumexp", "f32", (1, 1 << 24), S1[:6]), ("cumsum", "bf16", (1, 1 << 24), S1[:6]),
                 ("logcumsumexp", "bf16", (1, 1 << 24), S1[:5]), ("cummax", "f32", (1, 1 << 24), S1[:5]),
                 ("cumsum", "f32", (4, 1 << 22), S1[:4]), ("cumsum", "f32", (1, 1 << 20), S1[:4])]


# scanred8: the unchecked sweeps (FLAT), the value-only max (XV), the thread-an-output second pass
# (FINT) against the former kernels (FLAT=0 XV=0 FINT=0), and sweep unrolls / widths on top.
_OLD = {"RFLAT": 0, "RXV": 0, "RFINT": 0}
RED8_CASES = [
    ("amax", "f32", "4096x131072", [{}, _OLD, {"RXV": 0}, {"ROU": 2}, {"RU": 8}, {"RU": 2, "ROU": 2},
                                    {"RTPRMAX": 512, "RMINB": 0}, {"RMINB": 0}, {"RTPRMAX": 128}]),
    ("argmax", "f32", "4096x131072", [{}, _OLD, {"ROU": 2}, {"RU": 8}, {"RTPRMAX": 512, "RMINB": 0}, {"RMINB": 0}]),
    ("amax", "f32", "8192x32768", [{}, _OLD, {"ROU": 2}, {"RU": 8}, {"RTPRMAX": 256, "RMINB": 4}, {"RMINB": 2}]),
    ("amax", "f32", "full", [{}, _OLD, {"ROU": 2}, {"RU": 8}, {"RMINB": 2}, {"RTPRMAX": 256, "RMINB": 4}]),
    ("argmax", "f32", "full", [{}, _OLD, {"ROU": 2}]),
    ("sum(0)", "bf16", "8192x32768", [{}, _OLD, {"RFINT": 0}, {"RFLAT": 0}, {"ROU": 2}, {"RCU": 4, "RCMINB": 0},
                                     {"RWAVES": 2}, {"RCU": 16}, {"RCU": 4, "ROU": 2}]),
    ("sum(0)", "bf16", "32768x4096", [{}, _OLD]),
    ("sum(0)", "f32", "8192x32768", [{}, _OLD, {"ROU": 2}]),
    ("sum(-1)", "f32", "4096x131072", [{}, _OLD, {"ROU": 2}, {"RMINB": 2}]),
    ("sum(-1)", "f32", "8192x32768", [{}, _OLD, {"ROU": 2}]),
    ("sum(-1)", "f32", "full", [{}, _OLD, {"ROU": 2}]),
    ("sum(-1)", "bf16", "8192x32768", [{}, _OLD, {"ROU": 2}])]
# The column sum f32 4096x131072 after the scanred8 merge (the whole bench: 750.8 us against 703.9
# the run before, same SKU): the flat sweeps against the former loop.
RED8C_CASES = [("sum(0)", "f32", "4096x131072", [{}, {"RFLAT": 0}, _OLD, {"ROU": 2}]),
               ("sum(0)", "bf16", "4096x131072", [{}, {"RFLAT": 0}]),
               ("sum(0)", "f32", "8192x32768", [{}, {"RFLAT": 0}])]
# The one pass's variants of scan7 (8f9bdb9 / 84c355d), first run here: 128-byte slots (OPAD),
# relaxed polls and one fence (OPOLL), sleeping polls, no ticket (OTICKET=0), and the pipelined
# persistent CTAs (OPIPE: the next chunk copied to shared memory while the current one is scanned).
_P = {"SONEPASS": 1}
_OPV = [{**_P, "SOPIPE": 1}, {**_P, "SOPIPE": 1, "SOPOLL": 1, "SOPAD": 1}, {**_P, "SOPAD": 1, "SOPOLL": 1},
        {**_P, "SOTICKET": 0}, {**_P, "SOTICKET": 0, "SOPAD": 1, "SOPOLL": 1}, {**_P, "SOPOLL": 1, "SOSLEEP": 100}]
# The settings that could hang if a variant is wrong (no ticket, the pipelined CTAs) come in cases of
# their own, after the others, so a hang loses only them.
_SAFE = [{**_P, "SOPAD": 1, "SOPOLL": 1}, {**_P, "SOPOLL": 1}, {**_P, "SOPOLL": 1, "SOSLEEP": 100}]
_PIPE = [{}, {**_P, "SOPIPE": 1}, {**_P, "SOPIPE": 1, "SOPOLL": 1, "SOPAD": 1}]
_NOTK = [{}, {**_P, "SOTICKET": 0}, {**_P, "SOTICKET": 0, "SOPAD": 1, "SOPOLL": 1}]
# run 2: the defaults chosen from run 1 against the alternatives left, and the other row kinds
# against the former kernels (FLAT=0).
_F = {"RFLAT": 0, "RXV": 0, "RFINT": 0, "ROU": 1}
RED8B_CASES = [
    ("argmax", "f32", "4096x131072", [{}, {"RXI": 1}, {"RTPRMAX": 512, "RMINB": 0}, {"RXI": 1, "RTPRMAX": 512, "RMINB": 0},
                                      {"RXI": 1, "RMINB": 0}, _F]),
    ("argmax", "f32", "8192x32768", [{}, {"RXI": 1}, _F]),
    ("argmax", "f32", "full", [{}, {"RXI": 1}, _F]),
    ("amax", "f32", "4096x131072", [{}, {"ROU": 1}, {"RTPRMAX": 256, "RMINB": 4}, {**_F, "RTPRMAX": 256, "RMINB": 4}]),
    ("amax", "f32", "8192x32768", [{}, {"ROU": 1}, _F]),
    ("amax", "f32", "full", [{}, {"ROU": 1}, _F]),
    ("amax", "bf16", "8192x32768", [{}, {"ROU": 1}, _F]),
    ("sum(0)", "bf16", "8192x32768", [{}, {"RFINT": 0}, _F]),
    ("sum(0)", "bf16", "32768x4096", [{}, {"RFINT": 1}, _F]),
    ("sum(-1)", "f32", "4096x131072", [{}, {"ROU": 1}, _F]),
    ("mean", "f32", "full", [{}, _F]),
    ("logsumexp", "f32", "8192x32768", [{}, _F]),
    ("var", "bf16", "8192x32768", [{}, _F])]
RED8B_SCAN = [("cumsum", "f32", (1, 1 << 24), [{}, {"SLITE": 0}, {"SFUSE": 0}]),
              ("cumprod", "f32", (1, 1 << 24), [{}, {"SLITE": 0}, {"SFUSE": 1}]),
              ("cumsum", "bf16", (1, 1 << 24), [{}, {"SLITE": 0}]),
              ("cummax", "bf16", (8192, 32768), [{}, {"STMAX": 512}])]
RED8_SCAN = [("cummax", "bf16", (8192, 32768), [{}, {"STMAX": 128}, {"STMAX": 256}, {"SNV": 2}, {"SMINB": 2}]),
             ("cumsum", "f32", (1, 1 << 24), [{}, _P, {**_P, "SOPT": 1024}] + _SAFE),
             ("cumprod", "f32", (1, 1 << 24), [{}, _P] + _SAFE),
             ("logcumsumexp", "f32", (1, 1 << 24), [{}, {"SONEPASS": 0}, {"SOPT": 1024}, {"SOPAD": 1, "SOPOLL": 1}]),
             ("cumsum", "f32", (1, 1 << 24), _PIPE + [{**_P, "SOPIPE": 1, "SOPT": 256, "SNV": 2}]),
             ("cumprod", "f32", (1, 1 << 24), _PIPE),
             ("logcumsumexp", "f32", (1, 1 << 24), _PIPE[:2]),
             ("cumsum", "bf16", (1, 1 << 24), _PIPE[:2]),
             ("cumsum", "f32", (1, 1 << 24), _NOTK),
             ("cumprod", "f32", (1, 1 << 24), _NOTK[:2])]

# scan10: the defaults (f32 cumsum / cumprod: the ordered-reduction fold, FUSE=2, and the final pass a
# programmatic dependent, PDL=1; logcumsumexp f32 / bf16: the MUFU exp / log, FAST=2) against the
# former kernels (cumsum FUSE=1 PDL=0, cumprod FUSE=0 PDL=0, logcumsumexp FAST=1) and the parts one
# at a time; the L2 hints (L2H), the reduce pass's loads (RNV) and a register cap (MINB) on top.
_S10_OLDSUM, _S10_OLDPROD = {"SFUSE": 1, "SPDL": 0}, {"SFUSE": 0, "SPDL": 0}
SCAN10 = [("cumsum", "f32", (1, 1 << 24), [{}, _S10_OLDSUM, {"SPDL": 0}, {"SFUSE": 1}, {"SMINB": 0}, {"SL2H": 4},
                                           {"SL2H": 6}, {"SRNV": 8}, {"SRNV": 8, "SL2H": 4}]),
          ("cumprod", "f32", (1, 1 << 24), [{}, _S10_OLDPROD, {"SPDL": 0}, {"SFUSE": 0}, {"SFUSE": 1}, {"SMINB": 0},
                                            {"SL2H": 4}, {"SRNV": 8}, {"SRNV": 4}]),
          ("logcumsumexp", "f32", (1, 1 << 24), [{}, {"SFAST": 1}, {"SONEPASS": 0}, {"SONEPASS": 0, "SFUSE": 2},
                                                 {"SOPT": 1024}, {"SOPT": 256}]),
          ("logcumsumexp", "bf16", (1, 1 << 24), [{}, {"SFAST": 1}]),
          ("cumsum", "bf16", (1, 1 << 24), [{}, {"SPDL": 0}, {"SMINB": 3}, {"SFUSE": 2}]),
          ("cumprod", "bf16", (1, 1 << 24), [{}, {"SPDL": 0}, {"SFUSE": 2}]),
          ("cummax", "f32", (1, 1 << 24), [{}, {"SPDL": 0}]),
          ("logcumsumexp", "f32", (32768, 4096), [{}, {"SFAST": 1}])]
# run 2: the defaults of run 1's figures (cumprod bf16 also folds; cumsum bf16 forward capped for 3
# CTAs an SM) and what is left for f32 cumsum / cumprod: the reduce pass's own register cap (RMINB),
# chunk counts (WAVES8), slabs, L2 hints.
SCAN10B = [("cumsum", "f32", (1, 1 << 24), [{}, _S10_OLDSUM, {"SRMINB": 5}, {"SWAVES8": 8}, {"SWAVES8": 12},
                                            {"SWAVES8": 32}, {"SL2H": 2}, {"SL2H": 4}, {"SMINB": 3}]),
           ("cumprod", "f32", (1, 1 << 24), [{}, _S10_OLDPROD, {"SRNV": 4}, {"SRMINB": 5}, {"SNV": 4, "SMINB": 0},
                                             {"SNV": 4, "SMINB": 3}, {"SWAVES8": 8}, {"SWAVES8": 12}, {"SWAVES8": 32},
                                             {"SRNV": 4, "SL2H": 4}]),
           ("cumsum", "bf16", (1, 1 << 24), [{}, {"SMINB": 0, "SPDL": 0}]),
           ("cumprod", "bf16", (1, 1 << 24), [{}, {"SFUSE": 0, "SPDL": 0}])]
# run 3 (after the whole bench): the final pass's L2 prefetch (PF, not a default) and the two
# single-measurement defaults of run 2 (L2H=2 for f32 cumsum, RNV=4 for f32 cumprod) once more.
SCAN10C = [("cumsum", "f32", (1, 1 << 24), [{}, {"SPF": 1}, {"SL2H": 0}, {"SL2H": 0, "SPF": 1}]),
           ("cumprod", "f32", (1, 1 << 24), [{}, {"SPF": 1}, {"SRNV": 0}])]
# scan11: the pipelined one pass with a deep ring (OPST tiles of NV slabs in dynamic shared memory,
# one or two persistent CTAs an SM) against the defaults and scanred8's two-tile pipe.
_D = {"SONEPASS": 1, "SOPIPE": 1, "SMINB": 1}
_S11 = [{}, {**_D, "SOPST": 3, "SNV": 8}, {**_D, "SOPST": 4, "SNV": 4}, {**_D, "SOPST": 6, "SNV": 4},
        {**_D, "SOPST": 4, "SNV": 8, "SOPT": 256}, {**_D, "SOPST": 3, "SNV": 4, "SMINB": 2},
        {**_D, "SOPST": 6, "SNV": 2}, {**_D, "SOPST": 3, "SNV": 4, "SOPT": 1024}]
SCAN11 = [("cumsum", "f32", (1, 1 << 24), _S11),
          ("cumprod", "f32", (1, 1 << 24), _S11[:4]),
          ("cumsum", "bf16", (1, 1 << 24), _S11[:3]),
          ("logcumsumexp", "f32", (1, 1 << 24), [_S11[0], _S11[2]]),
          ("cumsum", "f32", (4, 1 << 22), [_S11[0], _S11[2]])]

# cols12: split columns (dim 0) by the one pass (col_onepass) against the three kernels (ONEPASS=0),
# over positions a warp (CPW), vector bytes (CVB) and register caps (MINB).
_C12 = [{}, {"SONEPASS": 0}, {"SCPW": 4}, {"SCPW": 8}, {"SCPW": 16}, {"SCPW": 4, "SCVB": 16}, {"SCPW": 8, "SCVB": 16},
        {"SCPW": 2}, {"SCPW": 8, "SMINB": 3}, {"SCPW": 16, "SMINB": 2}, {"SCPW": 4, "SCVB": 8}]
COLS12 = [(op, dt, (32768, 4096), _C12, 0) for op in ("cumsum", "cumprod", "cummax", "logcumsumexp")
          for dt in ("bf16", "f32")] + [("cumsum", "f32", (8192, 32768), _C12[:7], 0),
                                        ("cumsum", "bf16", (65536, 1024), _C12[:7], 0)]
# cols12b: the defaults chosen from cols12 (whose first run let CPW / CVB leak from one setting to the
# next: its SKUs say what ran) against the three kernels and the one pass forced on.
_C12B = [{}, {"SONEPASS": 0}, {"SONEPASS": 1}]
COLS12B = [(op, dt, (32768, 4096), _C12B, 0) for op in ("cumsum", "cumprod", "cummax", "logcumsumexp")
           for dt in ("bf16", "f32")] + [("cumsum", "f32", (8192, 32768), _C12B[:2], 0),
                                         ("cumsum", "bf16", (65536, 1024), _C12B[:2], 0)]

# scan13: cumprod forward rows with float-float thread runs (FF=1, the default) against the f64 runs
# (FF=0), and the slabs a thread holds (NV; the f32 tile halves the registers of the f64 one).
_S13 = [{}, {"SFF": 0}, {"SNV": 4}, {"SNV": 4, "SMINB": 0}]
SCAN13 = [("cumprod", "f32", (1, 1 << 24), _S13 + [{"SRNV": 0}, {"SNV": 4, "SRNV": 0}]),
          ("cumprod", "bf16", (1, 1 << 24), _S13),
          ("cumprod", "f32", (32768, 4096), _S13[:3]), ("cumprod", "bf16", (32768, 4096), _S13[:3]),
          ("cumprod", "f32", (8192, 32768), _S13[:3]), ("cumprod", "bf16", (8192, 32768), _S13[:3]),
          ("cumprod", "f32", (1, 4096), _S13[:3]), ("cumprod", "bf16", (64, 1024), _S13[:3])]
# scan13b: after scan13 FF is the default of 16-bit data only (3: both passes); f32 by pass (1: the
# scanning passes, 2: the light reduce pass) and with 4 slabs; bf16 by pass.
_S13F = [{}, {"SFF": 3}, {"SFF": 1}, {"SFF": 2}, {"SNV": 4}, {"SNV": 4, "SFF": 1}, {"SNV": 4, "SFF": 3}]
SCAN13B = [("cumprod", "f32", (1, 1 << 24), _S13F), ("cumprod", "f32", (32768, 4096), [_S13F[i] for i in (0, 2, 4, 5)]),
           ("cumprod", "f32", (8192, 32768), [_S13F[i] for i in (0, 2, 4, 5)]),
           ("cumprod", "bf16", (1, 1 << 24), [{}, {"SFF": 0}, {"SFF": 1}, {"SFF": 2}]),
           ("cumprod", "bf16", (8192, 32768), [{}, {"SFF": 0}]), ("cumprod", "bf16", (32768, 4096), [{}, {"SFF": 0}])]
# scan13c: 16-bit rows with float-float runs under register caps (the f32 tile leaves room: 64
# registers at 32768 columns without spills, where the f64 tile spilled) and 4 slabs.
_S13C = [{}, {"SFF": 0}, {"SMINB": 4}, {"SMINB": 3}, {"SNV": 4}, {"SNV": 4, "SMINB": 4}]
SCAN13C = [("cumprod", "bf16", (32768, 4096), _S13C), ("cumprod", "bf16", (8192, 32768), _S13C),
           ("cumprod", "bf16", (1, 1 << 24), _S13C[:2] + [{"SNV": 4}])]
# scan14: register caps for the unsplit rows that hold more than 64 registers (a 4096-column row:
# cumsum bf16 74 at 128 threads, logcumsumexp bf16 88 / f32 72, cummax bf16 114 / f32 80), and 2
# slabs where 64 spill (32768 columns: cumsum bf16 24 bytes, logcumsumexp bf16 72).
SCAN14 = [("cumsum", "bf16", (32768, 4096), [{}, {"SMINB": 8}, {"SMINB": 7}]),
          ("logcumsumexp", "bf16", (32768, 4096), [{}, {"SMINB": 8}, {"SMINB": 6}]),
          ("logcumsumexp", "f32", (32768, 4096), [{}, {"SMINB": 4}]),
          ("cummax", "bf16", (32768, 4096), [{}, {"SMINB": 6}, {"SMINB": 8}]),
          ("cummax", "f32", (32768, 4096), [{}, {"SMINB": 4}]),
          ("cumsum", "bf16", (8192, 32768), [{}, {"SNV": 2}]),
          ("logcumsumexp", "bf16", (8192, 32768), [{}, {"SNV": 2}])]
# scan14r: the same rows scanned from the end (the backward's direction: cumsum bf16 backward ran at
# 78% of copy against the forward's 97%).
SCAN14R = [("cumsum", "bf16", (32768, 4096), [{}, {"XREV": 1}]), ("cumsum", "f32", (32768, 4096), [{}, {"XREV": 1}]),
           ("cumsum", "bf16", (8192, 32768), [{}, {"XREV": 1}]),
           # run 2: the 64-register cap spills (16 bytes); 7 CTAs an SM (72 registers) do not
           ("cumsum", "bf16", (32768, 4096), [{}, {"SMINB": 7}, {"XREV": 1}, {"XREV": 1, "SMINB": 7}, {"XREV": 1, "SMINB": 0}]),
           ("cumsum", "bf16", (8192, 32768), [{"XREV": 1}, {"XREV": 1, "SNV": 2}]),
           # run 3: the slabs of a tile loaded and stored in memory order (a knob RORD of a build not
           # kept: 226.5 / 513.8 / 719.4 us against 229.5 / 505.4 / 720.7)
           ("cumsum", "bf16", (32768, 4096), [{}, {"XREV": 1}, {"XREV": 1, "SRORD": 1}]),
           ("cumsum", "bf16", (8192, 32768), [{}, {"XREV": 1}, {"XREV": 1, "SRORD": 1}]),
           ("cumsum", "f32", (8192, 32768), [{"XREV": 1}, {"XREV": 1, "SRORD": 1}])]


class Sweep:
    def __init__(self, lib, out):
        self.out, self.rows = out, []
        self.stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        self.rb = BR.Baracuda(lib)
        self.sb = BS.Baracuda(lib)
        self.ctx = self.rb.context(0)
        self.sctx = self.sb.context(0)

    def emit(self, row):
        self.rows.append(row)
        ratio = row.get("ratio_vs_torch", row["torch_us"] / row["ours_us"])
        print(f"{row['op']:<12} {row['dtype']:<5} {row['shape']:>12} {row['cfg']:<26} ours {row['ours_us']:9.1f} "
              f"torch {row['torch_us']:9.1f}  x{ratio:.3f}  err {row['err']:.1e}  "
              f"{row['sku']}", flush=True)

    def save(self):
        if self.out:
            with open(self.out, "w") as f:
                json.dump(self.rows, f, indent=1)

    def emit_interleaved(self, fns, meta, row):
        """Times PyTorch (fns[0]) and the settings that passed their check (the rest of fns) in
        interleaved rounds and emits a row a setting of meta (name, err, ok, sku); NaN for those that
        failed. row: the case's fields."""
        set_knobs({})
        med, ratios = interleaved(*fns, rounds=7)
        k = 0
        for name, err, ok, sku in meta:
            us, r = (med[k + 1], 1.0 / ratios[k]) if ok else (float("nan"), float("nan"))
            k += 1 if ok else 0
            self.emit({**row, "cfg": name, "ours_us": us, "torch_us": med[0], "ratio_vs_torch": r, "err": err,
                       "sku": sku})

    @staticmethod
    def release(lib, plans):
        set_knobs({})
        torch.cuda.synchronize()
        for p in plans:
            lib.brc_plan_destroy(p)

    def reduce_case(self, op, dtype, shape_name, cfgs):
        lib, brc = self.rb.lib, self.rb
        td = BR.TORCH_DTYPE[dtype]
        full = shape_name == "full"
        shape = (BR.FULL,) if full else tuple(int(v) for v in shape_name.split("x"))
        g = torch.Generator(device="cuda").manual_seed(sum(shape) * 7 + len(op))
        x = (torch.randn(*shape, device="cuda", generator=g) * 2 + 0.5).to(td)
        dim = None if full else (0 if op == "sum(0)" else len(shape) - 1)
        axes = 1 if full else (1 << dim)
        yshape = () if full else tuple(s for i, s in enumerate(shape) if i != dim)
        kind = {"sum(-1)": BR.K_SUM, "sum(0)": BR.K_SUM, "amax": BR.K_MAX, "argmax": BR.K_ARGMAX}[op]
        y = torch.empty(yshape, device="cuda", dtype=torch.int64 if op == "argmax" else td)
        dims = {"dim": 0} if full else {"dim": dim}
        tfn = {"sum(-1)": torch.sum, "sum(0)": torch.sum, "amax": torch.amax, "argmax": torch.argmax}[op]
        if op == "argmax":
            ref = torch.argmax(x, **dims)
        else:
            ref = tfn(x.double(), **dims)
        t0 = time_us(lambda: tfn(x, **dims))
        res = []
        for cfg in cfgs:
            set_knobs(cfg)
            d = BR.ReduceDesc(kind, brc.desc(dtype, shape), brc.desc("i64" if op == "argmax" else dtype, yshape),
                              axes, 1.0, 0.0, 0, BR.TensorDesc())
            plan = brc.plan("brc_reduce_plan", d, self.ctx)
            try:
                wsz = lib.brc_plan_workspace_size(plan)
                ws = torch.empty(max(wsz, 1), device="cuda", dtype=torch.uint8)
                fn = lambda: brc.check(lib.brc_reduce_run(plan, x.data_ptr(), y.data_ptr(), None, ws.data_ptr(),
                                                          wsz, self.stream), op)
                y.fill_(-1 if op == "argmax" else float("nan"))
                fn()
                torch.cuda.synchronize()
                err = float((y != ref).sum().item()) if op == "argmax" else rel_l2(y, ref)
                ok = err == 0 if op == "argmax" else err <= BR.TOLERANCE[dtype]
                us = time_us(fn) if ok else float("nan")
                res.append((cfg_name(cfg), us, err, lib.brc_plan_sku(plan).decode()))
            finally:
                torch.cuda.synchronize()
                lib.brc_plan_destroy(plan)
        t1 = time_us(lambda: tfn(x, **dims))
        set_knobs({})
        for name, us, err, sku in res:
            self.emit({"family": "reduce", "op": op, "dtype": dtype, "shape": shape_name, "cfg": name, "ours_us": us,
                       "torch_us": (t0 + t1) / 2, "torch_us_before_after": [t0, t1], "err": err, "sku": sku})
        del x
        torch.cuda.empty_cache()

    def reduce_case_il(self, op, dtype, shape_name, cfgs):
        """Plans and checks every setting, then times them all with PyTorch in interleaved rounds."""
        lib, brc = self.rb.lib, self.rb
        td = BR.TORCH_DTYPE[dtype]
        full = shape_name == "full"
        shape = (BR.FULL,) if full else tuple(int(v) for v in shape_name.split("x"))
        g = torch.Generator(device="cuda").manual_seed(sum(shape) * 7 + len(op))
        x = (torch.randn(*shape, device="cuda", generator=g) * 2 + 0.5).to(td)
        dim = None if full else (0 if op == "sum(0)" else len(shape) - 1)
        axes = 1 if full else (1 << dim)
        yshape = () if full else tuple(s for i, s in enumerate(shape) if i != dim)
        kind = {"sum(-1)": BR.K_SUM, "sum(0)": BR.K_SUM, "amax": BR.K_MAX, "argmax": BR.K_ARGMAX, "mean": BR.K_MEAN,
                "var": BR.K_VAR, "logsumexp": BR.K_LSE}[op]
        dims = {"dim": 0} if full else {"dim": dim}
        tfn = {"sum(-1)": torch.sum, "sum(0)": torch.sum, "amax": torch.amax, "argmax": torch.argmax,
               "mean": torch.mean, "var": torch.var, "logsumexp": torch.logsumexp}[op]
        ref = torch.argmax(x, **dims) if op == "argmax" else tfn(x.double(), **dims)
        plans, fns, meta = [], [lambda: tfn(x, **dims)], []
        try:
            for cfg in cfgs:
                set_knobs(cfg)
                d = BR.ReduceDesc(kind, brc.desc(dtype, shape), brc.desc("i64" if op == "argmax" else dtype, yshape),
                                  axes, 1.0, 0.0, 0, BR.TensorDesc())
                plan = brc.plan("brc_reduce_plan", d, self.ctx)
                plans.append(plan)
                wsz = lib.brc_plan_workspace_size(plan)
                ws = torch.empty(max(wsz, 1), device="cuda", dtype=torch.uint8)
                y = torch.empty(yshape, device="cuda", dtype=torch.int64 if op == "argmax" else td)
                fn = (lambda plan=plan, y=y, ws=ws, wsz=wsz: brc.check(
                    lib.brc_reduce_run(plan, x.data_ptr(), y.data_ptr(), None, ws.data_ptr(), wsz, self.stream), op))
                y.fill_(-1 if op == "argmax" else float("nan"))
                fn()
                torch.cuda.synchronize()
                err = float((y != ref).sum().item()) if op == "argmax" else rel_l2(y, ref)
                ok = err == 0 if op == "argmax" else err <= BR.TOLERANCE[dtype]
                meta.append((cfg_name(cfg), err, ok, lib.brc_plan_sku(plan).decode()))
                if ok:
                    fns.append(fn)
            self.emit_interleaved(fns, meta, {"family": "reduce", "op": op, "dtype": dtype, "shape": shape_name})
        finally:
            self.release(lib, plans)
        del x
        torch.cuda.empty_cache()

    def scan_case_il(self, op, dtype, shape, cfgs, dim=-1):
        lib, brc = self.sb.lib, self.sb
        R, C = shape
        x, tfn = scan_input(op, dtype, R, C)
        if op == "cummax":
            r = torch.cummax(x, dim)
            ref, refi = r.values, r.indices
        else:
            ref, refi = tfn(x.double(), dim), None
        m, mi = brc.mat(dtype, R, C), brc.mat("i64", R, C)
        plans, fns, meta = [], [lambda: tfn(x, dim)], []
        try:
            for cfg in cfgs:
                # "XREV": 1 scans from the end (reverse = 1); not a knob
                rev = cfg.get("XREV", 0)
                set_knobs({k: v for k, v in cfg.items() if k != "XREV"})
                plan = brc.plan("brc_scan_plan", BS.ScanDesc(BS.KIND[op], m, m, dim, rev, mi), self.sctx)
                plans.append(plan)
                wsz = lib.brc_plan_workspace_size(plan)
                ws = torch.empty(max(wsz, 1), device="cuda", dtype=torch.uint8)
                y = torch.empty_like(x)
                idx = torch.empty(R, C, device="cuda", dtype=torch.int64) if op == "cummax" else None
                ip = idx.data_ptr() if idx is not None else None
                fn = (lambda plan=plan, y=y, ws=ws, wsz=wsz, ip=ip: brc.check(
                    lib.brc_scan_run(plan, x.data_ptr(), y.data_ptr(), ip, ws.data_ptr(), wsz, self.stream), op))
                y.fill_(float("nan"))
                if idx is not None:
                    idx.fill_(-1)
                fn()
                torch.cuda.synchronize()
                err = rel_l2(y, ref if not rev else tfn(x.double().flip(dim), dim).flip(dim))
                ok = err < BS.TOLERANCE[dtype] and not torch.isnan(y).any().item()
                if idx is not None and not rev and not torch.equal(idx, refi):
                    ok, err = False, float("inf")
                meta.append((cfg_name(cfg), err, ok, lib.brc_plan_sku(plan).decode()))
                if ok:
                    fns.append(fn)
            self.emit_interleaved(fns, meta, {"family": "scan", "op": op, "dtype": dtype, "shape": f"{R}x{C}", "dim": dim})
        finally:
            self.release(lib, plans)
        del x
        torch.cuda.empty_cache()

    def scan_case(self, op, dtype, shape, cfgs):
        lib, brc = self.sb.lib, self.sb
        R, C = shape
        x, tfn = scan_input(op, dtype, R, C)
        if op == "cummax":
            r = torch.cummax(x, -1)
            ref, refi = r.values, r.indices
            tcall = lambda: torch.cummax(x, -1)
        else:
            ref, refi = tfn(x.double(), -1), None
            tcall = lambda: tfn(x, -1)
        y = torch.empty_like(x)
        idx = torch.empty(R, C, device="cuda", dtype=torch.int64) if op == "cummax" else None
        m, mi = brc.mat(dtype, R, C), brc.mat("i64", R, C)
        t0 = time_us(tcall)
        res = []
        for cfg in cfgs:
            set_knobs(cfg)
            plan = brc.plan("brc_scan_plan", BS.ScanDesc(BS.KIND[op], m, m, -1, 0, mi), self.sctx)
            try:
                wsz = lib.brc_plan_workspace_size(plan)
                ws = torch.empty(max(wsz, 1), device="cuda", dtype=torch.uint8)
                ip = idx.data_ptr() if idx is not None else None
                fn = lambda: brc.check(lib.brc_scan_run(plan, x.data_ptr(), y.data_ptr(), ip, ws.data_ptr(), wsz,
                                                        self.stream), op)
                y.fill_(float("nan"))
                if idx is not None:
                    idx.fill_(-1)
                fn()
                torch.cuda.synchronize()
                err = rel_l2(y, ref)
                ok = err < BS.TOLERANCE[dtype] and not torch.isnan(y).any().item()
                if idx is not None and not torch.equal(idx, refi):
                    ok, err = False, float("inf")
                us = time_us(fn) if ok else float("nan")
                res.append((cfg_name(cfg), us, err, lib.brc_plan_sku(plan).decode()))
            finally:
                torch.cuda.synchronize()
                lib.brc_plan_destroy(plan)
        t1 = time_us(tcall)
        set_knobs({})
        for name, us, err, sku in res:
            self.emit({"family": "scan", "op": op, "dtype": dtype, "shape": f"{R}x{C}", "cfg": name, "ours_us": us,
                       "torch_us": (t0 + t1) / 2, "torch_us_before_after": [t0, t1], "err": err, "sku": sku})
        del x
        torch.cuda.empty_cache()


def prewarm(lib, part, nparts, scan_cases=SCAN_CASES, reduce_cases=REDUCE_CASES):
    """Plans (compiles into the shared cache) every setting of the cases whose index is part mod nparts."""
    rb, sb = BR.Baracuda(lib), BS.Baracuda(lib)
    ctx, sctx = rb.context(0), sb.context(0)
    jobs = [("r", c, cfg) for c in reduce_cases for cfg in c[3]] + [("s", c, cfg) for c in scan_cases for cfg in c[3]]
    for i, (fam, c, cfg) in enumerate(jobs):
        if i % nparts != part:
            continue
        set_knobs(cfg)
        if fam == "r":
            op, dtype, shape_name = c[0], c[1], c[2]
            full = shape_name == "full"
            shape = (BR.FULL,) if full else tuple(int(v) for v in shape_name.split("x"))
            dim = None if full else (0 if op == "sum(0)" else len(shape) - 1)
            yshape = () if full else tuple(s for j, s in enumerate(shape) if j != dim)
            kind = {"sum(-1)": BR.K_SUM, "sum(0)": BR.K_SUM, "amax": BR.K_MAX, "argmax": BR.K_ARGMAX,
                    "mean": BR.K_MEAN, "var": BR.K_VAR, "logsumexp": BR.K_LSE}[op]
            d = BR.ReduceDesc(kind, rb.desc(dtype, shape), rb.desc("i64" if op == "argmax" else dtype, yshape),
                              1 if full else (1 << dim), 1.0, 0.0, 0, BR.TensorDesc())
            rb.lib.brc_plan_destroy(rb.plan("brc_reduce_plan", d, ctx))
        else:
            op, dtype, (R, C) = c[0], c[1], c[2]
            m, mi = sb.mat(dtype, R, C), sb.mat("i64", R, C)
            dim = c[4] if len(c) > 4 else -1
            sb.lib.brc_plan_destroy(sb.plan("brc_scan_plan", BS.ScanDesc(BS.KIND[op], m, m, dim, 0, mi), sctx))
        print(f"prewarmed {c[0]} {c[1]} {cfg_name(cfg)}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out")
    ap.add_argument("--only", choices=["reduce", "scan", "onepass", "red8", "red8scan", "red8b", "red8c", "scan10", "scan10b", "scan10c", "scan11", "cols12", "cols12b", "scan13", "scan13b", "scan13c", "scan14", "scan14r"])
    ap.add_argument("--prewarm", help="K/N: only plan (compile) the K-th of N slices of the settings, then exit")
    args = ap.parse_args()
    torch.cuda.set_device(0)
    if args.prewarm:
        k, n = (int(v) for v in args.prewarm.split("/"))
        if args.only == "onepass":
            prewarm(args.lib, k, n, ONEPASS_CASES, [])
        elif args.only in ("red8", "red8scan"):
            prewarm(args.lib, k, n, RED8_SCAN, RED8_CASES)
        elif args.only == "red8b":
            prewarm(args.lib, k, n, RED8B_SCAN, RED8B_CASES)
        elif args.only in ("scan10", "scan10b", "scan10c", "scan11", "cols12", "cols12b", "scan13", "scan13b", "scan13c", "scan14", "scan14r"):
            prewarm(args.lib, k, n, {"scan10": SCAN10, "scan10b": SCAN10B, "scan10c": SCAN10C, "scan11": SCAN11,
                                     "cols12": COLS12, "cols12b": COLS12B, "scan13": SCAN13, "scan13b": SCAN13B, "scan13c": SCAN13C, "scan14": SCAN14, "scan14r": SCAN14R}[args.only], [])
        else:
            prewarm(args.lib, k, n)
        return
    torch.empty(1, device="cuda")
    sw = Sweep(args.lib, args.out)
    print(f"copy bandwidth {copy_bandwidth():.1f} GB/s", flush=True)
    if args.only in ("red8", "red8c"):
        for op, dt, sh, cfgs in (RED8_CASES if args.only == "red8" else RED8C_CASES):
            try:
                sw.reduce_case_il(op, dt, sh, cfgs)
            except Exception as e:  # keep sweeping: report and go on
                print(f"FAILED {op} {dt} {sh}: {e}", flush=True)
            sw.save()
        return
    if args.only == "red8b":
        for op, dt, sh, cfgs in RED8B_CASES:
            try:
                sw.reduce_case_il(op, dt, sh, cfgs)
            except Exception as e:  # keep sweeping: report and go on
                print(f"FAILED {op} {dt} {sh}: {e}", flush=True)
            sw.save()
    if args.only in ("red8scan", "red8b", "scan10", "scan10b", "scan10c", "scan11", "cols12", "cols12b", "scan13", "scan13b", "scan13c", "scan14", "scan14r"):
        for op, dt, sh, cfgs, *dim in {"red8scan": RED8_SCAN, "red8b": RED8B_SCAN, "scan10": SCAN10,
                                       "scan10b": SCAN10B, "scan10c": SCAN10C, "scan11": SCAN11,
                                       "cols12": COLS12, "cols12b": COLS12B, "scan13": SCAN13, "scan13b": SCAN13B, "scan13c": SCAN13C, "scan14": SCAN14, "scan14r": SCAN14R}[args.only]:
            try:
                sw.scan_case_il(op, dt, sh, cfgs, *dim)
            except Exception as e:
                print(f"FAILED {op} {dt} {sh}: {e}", flush=True)
            sw.save()
        return
    if args.only not in ("scan", "onepass"):
        for op, dt, sh, cfgs in REDUCE_CASES:
            try:
                sw.reduce_case(op, dt, sh, cfgs)
            except Exception as e:  # keep sweeping: report and go on
                print(f"FAILED {op} {dt} {sh}: {e}", flush=True)
            sw.save()
    if args.only != "reduce":
        for op, dt, sh, cfgs in (ONEPASS_CASES if args.only == "onepass" else SCAN_CASES):
            try:
                sw.scan_case(op, dt, sh, cfgs)
            except Exception as e:
                print(f"FAILED {op} {dt} {sh}: {e}", flush=True)
            sw.save()


if __name__ == "__main__":
    main()
