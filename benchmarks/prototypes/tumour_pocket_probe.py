"""Tumour regions with and without the pockets they enclose (issue 15; session of 2026-12-07).

Run from the repository root after `deephex benchmark` (or `benchmarks/biology.py`) has saved its predictions in
runs/benchmark:

    .venv/bin/python benchmarks/prototypes/tumour_pocket_probe.py > benchmarks/prototypes/tumour_pocket_probe.log

For the nine virtual sections and three sources (deephex, interpolation, the true counts), the tumour regions of
`deephex analyse` (cell types -> tumour_fraction -> tumour_regions at 0.5) with `max_hole_um2` = 0 (pockets kept out,
the behaviour before), 0.01, 0.05, 0.25 mm² and inf (the default now), and with `min_area_um2` = 1000 (the default)
to 20000 µm² at max_hole_um2 = inf; precision and recall against the true tumour domains (tumour, necrosis), as
benchmarks/biology.py scores them.
"""
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from deephex.analysis import truth_labels, tumour_fraction, tumour_regions
from deephex.benchmark import saved_predictions
from deephex.celltypes import cell_types

warnings.simplefilter('ignore')
BENCH = Path('runs/benchmark')
HOLES = {'0 (before)': 0., '0.01 mm2': 1e4, '0.05 mm2': 5e4, '0.25 mm2': 2.5e5, 'inf (default)': float('inf')}
AREAS = (1000., 2500., 5000., 10000., 20000.)

rows = []
for tissue in ('breast_tumour', 'lymph_node', 'colon'):
    for seed in (0, 1, 2):
        name = f'virtual-{tissue}-s{seed}-2x2mm'
        truth_dir = BENCH/'data'/name/'visium_hd'/'truth'
        preds = saved_predictions(BENCH, name)
        for src, path in (('deephex', preds['deephex']), ('interpolation', preds['interpolation']),
                          ('truth', BENCH/'data'/name/'sample-300genes'/'truth.h5ad')):
            a = ad.read_h5ad(path); a.uns.setdefault('superpixel_grid', dict(superpixel_um=8.))
            truth_labels(a, truth_dir); cell_types(a); tumour_fraction(a)
            yt = a.obs['true_domain'].astype(str).isin(('tumour', 'necrosis')).to_numpy()
            for what, kw in [('max_hole ' + k, dict(max_hole_um2=v)) for k, v in HOLES.items()] + \
                            [(f'min_area {v:g} um2', dict(min_area_um2=v)) for v in AREAS]:
                tumour_regions(a, score_key='deephex_tumour_fraction', threshold=0.5, **kw)
                yp = a.obs['deephex_region_distance_um'].to_numpy() < 0
                rows.append(dict(tissue=tissue, seed=seed, source=src, variant=what,
                                 precision=(yp & yt).sum()/max(yp.sum(), 1), recall=(yp & yt).sum()/yt.sum()))
df = pd.DataFrame(rows)
pd.set_option('display.width', 200)
print(df.groupby(['source', 'variant', 'tissue'], sort=False)[['precision', 'recall']].mean().round(3).unstack('tissue').to_string())
print()
print(df.groupby(['source', 'variant'], sort=False)[['precision', 'recall']].mean().round(3).to_string())
