"""Marker scores on real tissue: does the expression scale decide the call? (issue 15, found on HER2ST B4)

`deephex analyse` on B4 called 79 % of the superpixels 'luminal' and 0.07 % 'tumour' in a HER2+ carcinoma, so no
tumour region was found: `marker_scores` runs scanpy `score_genes` on log1p of expression scaled to the median
total, which for an 8 µm prediction is a few counts — log1p is then nearly linear, and a type whose markers are the
most abundant transcripts of the section (SCGB2A2, MUCL1: secretory luminal genes, high in this carcinoma) wins
everywhere. Variants, each scored on the nine virtual sections of the benchmark (accuracy and macro F1 of the
called type against the dominant true type, from the true 8 µm counts and from deephex's prediction) and on B4
(share of each call, share of tumour regions):
- median: today's (log1p at the median total);
- cp10k: log1p at 10,000 counts per observation;
- scaled: today's, then every gene standardised over the observations (clipped at ±10) before `score_genes`;
- peak: today's, then every gene divided by its 99th percentile over the observations (its level relative to where it
  is highest, whatever its abundance); peak999 / peak9: the 99.9th / 90th percentile;
- sd: today's, then every gene divided by its standard deviation over the observations (not centred).

Run from the repository root after `python benchmarks/biology.py` (virtual predictions) and
`deephex run --input legacy_st:../shared/data/her2st/B4 --out B4RUN` (the log: at 016de29, default --keep-genes):
    .venv/bin/python benchmarks/prototypes/celltype_scale_probe.py B4RUN/prediction.h5ad   (-> celltype_scale_probe.log)
and, for B4 predicted with its 1000 most variable genes only (`deephex run ... --keep-genes none`, or a run made
before that option), `B4ONLY=1 .venv/bin/python benchmarks/prototypes/celltype_scale_probe.py B4RUN2/prediction.h5ad`
(appended to the log).
"""
import json, sys, warnings
from pathlib import Path
import anndata as ad, numpy as np, pandas as pd
from deephex.analysis import lognormalized, truth_labels, tumour_fraction, tumour_regions
from deephex.benchmark import saved_predictions
from deephex.celltypes import _usable_markers, marker_table, cell_type_agreement

BENCH = Path('runs/benchmark')

def scores(adata, variant, seed=0):
    import scanpy as sc
    by_type = _usable_markers(adata.var_names, marker_table(None), 2)
    X = lognormalized(adata, target_sum=1e4 if variant == 'cp10k' else None)
    if variant == 'scaled':
        sd = X.std(0); X = np.clip((X - X.mean(0))/np.where(sd > 0, sd, 1), -10, 10)
    if variant.startswith('peak'):
        top = np.quantile(X, float('0.' + (variant[4:] or '99')), axis=0); X = X/np.where(top > 0, top, 1)
    if variant == 'sd':
        sd = X.std(0); X = X/np.where(sd > 0, sd, 1)
    tmp = ad.AnnData(X, var=pd.DataFrame(index=adata.var_names.copy()))
    n_bins = int(np.clip(adata.n_vars//10, 2, 25)); out = {}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for t, genes in by_type.items():
            sc.tl.score_genes(tmp, genes, ctrl_size=min(50, adata.n_vars - len(genes)), n_bins=n_bins, random_state=seed, score_name='_s')
            out[t] = tmp.obs['_s'].to_numpy(np.float32)
    return pd.DataFrame(out, index=adata.obs_names)

def call(adata, variant):
    S = scores(adata, variant)
    adata.obs['deephex_cell_type'] = pd.Categorical(S.columns.to_numpy()[S.to_numpy().argmax(1)], categories=list(S.columns))
    adata.obsm['deephex_cell_type_scores'] = S
    return adata

VARIANTS = tuple(sys.argv[2].split(',')) if len(sys.argv) > 2 else ('median', 'cp10k', 'scaled', 'peak', 'peak999', 'peak9', 'sd')
import os
rows = []
for t in (() if os.environ.get('B4ONLY') else ('breast_tumour', 'lymph_node', 'colon')):
    for s in (0, 1, 2):
        name = f"virtual-{t}-s{s}-2x2mm"
        truth_dir = BENCH/'data'/name/'visium_hd'/'truth'
        paths = dict(truth=BENCH/'data'/name/'sample-300genes'/'truth.h5ad', deephex=saved_predictions(BENCH, name)['deephex'])
        um = float(ad.read_h5ad(paths['truth'], backed='r').uns['superpixel_grid']['superpixel_um'])
        for src, p in paths.items():
            a = ad.read_h5ad(p); a.uns.setdefault('superpixel_grid', dict(superpixel_um=um)); truth_labels(a, truth_dir)
            for v in VARIANTS:
                call(a, v); r = cell_type_agreement(a)
                yt = a.obs['true_domain'].astype(str).isin(('tumour', 'necrosis')).to_numpy()
                tumour_fraction(a); tumour_regions(a, score_key='deephex_tumour_fraction', threshold=0.5)
                yp = a.obs['deephex_region_distance_um'].to_numpy() < 0
                rows.append(dict(tissue=t, seed=s, source=src, variant=v, accuracy=r['accuracy'], macro_f1=r['macro_f1'],
                                 tumour_precision=(yp & yt).sum()/max(yp.sum(), 1), tumour_recall=(yp & yt).sum()/max(yt.sum(), 1)))
                print(rows[-1], flush=True)
df = pd.DataFrame(rows)
if rows: print(df.groupby(['source', 'variant'])[['accuracy', 'macro_f1', 'tumour_precision', 'tumour_recall']].mean().round(3).to_string())
if rows: print(df.groupby(['source', 'variant', 'tissue'])[['accuracy', 'tumour_precision']].mean().unstack().round(3).to_string())
if len(sys.argv) > 1:
    b4 = ad.read_h5ad(sys.argv[1]); print(f"B4: {sys.argv[1]}, {b4.n_vars} genes, ERBB2 {'in' if 'ERBB2' in b4.var_names else 'not in'} them")
    for v in VARIANTS:
        call(b4, v)
        share = b4.obs['deephex_cell_type'].value_counts(normalize=True).round(3).to_dict()
        tf = tumour_fraction(b4) if (b4.obs['deephex_cell_type'] == 'tumour').any() else np.zeros(b4.n_obs)
        print(f"B4 {v}: calls {share}; tumour region share {(tf > 0.5).mean():.3f}")
