"""Full-transcriptome PCs as extra inputs of the expression route (session of 2026-12-07): E alone on the eight B4 folds, with 10 or 30 PCs of the log-normalised whole transcriptome (genes in > 5 % of spots) of the training spots added to the prior. Run from the repository root: `python benchmarks/prototypes/fullpc_probe.py`."""
import sys, json, warnings, numpy as np, scipy.sparse as sp, pandas as pd
sys.path.insert(0, 'benchmarks'); sys.path.insert(0, 'benchmarks/prototypes')
warnings.simplefilter('ignore')
from pathlib import Path
from anndata import AnnData
from deephex.benchmark import default_legacy_st, prepare_legacy_st
from deephex.io import read_sample
from deephex.features import extract_features
from deephex.evaluate import pearson_columns
from deephex.fusion import histology_summary, fit_expression_route, ExpressionRoute
from deephex.train import tissue_superpixels
from fusion_ablation import folds
s, _ = prepare_legacy_st(default_legacy_st(), 250, 0.25, 0)
full = read_sample('legacy_st', default_legacy_st()).spots[s.spots.obs_names]
Xf = full.X.toarray() if sp.issparse(full.X) else np.asarray(full.X)
Lf = np.log1p(Xf/Xf.sum(1, keepdims=True)*1e4)
keep = (Xf > 0).mean(0) > 0.05; Lf = Lf[:, keep]
fm = extract_features(s, encoder='handcrafted', device='cpu', cache_dir=Path('runs/prototypes/feature_probe'), progress=False)
s = s.replace(tissue_mask=fm.tissue); feats = np.asarray(fm.features, np.float32)
summ = histology_summary(feats, tissue_superpixels(s, feats), s.geometry.window_size)
xy = np.asarray(s.spots.obsm['spatial'], float)
Yall = np.asarray(s.spots.X.toarray(), float)
def r_of(P, T): return float(np.nanmean(pearson_columns(np.asarray(P, float), T)))
print('full genes kept', Lf.shape, flush=True)
res = {}
for scheme in ('cb', 'block'):
    for i, held in enumerate(folds(s.spots, scheme)):
        T = Yall[held]; train = s.spots[~held].copy()
        R = fit_expression_route(train, s, summ, 6, 0.5)
        row = {'E (today)': r_of(R.predict(R.inputs(xy[held])), T)}
        for npc in (10, 30):
            mu = Lf[~held].mean(0); U, S, Vt = np.linalg.svd(Lf[~held] - mu, full_matrices=False)
            PC = (Lf - mu) @ Vt[:npc].T                          # PCs of every spot's full transcriptome (held-out ones are only used through neighbours below)
            # a route with the PCs as extra 'genes' in its prior and targets; scored on the 250 genes
            aug = AnnData(np.hstack([Yall, PC - PC.min(0)]).astype(np.float32), obs=s.spots.obs.copy()); aug.obsm['spatial'] = s.spots.obsm['spatial']
            R2 = fit_expression_route(aug[~held].copy(), s, summ, 6, 0.5)
            # the ridge's targets: the 250 genes and the PCs (as fit_expression_route fitted them); only the genes are scored
            row[f'+{npc} full-transcriptome PCs'] = r_of(R2.predict(R2.inputs(xy[held]))[:, :Yall.shape[1]], T)
        res[f"{scheme}{i}"] = row
        print(scheme, i, json.dumps({k: round(v, 3) for k, v in row.items()}), flush=True)
df = pd.DataFrame(res).T
print(df.groupby(df.index.str[:2]).mean().round(4).T)
