#!/usr/bin/env python3
"""Transposes of a few sizes, ours and PyTorch's: the host time of one call (a bare ctypes call of
brc_copy_run; PyTorch's t.copy_(x.permute(1, 0)); host_us: batches on a drained queue), the per-launch time of back-to-back eager
launches of that call (bench_elementwise.time_us), and the per-launch GPU time of the same launches replayed
from a CUDA graph (no host in between); with a same-bytes contiguous copy replayed likewise and
the plan's descriptor. Shows whether a bench row is bound by the host or by the kernel.
Then the host cost of one launch through the library against PyTorch's: a contiguous copy (plan
made once; the pointers as Python ints) called bare through ctypes, PyTorch's y.copy_(x) of the
same tensors, and a ctypes call of libc's memcmp(a, b, 0) (the cost of ctypes itself; ours less
that is the C run path: checks, argument packing and cuLaunchKernel).
Run on the GPU machine:  python3 bench/movement_overhead.py build/libbaracuda.so"""
import ctypes, statistics, sys, time, os
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_movement import Baracuda, PermuteDesc, desc_of, rand  # noqa: E402
from bench_elementwise import time_us, copy_bandwidth  # noqa: E402

brc = Baracuda(sys.argv[1])
lib = brc.lib
ctx = brc.context(0)
print("copy GB/s", round(copy_bandwidth(), 1), flush=True)


def graph_us(fn, reps=20, rounds=9):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(reps):
            fn()
    g.replay()
    torch.cuda.synchronize()
    ts = []
    for _ in range(rounds):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b) * 1e3 / reps)
    return statistics.median(ts)


def host_us(fn, batch=64, batches=20, rounds=3):
    """Median over rounds of the host time a call: batches of `batch` calls, each started on a
    drained queue (synchronized outside the timed region), so that no launch waits for room in the
    queue and the time is the host's, not the GPU's."""
    ts = []
    for _ in range(rounds):
        tot = 0.0
        for _ in range(batches):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(batch):
                fn()
            tot += time.perf_counter() - t0
        ts.append(tot / (batch * batches) * 1e6)
    torch.cuda.synchronize()
    return statistics.median(ts)


for shape, dt in [((4096, 1000), torch.bfloat16), ((4096, 1000), torch.float32), ((512, 512), torch.bfloat16),
                  ((64, 1024), torch.bfloat16)]:
    g = torch.Generator(device="cuda").manual_seed(1)
    x = rand(shape, dt, g)
    xv = x.permute(1, 0)
    y = torch.empty(xv.shape, dtype=dt, device="cuda")
    t = torch.empty_like(y)
    pd = PermuteDesc(desc_of(x), desc_of(y))
    pd.perm[0], pd.perm[1] = 1, 0
    p = brc.plan("brc_permute_plan", pd, ctx)
    desc = lib.brc_plan_descriptor(p).decode()

    def ours():
        brc.check(lib.brc_copy_run(p, x.data_ptr(), y.data_ptr(), ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)), "run")

    st = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
    bare = lambda: lib.brc_copy_run(p, x.data_ptr(), y.data_ptr(), st)  # noqa: E731
    ours()
    torch.cuda.synchronize()
    assert torch.equal(y, xv.contiguous())
    cpu_bare = host_us(bare)
    cpu_torch = host_us(lambda: t.copy_(xv))
    eager = time_us(bare)
    eager_t = time_us(lambda: t.copy_(xv))
    gr = graph_us(ours)
    gr_t = graph_us(lambda: t.copy_(xv))
    x2 = x.reshape(-1).clone()
    y2 = torch.empty_like(x2)
    gr_c = graph_us(lambda: y2.copy_(x2))
    nb = 2 * x.numel() * x.element_size()
    print(f"{str(shape):>14} {str(dt)[6:]:<9} {desc:<28} host/call ours {cpu_bare:5.2f} us torch {cpu_torch:5.2f} | "
          f"eager ours {eager:7.2f} torch {eager_t:7.2f} | graph ours {gr:7.2f} ({nb / gr / 1e3:6.0f} GB/s) torch {gr_t:7.2f} "
          f"same-bytes copy {gr_c:7.2f} ({nb / gr_c / 1e3:6.0f} GB/s)", flush=True)
    lib.brc_plan_destroy(p)


libc = ctypes.CDLL(None)
libc.memcmp.restype, libc.memcmp.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]


from bench_movement import CopyDesc  # noqa: E402

for shape, dt in [((64, 1024), torch.bfloat16), ((64, 1024), torch.float32), ((4096, 1000), torch.bfloat16)]:
    g = torch.Generator(device="cuda").manual_seed(2)
    x = rand(shape, dt, g)
    y = torch.empty_like(x)
    p = brc.plan("brc_copy_plan", CopyDesc(desc_of(x), desc_of(y)), ctx)
    xp, yp = x.data_ptr(), y.data_ptr()
    st = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
    assert lib.brc_copy_run(p, xp, yp, st) == 0
    torch.cuda.synchronize()
    assert torch.equal(x, y)
    run = lib.brc_copy_run
    a = torch.empty(16, dtype=torch.uint8, device="cpu")
    ap = a.data_ptr()
    for _ in range(2):  # two interleaved passes
        ours = host_us(lambda: run(p, xp, yp, st))
        theirs = host_us(lambda: y.copy_(x))
        noop = host_us(lambda: libc.memcmp(ap, ap, 0))
        print(f"host a call, contiguous copy {str(shape):>12} {str(dt)[6:]:<9} {lib.brc_plan_descriptor(p).decode():<34} "
              f"ours (bare ctypes brc_copy_run) {ours:5.2f} us, torch y.copy_(x) {theirs:5.2f} us, "
              f"ctypes memcmp(a, b, 0) {noop:5.2f} us -> our C run path ~{ours - noop:5.2f} us", flush=True)
    lib.brc_plan_destroy(p)
