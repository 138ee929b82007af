#!/usr/bin/env python3
"""Finds kernels whose global loads cannot all be in flight: the loads of a tile that ptxas gave one
destination register, so each waits for the one before it to be consumed (session 21 found the
16-bit scans from the end doing this: four LDG.E.128 into R12, one load in flight a thread, 78% of
copy where the forward ran at 97%).

Reads the cubins of a cache (the kernels.db that `baracuda warm` fills), disassembles each with
cuobjdump (on the GPU machine: /usr/local/cuda/bin; not on the build machine) and prints, a kernel a
line, the most LDGs that write one register within 64 instructions of each other ("same"), the LDG
count, registers, local (spill) bytes and the descriptor; --min N keeps the lines with same >= N.

    BARACUDA_CACHE_DIR=/tmp/cw build/baracuda warm --manifest M --arch sm_90    # here
    python3 bench/sass_loads.py --cache /tmp/cw --min 2                           # there
"""
import argparse
import os
import re
import sqlite3
import subprocess
import tempfile

INSN = re.compile(r"\s+/\*[0-9a-f]{4}\*/")
LDG = re.compile(r"LDG[.A-Z0-9]* (R\d+)")


def same_dest(sass):
    ins = [line.split(";")[0] for line in sass.splitlines() if INSN.match(line)]
    loads = [(n, m.group(1)) for n, s in enumerate(ins) for m in [LDG.search(s)] if m]
    worst = 0
    for a, (n, r) in enumerate(loads):
        worst = max(worst, sum(1 for m, q in loads[a:] if q == r and m - n < 64))
    return worst, len(loads)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", required=True, help="the cache directory (holds kernels.db)")
    ap.add_argument("--min", type=int, default=0, help="print only kernels with at least this many")
    args = ap.parse_args()
    db = sqlite3.connect(os.path.join(args.cache, "kernels.db"))
    rows = db.execute("select descriptor, arch, regs, local_bytes, image from kernels order by descriptor").fetchall()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "k.cubin")
        for desc, arch, regs, local, image in rows:
            with open(path, "wb") as f:
                f.write(image)
            sass = subprocess.run(["cuobjdump", "-sass", path], capture_output=True, text=True).stdout
            worst, n = same_dest(sass)
            if worst >= args.min:
                print(f"same={worst} ldg={n:3d} regs={regs:3d} local={local:3d} {arch} {desc}", flush=True)


if __name__ == "__main__":
    main()
