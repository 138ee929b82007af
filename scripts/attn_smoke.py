"""Quick GPU smoke check of the attention family against a float64 torch reference (development aid;
the full tests are tests/gpu/test_attention.c)."""
import ctypes as C, math, sys, time
import torch

lib = C.CDLL(sys.argv[1] if len(sys.argv) > 1 else "build/libbaracuda.so")
class TD(C.Structure):
    _fields_ = [("dtype", C.c_int), ("rank", C.c_int32), ("shape", C.c_int64 * 8), ("strides", C.c_int64 * 8)]
class Desc(C.Structure):
    _fields_ = [("kind", C.c_int)] + [(n, TD) for n in "q k v o lse dout dq dk dv".split()] + [
        ("has_mask", C.c_int), ("mask", TD), ("has_alibi", C.c_int), ("alibi", TD), ("causal", C.c_int),
        ("window_left", C.c_int64), ("window_right", C.c_int64), ("scale", C.c_double), ("softcap", C.c_double),
        ("dropout_p", C.c_double), ("varlen", C.c_int), ("batch", C.c_int64), ("max_seqlen_q", C.c_int64),
        ("max_seqlen_k", C.c_int64)]
class Philox(C.Structure):
    _fields_ = [("seed", C.c_uint64), ("offset", C.c_uint64), ("device", C.c_void_p)]
class Args(C.Structure):
    _fields_ = [(n, C.c_void_p) for n in "q k v o lse dout dq dk dv mask alibi cu_q cu_k".split()] + [("philox", Philox)]
assert C.sizeof(Desc) == 1600 and C.sizeof(Args) == 128
lib.brc_last_error.restype = C.c_char_p
lib.brc_plan_sku.restype = C.c_char_p
lib.brc_plan_workspace_size.restype = C.c_size_t
ctx = C.c_void_p()
class Opts(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("device", C.c_int), ("arch", C.c_char_p), ("cache_files", C.c_char_p)]
o = Opts(C.sizeof(Opts), 0, None, None)
assert lib.brc_context_create(C.byref(o), C.byref(ctx)) == 0, lib.brc_last_error()
DT = {torch.float16: 2, torch.bfloat16: 3, torch.float32: 0, torch.bool: 12}

def td(t):
    d = TD(); d.dtype = DT[t.dtype]; d.rank = t.dim()
    for i in range(t.dim()): d.shape[i] = t.shape[i]; d.strides[i] = t.stride(i)
    return d

def ref(q, k, v, scale, causal=False, wl=-1, wr=-1, softcap=0., alibi=None, mask=None):
    # q [B,Sq,H,D] -> f64
    B, Sq, H, D = q.shape; Sk, Hkv = k.shape[1], k.shape[2]
    qd, kd, vd = (x.double().permute(0, 2, 1, 3) for x in (q, k, v))
    kd = kd.repeat_interleave(H // Hkv, 1); vd = vd.repeat_interleave(H // Hkv, 1)
    s = qd @ kd.transpose(-1, -2) * scale
    if softcap: s = softcap * torch.tanh(s / softcap)
    i = torch.arange(Sq, device=q.device).view(-1, 1); j = torch.arange(Sk, device=q.device).view(1, -1)
    rel = i + (Sk - Sq) - j
    if alibi is not None: s = s - alibi.double().view(-1, H, 1, 1) * rel.abs()
    if mask is not None:
        if mask.dtype == torch.bool: s = s.masked_fill(~mask, -math.inf)
        else: s = s + mask.double()
    if causal: wr = 0
    allowed = torch.ones_like(rel, dtype=torch.bool)
    if wr >= 0: allowed &= j <= i + (Sk - Sq) + wr
    if wl >= 0: allowed &= j >= i + (Sk - Sq) - wl
    s = s.masked_fill(~allowed, -math.inf)
    lse = torch.logsumexp(s, -1)
    p = torch.exp(s - lse.unsqueeze(-1)).nan_to_num(0.)
    out = p @ vd
    return out.permute(0, 2, 1, 3), lse

def run(kind, tens, desc, force=None):
    plan = C.c_void_p()
    st = lib.brc_attention_plan(ctx, C.byref(desc), None, C.byref(plan))
    assert st == 0, lib.brc_last_error()
    ws = lib.brc_plan_workspace_size(plan)
    wbuf = torch.empty(max(ws, 1), dtype=torch.uint8, device="cuda")
    a = Args()
    for n, t in tens.items(): setattr(a, n, t.data_ptr())
    st = lib.brc_attention_run(plan, C.byref(a), C.c_void_p(wbuf.data_ptr()), C.c_size_t(ws), None)
    assert st == 0, lib.brc_last_error()
    torch.cuda.synchronize()
    return plan

def check(name, got, want, tol):
    g, w = got.double(), want.double()
    fin = torch.isfinite(w)
    err = ((g - w)[fin].norm() / w[fin].norm().clamp_min(1e-30)).item() if fin.any() else 0.
    bad = not torch.isfinite(g[fin]).all() or err > tol
    print(f"  {name}: rel_l2 {err:.2e} {'FAIL' if bad else 'ok'}")
    return not bad

fails = 0
def case(B, Sq, Sk, H, Hkv, D, dt=torch.bfloat16, causal=False, wl=-1, wr=-1, softcap=0., use_alibi=False, mask=None, bwd=True, bhsd=False):
    global fails
    torch.manual_seed(1)
    def mk(S, h):
        if bhsd: return (torch.rand(B, h, S, D, device="cuda") * 2 - 1).to(dt).transpose(1, 2)
        return (torch.rand(B, S, h, D, device="cuda") * 2 - 1).to(dt)
    q, k, v = mk(Sq, H), mk(Sk, Hkv), mk(Sk, Hkv)
    o = torch.full((B, Sq, H, D), float("nan"), dtype=dt, device="cuda")
    lse = torch.full((B, H, Sq), float("nan"), device="cuda")
    alibi = (torch.rand(H, device="cuda") * 0.5) if use_alibi else None
    d = Desc(); d.kind = 0
    d.q, d.k, d.v, d.o, d.lse = td(q), td(k), td(v), td(o), td(lse)
    d.causal = int(causal); d.window_left = wl; d.window_right = wr; d.softcap = softcap
    if use_alibi: d.has_alibi = 1; d.alibi = td(alibi)
    tens = dict(q=q, k=k, v=v, o=o, lse=lse)
    if alibi is not None: tens["alibi"] = alibi
    if mask is not None: d.has_mask = 1; d.mask = td(mask); tens["mask"] = mask
    t0 = time.time()
    plan = run(0, tens, d)
    sku = lib.brc_plan_sku(plan).decode()
    print(f"B{B} Sq{Sq} Sk{Sk} H{H}/{Hkv} D{D} {dt} causal={causal} w=({wl},{wr}) cap={softcap} alibi={use_alibi} mask={None if mask is None else mask.dtype}: {sku} ({time.time()-t0:.2f}s)")
    scale = 1 / math.sqrt(D)
    qr, kr, vr = (x.detach().double().requires_grad_(True) for x in (q, k, v))
    ro, rl = ref(qr, kr, vr, scale, causal, wl, wr, softcap, alibi, mask)
    fails += not check("o", o, ro.detach(), 2e-2)
    fails += not check("lse", lse, rl.detach(), 1e-3)
    if not bwd: return
    do = (torch.rand(B, Sq, H, D, device="cuda") * 2 - 1).to(dt)
    dq = torch.full_like(q, float("nan")); dk = torch.full_like(k, float("nan")); dv = torch.full_like(v, float("nan"))
    db = Desc(); ctypes_copy = C.memmove(C.byref(db), C.byref(d), C.sizeof(d)); db.kind = 1
    db.dout, db.dq, db.dk, db.dv = td(do), td(dq), td(dk), td(dv)
    tens.update(dout=do, dq=dq, dk=dk, dv=dv)
    run(1, tens, db)
    ro.backward(do.double())
    fails += not check("dq", dq, qr.grad, 3e-2)
    fails += not check("dk", dk, kr.grad, 3e-2)
    fails += not check("dv", dv, vr.grad, 3e-2)

def smoke():
    case(2, 257, 257, 4, 2, 64)
    case(2, 257, 257, 4, 2, 128, causal=True)
    case(1, 100, 333, 4, 4, 32, causal=True, dt=torch.float16)
    case(1, 333, 100, 4, 1, 96, causal=True)
    case(1, 200, 300, 2, 2, 192, wl=50, wr=10)
    case(1, 129, 129, 2, 2, 256, softcap=5., use_alibi=True)
    case(2, 65, 77, 4, 2, 128, mask=(torch.rand(2, 1, 65, 77, device="cuda") > 0.3))
    case(2, 65, 77, 4, 2, 64, mask=torch.randn(1, 4, 65, 77, device="cuda").half(), bhsd=True)
    case(4, 1, 1000, 8, 2, 128, bwd=True)
    case(2, 4, 1000, 32, 4, 128, bwd=False, causal=True)
    case(1, 1, 5000, 8, 1, 64, bwd=False)
    print("FAILURES", fails)


def bench(B, S, H, Hkv, D, causal, Sq=None, dt=torch.bfloat16):
    Sq = Sq or S
    q = torch.randn(B, Sq, H, D, device="cuda", dtype=dt); k = torch.randn(B, S, Hkv, D, device="cuda", dtype=dt)
    v = torch.randn_like(k); o = torch.empty_like(q); lse = torch.empty(B, H, Sq, device="cuda")
    do = torch.randn_like(q); dq = torch.empty_like(q); dk = torch.empty_like(k); dv = torch.empty_like(v)
    res = {}
    for kind in (0, 1):
        if kind == 1 and Sq != S: continue
        d = Desc(); d.kind = kind; d.causal = int(causal); d.window_left = d.window_right = -1
        d.q, d.k, d.v, d.o, d.lse, d.dout, d.dq, d.dk, d.dv = (td(x) for x in (q, k, v, o, lse, do, dq, dk, dv))
        plan = C.c_void_p(); assert lib.brc_attention_plan(ctx, C.byref(d), None, C.byref(plan)) == 0, lib.brc_last_error()
        ws = lib.brc_plan_workspace_size(plan); wb = torch.empty(max(ws, 1), dtype=torch.uint8, device="cuda")
        a = Args()
        for n, t in dict(q=q, k=k, v=v, o=o, lse=lse, dout=do, dq=dq, dk=dk, dv=dv).items(): setattr(a, n, t.data_ptr())
        f = lambda: lib.brc_attention_run(plan, C.byref(a), C.c_void_p(wb.data_ptr()), C.c_size_t(ws), None)
        res[("ours", kind)] = timeit(f)
        res[("sku", kind)] = lib.brc_plan_sku(plan).decode()
    from torch.nn.attention import sdpa_kernel, SDPBackend
    import torch.nn.functional as F
    qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
    if Hkv != H: kt, vt = kt.repeat_interleave(H // Hkv, 1), vt.repeat_interleave(H // Hkv, 1)
    for be in (SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION):
        try:
            with sdpa_kernel(be):
                res[(be.name, 0)] = timeit(lambda: F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal))
                if Sq == S:
                    qg, kg, vg = (x.detach().requires_grad_(True) for x in (qt, kt, vt))
                    out = F.scaled_dot_product_attention(qg, kg, vg, is_causal=causal)
                    g = do.transpose(1, 2)
                    res[(be.name, 1)] = timeit(lambda: torch.autograd.grad(out, (qg, kg, vg), g, retain_graph=True))
        except Exception as e:
            print("  ", be.name, "failed:", str(e)[:80])
    fl = 4 * B * H * Sq * S * D * (0.5 if causal else 1)
    for kind in (0, 1):
        if ("ours", kind) not in res: continue
        mul = 2.5 if kind else 1
        line = f"{'bwd' if kind else 'fwd'} B{B} H{H}/{Hkv} Sq{Sq} S{S} D{D} causal={causal}: ours {res[('ours',kind)]:.1f} us {fl*mul/res[('ours',kind)]/1e6:.0f} TF"
        for be in ("FLASH_ATTENTION", "CUDNN_ATTENTION"):
            if (be, kind) in res: line += f" | {be[:5]} {res[(be,kind)]:.1f} us {fl*mul/res[(be,kind)]/1e6:.0f} TF"
        if Sq != S:
            byt = 2 * B * S * Hkv * D * 2
            line += f" | KV {byt/res[('ours',kind)]/1e6:.0f} GB/s"
        print(line, "|", res[("sku", kind)])

def timeit(f, n=20):
    f(); torch.cuda.synchronize()
    e0, e1 = torch.cuda.Event(True), torch.cuda.Event(True)
    e0.record()
    for _ in range(n): f()
    e1.record(); torch.cuda.synchronize()
    return e0.elapsed_time(e1) * 1000 / n

if "--bench" in sys.argv:
    bench(4, 4096, 32, 32, 128, False)
    bench(4, 4096, 32, 32, 128, True)
    bench(8, 4096, 16, 16, 64, False)
    bench(4, 4096, 16, 16, 256, True)
    bench(32, 4096, 32, 8, 128, False, Sq=1)
    bench(1, 32768, 32, 8, 128, False, Sq=1)

if "--bench" not in sys.argv and "--quick" not in sys.argv:
    smoke()
if "--quick" in sys.argv:
    for D in (64, 128):
        bench(4, 4096, 32, 32, D, False)
        bench(4, 4096, 32, 32, D, True)
