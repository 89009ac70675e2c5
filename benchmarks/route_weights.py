"""The blend weight the default model chose in each dataset of the main benchmark, and why (issue 13).

Run from the repository root after `deephex benchmark --out runs/benchmark --report benchmarks`:

    .venv/bin/python benchmarks/route_weights.py [--bench runs/benchmark]

Reads each saved `deephex` prediction's `uns['deephex']['fusion']`: the weight w of the expression route, the
number of spots it was chosen on, each route's mean per-gene Pearson on those spots, and how many gene tokens the
expression route's prior reached. Writes benchmarks/route_weights.json and .md with the command.
"""
import argparse, sys
from pathlib import Path

import anndata as ad
import pandas as pd

from deephex.benchmark import _md
from result_cache import provenance, write_report


def fusion_record(path:Path)->dict:
    a = ad.read_h5ad(path, backed='r')
    try: f = dict(a.uns['deephex']['fusion'])
    finally: a.file.close()
    hp = dict(f.get('heldout_pearson', {}))
    return dict(w=float(f['route_weight']), n_heldout=int(f.get('n_heldout', 0)), prior_tokens=int(f.get('prior_tokens', 0)) or None,
                histology=hp.get('histology'), expression=hp.get('expression'), blend=hp.get('blend'))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--bench', default='runs/benchmark', help="the main benchmark's work folder")
    a = p.parse_args(argv)
    prov = provenance('route_weights.py', sys.argv[1:] if argv is None else argv, {})
    rows = []
    for f in sorted(Path(a.bench).glob('*/handcrafted/deephex*/prediction.h5ad')):
        rows.append(dict(dataset=f.parts[-4], run=f.parts[-2], **fusion_record(f)))
    if not rows: raise SystemExit(f"no deephex predictions under {a.bench}: run the benchmark first")
    df = pd.DataFrame(rows)
    body = ("Weight w of the expression route in (1 - w) histology + w expression, chosen on the held-out spots "
            "(`n_heldout`); the mean per-gene Pearson of each route and of the blend on those spots; gene tokens of the "
            "expression route's prior.\n\n" + _md(df.round(3)))
    write_report('route_weights', '', prov, dict(rows=rows), 'Blend weights of the default model in the benchmark', body)


if __name__ == '__main__': main()
