"""The expression route as composition x depth (session of 2026-12-07).

Legacy ST spots differ several-fold in how many molecules they capture; a per-gene ridge on raw counts has to learn
that depth gene by gene. Variant: regress the spots' composition (counts / total counts of the whole transcriptome,
on the counts scale of the median spot) and their log total counts on the same inputs (log1p of the Gaussian prior of
the composition, the prior of log depth, the histology summary), then predict counts = composition x depth. E alone
(the route without the histology network), eight B4 folds (250 HVGs; the depth is that of all ~15k genes, or of
the 250). Run from the repository root: `python benchmarks/prototypes/depth_route_probe.py` (-> depth_route_probe.log).
"""
import sys, json, warnings, numpy as np, scipy.sparse as sp, pandas as pd
sys.path.insert(0, 'benchmarks')
from pathlib import Path
from anndata import AnnData
from deephex.benchmark import default_legacy_st, prepare_legacy_st
from deephex.io import read_sample
from deephex.features import extract_features
from deephex.evaluate import pearson_columns
from deephex.enhance import enhance_spots, enhancement_weights
from deephex.fusion import histology_summary, fit_expression_route, prior_support, prior_weights, ExpressionRoute
from deephex.train import tissue_superpixels, leave_spot_out_neighbours, nearest_expression
from fusion_ablation import folds
warnings.simplefilter('ignore')

def fit_depth_route(spots, sample, summary, depth, k=6, sigma=0.5, use_depth_prior=True, count_prior=False, sep=False):
    "Composition and log depth regressed on [log1p prior of composition, prior of log depth, summary]; returns predict(xy)."
    Y = np.asarray(spots.X.toarray() if sp.issparse(spots.X) else spots.X, np.float64)
    scale = float(np.median(depth)); P = Y/depth[:, None]*scale; ld = np.log(depth/scale)
    G = P.shape[1]
    norm = AnnData(np.hstack([P] + ([Y] if count_prior else []) + [ld[:, None]]).astype(np.float32), obs=spots.obs.copy()); norm.obsm['spatial'] = spots.obsm['spatial']
    hd = enhance_spots(norm, sample.geometry, sample.um_per_px)
    hd_xy, H = np.asarray(hd.obsm['spatial'], float), np.asarray(hd.X, np.float64)
    pitch = sample.geometry.spot_pitch_um/sample.um_per_px
    k = prior_support(hd_xy, spots.obsm['spatial'], pitch, sigma, k_min=k)
    W, _, _ = enhancement_weights(spots, sample.geometry, sample.um_per_px)
    xy = np.asarray(spots.obsm['spatial'], float)
    def inputs(q, nb=None):
        nb = nearest_expression(hd_xy, q, k) if nb is None else nb
        w = prior_weights(hd_xy, q, nb, pitch, sigma)
        S = sp.csr_matrix((w.ravel(), (np.repeat(np.arange(len(q)), w.shape[1]), nb.ravel())), shape=(len(q), len(hd_xy)))
        M = S @ H
        parts = [np.log1p(np.clip(M[:, :-1], 0, None))] + ([M[:, -1:]] if use_depth_prior else [])
        rc = sample.grid.to_superpixel(q, clip=True)
        return np.hstack(parts + [summary[rc[:, 0], rc[:, 1]]])
    X = inputs(xy, leave_spot_out_neighbours(hd_xy, W, xy, k))
    from sklearn.linear_model import RidgeCV
    mu, sd = X.mean(0), X.std(0) + 1e-9
    Zx = (X - mu)/sd
    if sep:   # composition from the composition prior + summary only; depth from everything
        cols = np.r_[np.arange(G), np.arange(X.shape[1] - summary.shape[-1], X.shape[1])]
        mp = RidgeCV(alphas=np.logspace(-2, 5, 15), alpha_per_target=True).fit(Zx[:, cols], P)
        md = RidgeCV(alphas=np.logspace(-2, 5, 15)).fit(Zx, ld)
        def predict(q):
            Z = (inputs(q) - mu)/sd
            return np.clip(mp.predict(Z[:, cols]), 0, None)*np.exp(md.predict(Z))[:, None]
        return predict
    m = RidgeCV(alphas=np.logspace(-2, 5, 15), alpha_per_target=True).fit(Zx, np.hstack([P, ld[:, None]]))
    def predict(q):
        Z = m.predict((inputs(q) - mu)/sd)
        return np.clip(Z[:, :-1], 0, None)*np.exp(Z[:, -1:])
    return predict

s, _ = prepare_legacy_st(default_legacy_st(), 250, 0.25, 0)
full = read_sample('legacy_st', default_legacy_st())
depth_all = np.asarray(full.spots[s.spots.obs_names].X.sum(1), float).ravel()
fm = extract_features(s, encoder='handcrafted', device='cpu', cache_dir=Path('runs/prototypes/feature_probe'), progress=False)
s = s.replace(tissue_mask=fm.tissue); feats = np.asarray(fm.features, np.float32)
summ = histology_summary(feats, tissue_superpixels(s, feats), s.geometry.window_size)
xy = np.asarray(s.spots.obsm['spatial'], float)
Yall = np.asarray(s.spots.X.toarray() if sp.issparse(s.spots.X) else s.spots.X, float)
def r_of(P, T): return float(np.nanmean(pearson_columns(np.asarray(P, float), T)))
res = {}
for scheme in ('cb', 'block'):
    for i, held in enumerate(folds(s.spots, scheme)):
        T = Yall[held]; train = s.spots[~held].copy()
        R = fit_expression_route(train, s, summ, 6, 0.5)
        row = {'E (today)': r_of(R.predict(R.inputs(xy[held])), T)}
        row['depth all genes'] = r_of(fit_depth_route(train, s, summ, depth_all[~held])(xy[held]), T)
        row['depth all, + count prior'] = r_of(fit_depth_route(train, s, summ, depth_all[~held], count_prior=True)(xy[held]), T)
        row['depth all, + count prior, sep'] = r_of(fit_depth_route(train, s, summ, depth_all[~held], count_prior=True, sep=True)(xy[held]), T)
        row['depth 250, + count prior, sep'] = r_of(fit_depth_route(train, s, summ, Yall[~held].sum(1) + 1, count_prior=True, sep=True)(xy[held]), T)
        row['depth of the 250'] = r_of(fit_depth_route(train, s, summ, Yall[~held].sum(1) + 1)(xy[held]), T)
        res[f"{scheme}{i}"] = row
        print(scheme, i, json.dumps({k: round(v, 3) for k, v in row.items()}), flush=True)
df = pd.DataFrame(res).T
pd.set_option('display.width', 250)
print(df.groupby(df.index.str[:2]).mean().round(4).T)
