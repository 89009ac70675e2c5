"""The benchmark's legacy-ST part alone: HER2ST B4's held-out spots, DeepHEx at its defaults (3 training seeds) beside the
baselines that need no training (nearest, IDW, ridge, ridge + IDW), with `deephex.benchmark`'s protocol and tables.

For a change that touches only DeepHEx on sections like B4 (e.g. how the blend weight is chosen) this refreshes the
B4 rows of `benchmarks/benchmark.md` in ~5 minutes (4 min 17 s on 2 cores) instead of the full benchmark's hour; the iStar-style and BCAF
rows there do not depend on it. Run from the repository root:

    .venv/bin/python benchmarks/benchmark_b4.py [--out runs/benchmark_b4] [--tag T]

Writes benchmarks/benchmark_b4[-T].md and .json (the command and commit inside).
"""
import argparse, shlex, sys
from dataclasses import replace
from pathlib import Path
from deephex.benchmark import FULL, benchmark, default_legacy_st

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='runs/benchmark_b4'); ap.add_argument('--tag', default='')
    ap.add_argument('--quiet', action='store_true')
    a = ap.parse_args()
    if default_legacy_st() is None: sys.exit("HER2ST B4 not found in ../shared/data: nothing to run")
    plan = replace(FULL, virtual=(), heldout_methods=('nearest', 'idw', 'ridge', 'ridge_idw', 'deephex'))
    report = Path(a.out)/'report'
    benchmark(a.out, plan, report=report, command='python benchmarks/benchmark_b4.py ' + shlex.join(sys.argv[1:]), progress=not a.quiet)
    stem = Path('benchmarks')/('benchmark_b4' + (f"-{a.tag}" if a.tag else ''))
    for ext in ('md', 'json'): stem.with_suffix('.' + ext).write_text((report/f'benchmark.{ext}').read_text())
    print(f"written {stem}.md / .json")

if __name__ == '__main__': main()
