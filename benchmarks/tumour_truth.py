"""Tumour regions against two readings of the virtual truth (issue 15): why the colon's tumour precision stays below 0.9.

Run from the repository root after the main benchmark has saved its predictions:

    .venv/bin/python benchmarks/tumour_truth.py [--bench runs/benchmark] [--tissues ...] [--seeds 0 1 2]

For each virtual section and source (the true 8 µm counts, interpolation of the spots, deephex at its defaults), the
tumour regions of `deephex analyse` (cell types -> `tumour_fraction` -> `tumour_regions`, threshold 0.5) are scored as
`benchmarks/biology.py` scores them — against the true tumour *domains* (tumour, necrosis) — and against the true
tumour *cells*: a superpixel is tumour when its domain is, or when tumour cells carry most of its UMIs. `fp_tumour_cells`
is the share of the domain-based false positives whose dominant true cell type is tumour. Writes
benchmarks/tumour_truth.json and .md with the command.
"""
import argparse, sys, warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from deephex.analysis import truth_labels, tumour_fraction, tumour_regions
from deephex.benchmark import PLANS, VirtualTissue, saved_predictions, _md
from deephex.celltypes import cell_types
from result_cache import provenance, write_report

TRUE_TUMOUR = ('tumour', 'necrosis')


def scores(a)->dict:
    called = a.obs['deephex_region_distance_um'].to_numpy() < 0                  # inside the tumour (as biology.py)
    dom = a.obs['true_domain'].astype(str).isin(TRUE_TUMOUR).to_numpy()
    cells = dom | (a.obs['true_cell_type'].astype(str).to_numpy() == 'tumour')
    fp = called & ~dom
    pr = lambda t: (float((called & t).sum()/max(called.sum(), 1)), float((called & t).sum()/max(t.sum(), 1)))
    (p_d, r_d), (p_c, r_c) = pr(dom), pr(cells)
    return dict(precision_domains=p_d, recall_domains=r_d, precision_cells=p_c, recall_cells=r_c,
                fp_tumour_cells=float((a.obs['true_cell_type'].astype(str).to_numpy()[fp] == 'tumour').mean()) if fp.any() else float('nan'),
                fp_domains=a.obs['true_domain'].astype(str)[fp].value_counts().head(3).to_dict())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--bench', default='runs/benchmark')
    ap.add_argument('--tissues', nargs='+', default=['breast_tumour', 'lymph_node', 'colon'])
    ap.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    a = ap.parse_args(argv)
    bench, prov = Path(a.bench), provenance('tumour_truth.py', sys.argv[1:] if argv is None else argv, {})
    rows = []
    for vt in (VirtualTissue(t, s) for t in a.tissues for s in a.seeds):
        preds = saved_predictions(bench, vt.name)
        paths = dict(truth=bench/'data'/vt.name/f"sample-{PLANS['full'].n_genes}genes"/'truth.h5ad', interpolation=preds['interpolation'], deephex=preds['deephex'])
        um = float(ad.read_h5ad(paths['truth'], backed='r').uns['superpixel_grid']['superpixel_um'])
        for src, p in paths.items():
            x = ad.read_h5ad(p)
            x.uns.setdefault('superpixel_grid', dict(superpixel_um=um))                   # interpolation's file has no geometry
            truth_labels(x, bench/'data'/vt.name/'visium_hd'/'truth')
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                cell_types(x); tumour_fraction(x); tumour_regions(x, score_key='deephex_tumour_fraction', threshold=0.5)
            rows.append(dict(tissue=vt.tissue, seed=vt.seed, source=src, **scores(x)))
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    num = ['precision_domains', 'recall_domains', 'precision_cells', 'recall_cells', 'fp_tumour_cells']
    by = df.groupby(['tissue', 'source'], sort=False)[num].mean().reset_index()
    body = '\n'.join([__doc__.split('\n\n')[3].replace('\n', ' '), "", "## Mean over the seeds", "", _md(by.round(3)), "",
                      "## Every section", "", _md(df.drop(columns='fp_domains').round(3)), ""])
    write_report('tumour_truth', '', prov, dict(rows=rows), "Tumour regions against the true domains and the true tumour cells", body)

if __name__ == '__main__':
    main()
