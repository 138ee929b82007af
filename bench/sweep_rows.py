#!/usr/bin/env python3
"""Layout sweep of the norm backward (rms_norm, layer_norm) on long rows: the plan's layout under
several settings of the measurement knob BARACUDA_ROWS_OWN (runtime/ops/rows.c, pick_own: "0" the
layouts without owned columns, "cl=N,nv=N,st=N" force the owned-column cluster, vectors a thread and
shared-memory stages, "sb=0" the backward without the split cluster barrier, "cr=1" colred for f32
rows too, "fw=0" / "lv=1|2" the owned forwards off / the layer_norm forward's form), each timed against PyTorch's backward in interleaved rounds (bench_elementwise
interleaved(): the ratio is the median over rounds of torch's time over ours in the same round).

    python3 bench/sweep_rows.py --lib build/libbaracuda.so [--configs "0;;nv=2"] [--out sweep.json]

dx of every setting is checked against a float64 reference on 64 rows and dweight against the first
setting's (so that a wrong layout cannot post a time). Prints one line a (shape, dtype, op, setting).
--group rows4k: the one-CTA owned layouts of the norm backward for rows of 4096 (shape 32768x4096,
"cs=0" colsum's previous form; the knobs "cl=1" one CTA a row, "tpr=256|512" its threads, "mb=N" CTAs an SM, "st=N" stages, "s1=1"
the split barrier as a pair of mbarriers), against the row kernel (the empty setting). A setting
that fails to plan or to launch is reported with its error and left out; dweight / dbias of every
setting are also checked bitwise against a second run of the same plan.
--fwd sweeps the forwards instead (softmax, log_softmax, rms_norm, layer_norm with weight and bias;
y checked against float64 on 64 rows and the last): "fw=0" there is the forwards' previous layouts.
--group c16bwd / c16fwd: clusters of 16 CTAs ("cl=16", sm_90's non-portable size) for the owned-column
norm backward / forwards at 4096x131072 (c16fwd sweeps the forwards), and the split barrier's per-CTA
pre-sum ("ps=1"; ps32k: at 8192x32768).
--group ln131k / ln131kf: the split barrier's reads of the posted pairs ("pv=1|2") and its restricted
release ("fr=1"), backward (4096x131072, 8192x32768) / forwards (4096x131072).
--smx sweeps the softmax / log_softmax backward instead (dx checked against float64 on 64 rows and
the last; "sx=0" / "sx=1" the owned-column layout off / on wherever it fits); --group smxbwd is that
at 8192x32768 and 4096x131072 against the previous layouts, with the split barrier's forms.
Session 16's knobs (rows.c pick_geo): "pr=0" / "pr=N,prt=T[,pe=1]" the short-row norm backward's slot
partials off / in CTAs of T threads, N an SM; "pk=0|2" the 16-bit softmax forwards packed past 512 /
128 threads (default 256); "rk=0" the f32 softmax forwards of 8192-16384 columns back in clusters of 2;
"ft=N,lb=M" the softmax forward's row kernel in CTAs of N threads, M an SM; "ly=0|1|2" the log_softmax
backward's late y off / past 256 / past 128 threads (--smx).
"""
import argparse
import ctypes
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_elementwise import interleaved, copy_bandwidth  # noqa: E402
from bench_rows import Baracuda, NormBwdDesc, NormDesc, SoftmaxBwdDesc, SoftmaxDesc, TensorDesc, TORCH_DTYPE, TOLERANCE, EPS  # noqa: E402

SHAPES = [(32768, 4096), (8192, 32768), (4096, 131072)]
GROUPS = {
    # run 1 (docs/rows.md): the row kernel, colsum's previous form, the one-CTA owned layouts with and
    # without the split barrier (s1)
    "rows4k": ("32768x4096", ";cs=0;cl=1,tpr=256,mb=2,s1=1;cl=1,tpr=256,mb=2,s1=1,st=6;cl=1,tpr=256,mb=3,s1=1;"
               "cl=1,tpr=256,mb=4,s1=1,st=3;cl=1,tpr=512,s1=1,st=6;cl=1,tpr=512,mb=2,s1=1;cl=1,tpr=256,mb=2,s1=0;"
               "cl=1,st=4"),
    # run 2 (at e624e1a, with knobs since removed: pd=0, sa=48, oq=1): the one-CTA owned layouts against
    # the previous plan ("ow=0,cs=0") and the row kernel with the new colsum ("ow=0"), more stages or
    # CTAs an SM, 128-thread CTAs, the split barrier again
    "rows4k2": ("32768x4096", ";ow=0,cs=0;ow=0;cl=1,tpr=256,mb=2;cl=1,tpr=256,mb=2,st=6;cl=1,tpr=256,mb=3;"
                "cl=1,tpr=256,mb=4;cl=1,tpr=128,mb=4;cl=1,tpr=128,mb=6;cl=1,tpr=256,mb=2,s1=1;cl=1,st=4"),
    # rows11: clusters of 16 (the non-portable size, sm_90) for the owned-column norm backward at
    # 131072 columns (f32: 4 vectors a thread, 3 stages; bf16: 2 vectors, 4 stages), against the
    # default (the empty setting), with and without the split barrier, with the split barrier's
    # per-CTA pre-sum ("ps=1"), and the pre-sum in the default clusters (8: the bf16 rows).
    # rows11 run 1 was ";cl=16;cl=16,sb=0;cl=16,st=6" (no pre-sum yet)
    "c16bwd": ("4096x131072", ";cl=16;cl=16,sb=0;cl=16,ps=1;ps=1"),
    # the pre-sum in the default clusters at 8192x32768 (2 and 4)
    "ps32k": ("8192x32768", ";ps=1"),
    # the forwards (--fwd is implied): the pre-sum in the default clusters (8, or 4 for bf16 rms_norm),
    # clusters of 16 with it (fewer vectors a thread, 6 or 10 stages). rows11 run 1 was
    # ";cl=16;cl=16,st=4;cl=16,st=10" (no pre-sum yet)
    "c16fwd": ("4096x131072", ";ps=1;cl=16,ps=1;cl=16,ps=1,st=10", "fwd"),
    # ln131k: how the split barrier's posted pairs are read through distributed shared memory ("pv=1"
    # one load a pair, "pv=2" two f32 pairs a 16-byte load; the default a load a half) and its arrive's
    # release restricted to the posts ("fr=1": no MEMBAR.ALL.GPU), with and without the pre-sum
    "ln131k": ("4096x131072,8192x32768", ";ps=0,pv=1;ps=1,pv=1;ps=0,pv=2;fr=1;ps=0,pv=1,fr=1;ps=1,pv=1,fr=1"),
    "ln131kf": ("4096x131072", ";pv=1;fr=1;pv=1,fr=1;ps=0,pv=1,fr=1", "fwd"),
    # smx12: the softmax / log_softmax backward in the norm backward's owned columns (the default where
    # rows.c's smx_own says) against the layouts before ("sx=0"), everywhere it fits ("sx=1": the bf16
    # log_softmax backward too), with the split barrier's pair loads and restricted release
    "smxbwd": ("8192x32768,4096x131072", ";sx=0;sx=1;sx=1,pv=1,fr=1;sx=1,pv=0,fr=0", "smx"),
    # smx12 run 2 (with knobs since removed): the f32 softmax / log_softmax forwards of 32768 columns (one
    # 1024-thread CTA a row, a CTA launched a row) in clusters of two 512-thread CTAs, two an SM ("f2=1"),
    # and with a persistent grid ("pg=N" CTAs an SM walking the rows): slower or a tie (docs/rows.md)
    "f32fwd": ("8192x32768", ";f2=1;pg=1;f2=1,pg=2", "fwd"),
    # smx12: the forwards at 131072 in clusters of 16 with the split barrier's pair loads and restricted
    # release (rows11 measured clusters of 16 before those), and the 16-bit softmax / log_softmax
    # forwards owned ("sf=1" then; rows8 measured them before those) in the default cluster and in 8.
    # Since run 5 the 16-bit softmax forward is owned by default and "sf=1" adds log_softmax only.
    "fwd131k": ("4096x131072", ";cl=16,pv=1,fr=1;cl=16,pv=1,fr=1,st=4;sf=1,pv=1,fr=1;sf=1,cl=8,pv=1,fr=1", "fwd"),
    # session 15: the f32 softmax / log_softmax forwards of 32768 columns (and 16388, 20000) at fewer rows
    # than 2048, owned columns in clusters of 2 (the default since) against the 1024-thread row kernel
    # ("fw=0") and clusters of 4. Run 1 (before the default changed) was --shapes
    # 256x32768,512x32768,1024x32768,2048x32768 --configs ";cl=2;cl=4" --ops softmax,log_softmax --dtypes f32.
    # Use with --ops softmax,log_softmax --dtypes f32.
    "f32few": ("1x32768,8x32768,64x32768,128x32768,256x32768,1024x32768,300x16388,256x20000", ";fw=0;cl=4", "fwd"),
}


def check_rows(R):
    """The rows checked against float64: the first 64 (all of them in smaller shapes) and the last."""
    return list(range(min(64, R))) + ([R - 1] if R > 64 else [])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--configs", default="0;;nv=2;nv=2,mb=2;st=2;cl=8")
    ap.add_argument("--shapes", default=",".join(f"{r}x{c}" for r, c in SHAPES))
    ap.add_argument("--dtypes", default="bf16,f32")
    ap.add_argument("--ops", default="rms_norm,layer_norm")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out")
    ap.add_argument("--fwd", action="store_true", help="sweep the forwards (--ops may add softmax, log_softmax)")
    ap.add_argument("--smx", action="store_true", help="sweep the softmax / log_softmax backward instead")
    ap.add_argument("--group", choices=sorted(GROUPS), help="a preset of shapes and settings (above)")
    args = ap.parse_args()
    if args.group:
        args.shapes, args.configs = GROUPS[args.group][:2]
        if GROUPS[args.group][2:] == ("fwd",):
            args.fwd = True
            if args.ops == ap.get_default("ops"):
                args.ops = "softmax,log_softmax,rms_norm,layer_norm"
        args.smx = GROUPS[args.group][2:] == ("smx",)
    if args.smx and args.ops == ap.get_default("ops"):
        args.ops = "softmax,log_softmax"
    torch.empty(1, device="cuda")
    brc = Baracuda(args.lib)
    lib = brc.lib
    ctx = brc.context(0)
    st = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
    copy = copy_bandwidth()
    print(f"copy {copy:.1f} GB/s", flush=True)
    configs = args.configs.split(";")
    out = []
    if args.fwd:
        sweep_fwd(args, brc, ctx, st, copy, configs, out)
    if args.smx:
        sweep_smx_bwd(args, brc, ctx, st, copy, configs, out)
    for R, C, dtype, td, g, x in shape_inputs(args, skip=args.fwd or args.smx):
        dy = torch.randn(R, C, device="cuda", generator=g).to(td)
        w = (torch.rand(C, device="cuda", generator=g) + 0.5).to(td)
        b = (torch.rand(C, device="cuda", generator=g) - 0.5).to(td)
        for op in args.ops.split(","):
            layer = op == "layer_norm"
            xd = x[:64].double()
            mu = xd.mean(-1, keepdim=True) if layer else torch.zeros_like(xd[:, :1])
            xf = x.float()
            mean = xf.mean(-1) if layer else torch.zeros(R, device="cuda")
            var = ((xf - mean[:, None]) ** 2).mean(-1) if layer else (xf * xf).mean(-1)
            rstd = (1 / (var + EPS).sqrt()).contiguous()
            mean = mean.contiguous()
            del xf
            rs = 1 / ((xd - mu).pow(2).mean(-1, keepdim=True) + EPS).sqrt()
            xh, gw = (xd - mu) * rs, dy[:64].double() * w.double()
            c2 = gw.mean(-1, keepdim=True) if layer else 0
            ref = rs * (gw - xh * (gw * xh).mean(-1, keepdim=True) - c2)
            # PyTorch 2.11's Python bindings have neither native_layer_norm_backward nor
            # _fused_rms_norm_backward: autograd of the forward (what bench_rows falls back to).
            xr, wr = x.detach().requires_grad_(True), w.detach().requires_grad_(True)
            if layer:
                br = b.detach().requires_grad_(True)
                yr = F.layer_norm(xr, (C,), wr, br, EPS)
                tfn = lambda: torch.autograd.grad(yr, (xr, wr, br), dy, retain_graph=True)
            else:
                yr = F.rms_norm(xr, (C,), wr, EPS)
                tfn = lambda: torch.autograd.grad(yr, (xr, wr), dy, retain_graph=True)
            m = brc.mat(dtype, R, C)
            fns, skus, plans, dws, kept, wszs = [tfn], [], [], [], [], []
            for cfg in configs:
                set_knob(cfg)
                try:
                    p = brc.plan("brc_norm_backward_plan", NormBwdDesc(1 if layer else 0, m, m, m, 1, int(layer)),
                                 ctx)
                except RuntimeError as e:
                    print(f"{op:<10} {dtype:<4} {R:>5}x{C:<6} [{cfg:<10}] plan failed: {e}", flush=True)
                    out.append({"op": op, "dtype": dtype, "shape": [R, C], "config": cfg, "error": str(e)})
                    continue
                plans.append(p)
                sku = lib.brc_plan_sku(p).decode()
                wsz = lib.brc_plan_workspace_size(p)
                ws = torch.empty(max(wsz, 1), device="cuda", dtype=torch.uint8)
                dx, dw, db = torch.empty_like(x), torch.empty_like(w), torch.empty_like(w)
                run = (lambda p=p, ws=ws, wsz=wsz, dx=dx, dw=dw, db=db: brc.check(lib.brc_norm_backward_run(
                    p, x.data_ptr(), dy.data_ptr(), w.data_ptr(), mean.data_ptr(), rstd.data_ptr(), dx.data_ptr(),
                    dw.data_ptr(), db.data_ptr() if layer else None, ws.data_ptr(), wsz, st), op))
                dx.fill_(float("nan"))
                try:
                    run()
                    torch.cuda.synchronize()
                except RuntimeError as e:
                    print(f"{op:<10} {dtype:<4} {R:>5}x{C:<6} [{cfg:<10}] run failed: {e}  {sku}", flush=True)
                    out.append({"op": op, "dtype": dtype, "shape": [R, C], "config": cfg, "error": str(e),
                                "sku": sku})
                    continue
                e = ((dx[:64].double() - ref).norm() / ref.norm()).item()
                ew = 0.0 if not dws else ((dw.double() - dws[0]).norm() / dws[0].norm()).item()
                w1, b1 = dw.clone(), db.clone()
                dw.fill_(float("nan"))
                db.fill_(float("nan"))
                run()
                torch.cuda.synchronize()
                same = torch.equal(w1.view(torch.int16 if es2(w1) else torch.int32),
                                   dw.view(torch.int16 if es2(w1) else torch.int32)) and \
                    (not layer or torch.equal(b1.view(torch.int16 if es2(b1) else torch.int32),
                                              db.view(torch.int16 if es2(b1) else torch.int32)))
                dws.append(dw.double())
                if not (e < TOLERANCE[dtype] and ew < TOLERANCE[dtype]) or torch.isnan(dx).any().item() or not same:
                    raise AssertionError(f"{op} {dtype} {R}x{C} [{cfg}]: dx rel_l2 {e:.2e}, dweight {ew:.2e}, "
                                         f"bitwise again {same}")
                fns.append(run)
                skus.append(sku)
                kept.append(cfg)
                wszs.append(wsz)
            os.environ.pop("BARACUDA_ROWS_OWN", None)
            med, ratios = interleaved(*fns, rounds=args.rounds)
            es = x.element_size()
            nbytes = 3 * R * C * es + R * 4 * (2 if layer else 1) + C * es * (3 if layer else 2)
            for i, cfg in enumerate(kept):
                us = med[i + 1]
                row = {"op": op, "dtype": dtype, "shape": [R, C], "config": cfg, "ours_us": round(us, 1),
                       "workspace": wszs[i],
                       "torch_us": round(med[0], 1), "pct_copy": round(100 * nbytes / (us * 1e-6) / 1e9 / copy, 1),
                       "ratio_vs_torch": round(1 / ratios[i], 3), "sku": skus[i]}
                out.append(row)
                print(f"{op:<10} {dtype:<4} {R:>5}x{C:<6} [{cfg:<10}] {us:8.1f} us  torch {med[0]:8.1f}  "
                      f"{row['pct_copy']:5.1f}%  {row['ratio_vs_torch']:5.2f}x  {skus[i]} ws={wszs[i]}", flush=True)
            for p in plans:
                lib.brc_plan_destroy(p)
            del dws
        del x, dy
    lib.brc_context_destroy(ctx)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"copy_gbps": copy, "rows": out}, f, indent=1)


def shape_inputs(args, skip=False):
    """(rows, cols, dtype name, torch dtype, generator, x) for every shape and dtype asked: x of N(0.5, 4)
    seeded by the shape; the generator goes on to the caller's other inputs. Frees x after each."""
    for shape in [] if skip else args.shapes.split(","):
        R, C = (int(v) for v in shape.split("x"))
        for dtype in args.dtypes.split(","):
            td = TORCH_DTYPE[dtype]
            g = torch.Generator(device="cuda").manual_seed(R * 131 + C)
            x = (torch.randn(R, C, device="cuda", generator=g) * 2 + 0.5).to(td)
            yield R, C, dtype, td, g, x
            del x
            torch.cuda.empty_cache()


def es2(t):
    """Whether t's elements are 2 bytes (its bits compared as int16, else int32)."""
    return t.element_size() == 2


def set_knob(cfg):
    if cfg:
        os.environ["BARACUDA_ROWS_OWN"] = cfg
    else:
        os.environ.pop("BARACUDA_ROWS_OWN", None)


def timed_settings(args, lib, configs, tfn, make, check, tag, shape_dt, out):
    """Plans and checks every setting (make() -> (plan, run), check() -> (rel_l2, any NaN)), then
    times the kept ones interleaved with tfn; returns [(tag, shape_dt, cfg, us, torch_us, ratio, sku)] for report."""
    fns, skus, plans, kept = [tfn], [], [], []
    for cfg in configs:
        set_knob(cfg)
        try:
            p, run = make()
        except RuntimeError as e:
            print(f"{tag} [{cfg:<10}] plan failed: {e}", flush=True)
            out.append(dict(shape_dt, config=cfg, error=str(e)))
            continue
        plans.append(p)
        sku = lib.brc_plan_sku(p).decode()
        try:
            run()
            torch.cuda.synchronize()
        except RuntimeError as e:
            print(f"{tag} [{cfg:<10}] run failed: {e}  {sku}", flush=True)
            out.append(dict(shape_dt, config=cfg, error=str(e), sku=sku))
            continue
        e, nan = check()
        if not e < TOLERANCE[shape_dt["dtype"]] or nan:
            raise AssertionError(f"{tag} [{cfg}]: rel_l2 {e:.2e}")
        fns.append(run)
        skus.append(sku)
        kept.append(cfg)
    set_knob("")
    med, ratios = interleaved(*fns, rounds=args.rounds)
    res = [(tag, shape_dt, cfg, med[i + 1], med[0], 1 / ratios[i], skus[i]) for i, cfg in enumerate(kept)]
    for p in plans:
        lib.brc_plan_destroy(p)
    return res


def sweep_smx_bwd(args, brc, ctx, st, copy, configs, out):
    """The softmax / log_softmax backward: every setting interleaved with PyTorch's backward, dx checked
    against float64 on 64 rows and the last."""
    lib = brc.lib
    for R, C, dtype, td, g, x in shape_inputs(args):
        dy = torch.randn(R, C, device="cuda", generator=g).to(td)
        idx = check_rows(R)
        m = brc.mat(dtype, R, C)
        for op in args.ops.split(","):
            log = op == "log_softmax"
            y = (torch.log_softmax(x.float(), -1) if log else torch.softmax(x.float(), -1)).to(td)
            yd, gd = y[idx].double(), dy[idx].double()
            ref = gd - yd.exp() * gd.sum(-1, keepdim=True) if log else yd * (gd - (yd * gd).sum(-1, keepdim=True))
            tfn = (lambda: torch._log_softmax_backward_data(dy, y, -1, td)) if log else \
                (lambda: torch._softmax_backward_data(dy, y, -1, td))
            dx = torch.empty_like(x)

            def make():
                p = brc.plan("brc_softmax_backward_plan", SoftmaxBwdDesc(int(log), m, m, m), ctx)
                return p, (lambda p=p: brc.check(lib.brc_softmax_backward_run(
                    p, y.data_ptr(), dy.data_ptr(), dx.data_ptr(), None, 0, st), op))

            def check():
                r, nan = ((dx[idx].double() - ref).norm() / ref.norm()).item(), torch.isnan(dx).any().item()
                dx.fill_(float("nan"))
                return r, nan

            dx.fill_(float("nan"))
            report(out, copy, 3 * R * C * x.element_size(),
                   timed_settings(args, lib, configs, tfn, make, check, f"{op:<11} bwd {dtype:<4} {R:>5}x{C:<6}",
                                  {"op": op, "dir": "bwd", "dtype": dtype, "shape": [R, C]}, out))
            del y
        del x, dy


def sweep_fwd(args, brc, ctx, st, copy, configs, out):
    """The forwards: every setting interleaved with PyTorch's forward, y checked against float64."""
    lib = brc.lib
    for R, C, dtype, td, g, x in shape_inputs(args):
        w = (torch.rand(C, device="cuda", generator=g) + 0.5).to(td)
        b = (torch.rand(C, device="cuda", generator=g) - 0.5).to(td)
        mean = torch.empty(R, device="cuda")
        rstd = torch.empty(R, device="cuda")
        idx = check_rows(R)
        xd = x[idx].double()
        m = brc.mat(dtype, R, C)
        es = x.element_size()
        for op in args.ops.split(","):
            smx, layer = op in ("softmax", "log_softmax"), op == "layer_norm"
            if smx:
                log = op == "log_softmax"
                ref = torch.log_softmax(xd, -1) if log else torch.softmax(xd, -1)
                tfn = (lambda: torch.log_softmax(x, -1)) if log else (lambda: torch.softmax(x, -1))
                nbytes = 2 * R * C * es
            else:
                ref = F.layer_norm(xd, (C,), w.double(), b.double(), EPS) if layer else \
                    F.rms_norm(xd, (C,), w.double(), EPS)
                tfn = (lambda: F.layer_norm(x, (C,), w, b, EPS)) if layer else (lambda: F.rms_norm(x, (C,), w, EPS))
                nbytes = 2 * R * C * es + (2 if layer else 1) * C * es + (2 if layer else 1) * R * 4
            y = torch.empty_like(x)

            def make():
                if smx:
                    p = brc.plan("brc_softmax_plan", SoftmaxDesc(int(op == "log_softmax"), m, m), ctx)
                    return p, (lambda p=p: brc.check(lib.brc_softmax_run(p, x.data_ptr(), y.data_ptr(), None, 0,
                                                                         st), op))
                nd = NormDesc(int(layer), m, m, 1, int(layer), 0, TensorDesc(), TensorDesc(), EPS)
                p = brc.plan("brc_norm_plan", nd, ctx)
                bp = b.data_ptr() if layer else None
                return p, (lambda p=p: brc.check(lib.brc_norm_run(
                    p, x.data_ptr(), None, w.data_ptr(), bp, y.data_ptr(), None, mean.data_ptr(), rstd.data_ptr(),
                    None, 0, st), op))

            def check():
                r, nan = ((y[idx].double() - ref).norm() / ref.norm()).item(), torch.isnan(y).any().item()
                y.fill_(float("nan"))
                return r, nan

            y.fill_(float("nan"))
            report(out, copy, nbytes, timed_settings(args, lib, configs, tfn, make, check,
                                                    f"{op:<11} fwd {dtype:<4} {R:>5}x{C:<6}",
                                                    {"op": op, "dir": "fwd", "dtype": dtype, "shape": [R, C]},
                                                    out))
            del y
        del x


def report(out, copy, nbytes, timed):
    """One row a (setting, time) of timed_settings: % of copy, the ratio to PyTorch, the SKU."""
    for tag, base, cfg, us, tus, ratio, sku in timed:
        row = dict(base, config=cfg, ours_us=round(us, 1), torch_us=round(tus, 1),
                   pct_copy=round(100 * nbytes / (us * 1e-6) / 1e9 / copy, 1), ratio_vs_torch=round(ratio, 3), sku=sku)
        out.append(row)
        print(f"{tag} [{cfg:<10}] {us:8.1f} us  torch {tus:8.1f}  {row['pct_copy']:5.1f}%  {row['ratio_vs_torch']:5.2f}x  "
              f"{sku}", flush=True)


if __name__ == "__main__":
    main()
