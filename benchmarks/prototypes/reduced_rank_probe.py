"Probe: the expression route's ridge predictions projected on the top principal axes of the training spots' counts (reduced-rank), E only, eight B4 folds."
import sys, json, warnings, numpy as np, scipy.sparse as sp, pandas as pd
sys.path.insert(0, 'benchmarks')
from pathlib import Path
from deephex.benchmark import default_legacy_st, prepare_legacy_st
from deephex.features import extract_features
from deephex.evaluate import pearson_columns
from deephex.fusion import histology_summary, fit_expression_route
from deephex.train import tissue_superpixels
from fusion_ablation import folds
warnings.simplefilter('ignore')
s, _ = prepare_legacy_st(default_legacy_st(), 250, 0.25, 0)
fm = extract_features(s, encoder='handcrafted', device='cpu', cache_dir=Path('runs/benchmark/legacy_st-B4/features/handcrafted'), progress=False)
s = s.replace(tissue_mask=fm.tissue); feats = np.asarray(fm.features, np.float32)
summ = histology_summary(feats, tissue_superpixels(s, feats), s.geometry.window_size)
xy = np.asarray(s.spots.obsm['spatial'], float)
Yall = np.asarray(s.spots.X.toarray() if sp.issparse(s.spots.X) else s.spots.X, float)
def r_of(P, T): return float(np.nanmean(pearson_columns(np.asarray(P, float), T)))
def project(P, Ytr, r, log=False):
    f = np.log1p if log else (lambda a: a); finv = np.expm1 if log else (lambda a: a)
    Z = f(Ytr); mu, sd = Z.mean(0), Z.std(0) + 1e-9
    _, _, Vt = np.linalg.svd((Z - mu)/sd, full_matrices=False); V = Vt[:r].T
    Q = (f(np.clip(P, 0, None)) - mu)/sd
    return np.clip(finv((Q @ V @ V.T)*sd + mu), 0, None)
res = {}
for scheme in ('cb', 'block'):
    for i, held in enumerate(folds(s.spots, scheme)):
        T = Yall[held]; train = s.spots[~held].copy(); Ytr = Yall[~held]
        R = fit_expression_route(train, s, summ, 6, 0.5)
        P = R.predict(R.inputs(xy[held]))
        row = {'E': r_of(P, T)}
        for r in (5, 10, 20, 40, 80):
            row[f'rr{r}'] = r_of(project(P, Ytr, r), T)
            row[f'rrlog{r}'] = r_of(project(P, Ytr, r, True), T)
        res[f"{scheme}{i}"] = row
        print(scheme, i, json.dumps({k: round(v, 3) for k, v in row.items()}), flush=True)
df = pd.DataFrame(res).T
pd.set_option('display.width', 250)
print(df.groupby(df.index.str[:2]).mean().round(4).T)
