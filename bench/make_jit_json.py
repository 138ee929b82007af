#!/usr/bin/env python3
"""Collects the JSON lines of bench_jit's four modes into bench/results/jit.json and prints a table.

    build/bench/bench_jit cold /tmp/brc-bench-cache > /tmp/jit_cold.json
    build/bench/bench_jit disk /tmp/brc-bench-cache > /tmp/jit_disk.json
    build/bench/bench_jit reselect /tmp/brc-bench-cache > /tmp/jit_reselect.json
    build/bench/bench_jit overhead /tmp/brc-bench-cache > /tmp/jit_overhead.json
    python3 bench/make_jit_json.py /tmp/jit_cold.json /tmp/jit_disk.json /tmp/jit_reselect.json \
        /tmp/jit_overhead.json --out bench/results/jit.json

The files may come in any order (each names its mode). The targets are those of
shared/design/performance.md; a row's "pass" says whether it met its target.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

MODES = ("cold", "disk", "reselect", "overhead")


def nvidia_smi(field):
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        return out.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def device_name():
    name = nvidia_smi("name")
    if name:
        return name
    try:
        import torch
        if torch.cuda.is_available():
            return torch.cuda.get_device_name()
    except ImportError:
        pass
    return "unknown"


def read_modes(paths):
    """{mode: object} from files holding one bench_jit JSON object each (other lines ignored)."""
    found = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                obj = json.loads(line)
                mode = obj.get("mode")
                if mode not in MODES:
                    sys.exit(f"{path}: unknown mode {mode!r}")
                if mode in found:
                    sys.exit(f"{path}: mode {mode} given twice")
                found[mode] = obj
    missing = [m for m in MODES if m not in found]
    if missing:
        sys.exit("missing bench_jit output for: " + ", ".join(missing))
    return found


def row(op, dtype, unit, ours, target, **extra):
    """unit is "ms" or "us": the row carries ours_<unit> and target_<unit> (None: no target)."""
    r = {"op": op, "shape": [], "dtype": dtype, "direction": "fwd", f"ours_{unit}": round(ours, 4),
         f"target_{unit}": target, "pass": None if target is None else ours <= target}
    r.update(extra)
    return r


def build_rows(m):
    cold, disk, resel, ovh = m["cold"], m["disk"], m["reselect"], m["overhead"]
    n_cold = len(cold["values_ms"])
    return [
        row("jit.cold_compile", "mixed", "ms", cold["median_ms"], 50,
            note=f"plan creation that compiles (NVRTC + nvJitLink + load), median of {n_cold - 1} "
                 "distinct unary kernels after the first in the process",
            values_ms=cold["values_ms"], plans=cold["plans"]),
        row("jit.cold_compile_first", "mixed", "ms", cold["first_ms"], None,
            note="the first compile in the process (includes loading NVRTC and nvJitLink, opening the cache)"),
        row("jit.disk_hit", "mixed", "ms", disk["median_ms"], 1,
            note="plan creation served by the disk cache in a fresh process, median after the first",
            values_ms=disk["values_ms"]),
        row("jit.disk_hit_first", "mixed", "ms", disk["first_ms"], 1,
            note="the first disk hit in a fresh process (includes opening the SQLite cache)"),
        row("jit.context_create", "none", "ms", disk["context_ms"], None,
            note="brc_context_create(device 0) in a fresh process (driver load, cuInit, primary context)"),
        row("jit.reselect", "f32", "us", resel["median_us"], 2,
            note=f"brc_unary_plan of a plan already made in the process (memory hit), median of "
                 f"{resel['iterations']}; mean {resel['mean_us']:.3f} us",
            sku=resel["sku"]),
        row("jit.run_overhead", "f32", "us", ovh["overhead_us"], 1,
            note=f"host time per brc_unary_run minus per bare cuLaunchKernel of a kernel with the same "
                 f"parameters ({ovh['calls']} calls each, n={ovh['numel']})",
            ours_ns_per_call=ovh["ours_ns_per_call"], bare_ns_per_call=ovh["bare_ns_per_call"],
            sku=ovh["sku"]),
    ]


def print_table(doc):
    print(f"{doc['device']}  driver {doc['driver']}  commit {doc['commit']}")
    head = f"{'op':<24} {'ours':>12} {'target':>10}  pass"
    print(head)
    print("-" * len(head))
    for r in doc["rows"]:
        unit = "ms" if "ours_ms" in r else "us"
        target = r[f"target_{unit}"]
        tgt = f"{target} {unit}" if target is not None else "-"
        ok = {True: "yes", False: "NO", None: "-"}[r["pass"]]
        print(f"{r['op']:<24} {r[f'ours_{unit}']:>9.3f} {unit} {tgt:>10}  {ok}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs=4, help="stdout of bench_jit cold, disk, reselect and overhead")
    ap.add_argument("--out", default="bench/results/jit.json", help="results JSON to write")
    args = ap.parse_args()

    doc = {
        "device": device_name(),
        "driver": nvidia_smi("driver_version") or "unknown",
        "date": datetime.date.today().isoformat(),
        "commit": os.environ.get("BRC_COMMIT", "unknown"),
        "copy_gbps": None,
        "rows": build_rows(read_modes(args.files)),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print_table(doc)


if __name__ == "__main__":
    main()
