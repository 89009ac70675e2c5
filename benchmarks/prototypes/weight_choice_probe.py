"""The blend weight with and without the genes that are constant on the held-out spots (session of 2026-12-07).

`blend_weight` scaled each gene's squared error by its variance across the held-out spots, floored at 1e-12: a gene
never detected on those spots (common with ~25 held-out spots) then carried an error 1e12 times too large, and such
genes chose the weight alone. Fixed: they take no part. On the cached folds of `b4_fold_cache.py` (the histology route
trained as `fit_deephex` trains it, seed 0, 250 HVGs; FOLDS=... for another cache), both weights and the held-out
Pearson of the final prediction (blend, then calibration, as `fuse` does). Run from the repository root:
`python benchmarks/prototypes/weight_choice_probe.py` (-> weight_choice_probe.log).
"""
import sys, json, pickle, warnings, os, numpy as np, scipy.sparse as sp, pandas as pd
sys.path.insert(0, 'benchmarks')
from pathlib import Path
import anndata as ad
from deephex.benchmark import default_legacy_st, prepare_legacy_st
from deephex.features import extract_features
from deephex.fusion import histology_summary, fit_expression_route, blend_weight, blend_routes, _spot_mask
from deephex.train import tissue_superpixels
from deephex.calibrate import calibrate_to_spots
from deephex.evaluate import heldout_spot_counts, pearson_columns, superpixel_rc
warnings.simplefilter('ignore')
F = Path(os.environ.get('FOLDS', 'runs/prototypes/b4_folds'))

def old_weight(A, E, Y, grid=21, n_boot=200, seed=0):
    "`blend_weight` before the fix (variance floored at 1e-12)."
    var = np.maximum(Y.var(0), 1e-12); ws = np.linspace(0, 1, grid)
    err = np.stack([(((1 - w)*A + w*E - Y)**2/var).mean(1) for w in ws])
    idx = np.random.default_rng(seed).integers(0, err.shape[1], (n_boot, err.shape[1]))
    return float(ws[np.argmin(err[:, idx].mean(2), 0)].mean())

def pearson_weight(A, E, Y, grid=21, n_boot=200, seed=0):
    "Variant: the weight with the highest mean per-gene Pearson r on the held-out spots (the benchmark's own score), bagged the same way."
    ws = np.linspace(0, 1, grid)
    idx = np.random.default_rng(seed).integers(0, len(Y), (n_boot, len(Y)))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        best = [ws[int(np.nanargmax([np.nanmean(pearson_columns((1 - w)*A[i] + w*E[i], Y[i])) for w in ws]))] for i in idx]
    return float(np.mean(best))

s, _ = prepare_legacy_st(default_legacy_st(), int(os.environ.get('GENES', 250)), 0.25, 0)   # GENES=1000: the CLI's default count
fm = extract_features(s, encoder='handcrafted', device='cpu', cache_dir=Path('runs/benchmark/legacy_st-B4/features/handcrafted'), progress=False)
s = s.replace(tissue_mask=fm.tissue); feats = np.asarray(fm.features, np.float32)
summary = histology_summary(feats, tissue_superpixels(s, feats), s.geometry.window_size, seed=0)
rows = []
for f in sorted(F.glob('*.pkl')):
    d = pickle.load(open(f, 'rb')); name = f.stem
    A0 = ad.read_h5ad(F/f"{name}-A.h5ad"); rc = superpixel_rc(A0)
    held = d['held']; train = s.replace(spots=s.spots[~held].copy()); spots = _spot_mask(train)
    truth = s.spots[held]; T = truth.X.toarray() if sp.issparse(truth.X) else np.asarray(truth.X, float)
    fit_spots = spots[~d['val']].copy(); vxy = np.asarray(spots[d['val']].obsm['spatial'], float)
    Ef = fit_expression_route(fit_spots, train, summary, 6, 0.5); Ev = Ef.predict(Ef.inputs(vxy))
    E = fit_expression_route(spots, train, summary, 6, 0.5)
    def score(w):
        P = A0.copy(); P.X = blend_routes(np.asarray(A0.X, np.float32).copy(), rc, E, w, train)
        P = calibrate_to_spots(P, spots, train, copy=False)
        H = heldout_spot_counts(P, s.spots, s, held)
        return float(np.nanmean(pearson_columns(np.asarray(H[truth.obs_names].X, float), T)))
    w_old, (w_new, _) = old_weight(d['A_val'], Ev, d['Y_val']), blend_weight(d['A_val'], Ev, d['Y_val'])
    w_r = pearson_weight(d['A_val'], Ev, d['Y_val'])
    row = dict(fold=name, n_val=int(d['val'].sum()), constant_genes=int((d['Y_val'].var(0) == 0).sum()), w_old=w_old, w_new=w_new, w_pearson=w_r,
               old=score(w_old), new=score(w_new), pearson=score(w_r), E_only=score(1.), A_only=score(0.))
    rows.append(row); print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
df = pd.DataFrame(rows).set_index('fold')
pd.set_option('display.width', 250)
print(df.groupby(df.index.str[:2]).mean().T.round(4))
