import sys, json, warnings, numpy as np, scipy.sparse as sp, pandas as pd
sys.path.insert(0, 'benchmarks')
from pathlib import Path
from sklearn.linear_model import RidgeCV
from deephex.benchmark import default_legacy_st, prepare_legacy_st
from deephex.features import extract_features
from deephex.evaluate import predict_idw, predict_ridge, spot_features, pearson_columns, _idw_features
from deephex.fusion import histology_summary, fit_expression_route
from deephex.train import tissue_superpixels
from fusion_ablation import folds
warnings.simplefilter('ignore')
s, _ = prepare_legacy_st(default_legacy_st(), 250, 0.25, 0)
fm = extract_features(s, encoder='handcrafted', device='cpu', cache_dir=Path('runs/benchmark/legacy_st-B4/features/handcrafted'), progress=False)
s = s.replace(tissue_mask=fm.tissue); feats = np.asarray(fm.features, np.float32)
print('feature dims', feats.shape)
summ = histology_summary(feats, tissue_superpixels(s, feats), s.geometry.window_size)
SF = spot_features(feats, s.spots, s)
xy = np.asarray(s.spots.obsm['spatial'], float)
rc = s.grid.to_superpixel(xy, clip=True); SUM = summ[rc[:, 0], rc[:, 1]]
Yall = np.asarray(s.spots.X.toarray() if sp.issparse(s.spots.X) else s.spots.X, float)
def r_of(P, T): return float(np.nanmean(pearson_columns(np.asarray(P, float), T)))
def ridge(Ftr, Ytr, Fte):
    mu, sd = Ftr.mean(0), Ftr.std(0) + 1e-9
    m = RidgeCV(alphas=np.logspace(-2, 5, 15), alpha_per_target=True).fit((Ftr-mu)/sd, Ytr)
    return np.clip(m.predict((Fte-mu)/sd), 0, None)
res = {}
for scheme in ('cb', 'block'):
    for i, held in enumerate(folds(s.spots, scheme)):
        T = Yall[held]; tr = ~held
        train = s.spots[tr].copy(); txy = xy[held]
        IDW = np.log1p(_idw_features(s.spots, held, Yall))
        R = fit_expression_route(train, s, summ, 6, 0.7); G07tr, G07te = R.loo[:, :250], R.inputs(txy)[:, :250]
        R5 = fit_expression_route(train, s, summ, 6, 0.5); G05tr, G05te = R5.loo[:, :250], R5.inputs(txy)[:, :250]
        P = {}
        P['ridge_idw'] = ridge(np.hstack([SF, IDW])[tr], Yall[tr], np.hstack([SF, IDW])[held])
        P['idw+sum'] = ridge(np.hstack([SUM, IDW])[tr], Yall[tr], np.hstack([SUM, IDW])[held])
        P['g07+sum'] = ridge(np.hstack([G07tr, SUM[tr]]), Yall[tr], np.hstack([G07te, SUM[held]]))
        P['g07+SF'] = ridge(np.hstack([G07tr, SF[tr]]), Yall[tr], np.hstack([G07te, SF[held]]))
        P['g05+SF'] = ridge(np.hstack([G05tr, SF[tr]]), Yall[tr], np.hstack([G05te, SF[held]]))
        P['g07+idw+sum'] = ridge(np.hstack([G07tr, IDW[tr], SUM[tr]]), Yall[tr], np.hstack([G07te, IDW[held], SUM[held]]))
        P['g07+SF+sum'] = ridge(np.hstack([G07tr, SF[tr], SUM[tr]]), Yall[tr], np.hstack([G07te, SF[held], SUM[held]]))
        P['avg(ridge_idw,g07+sum)'] = (P['ridge_idw'] + P['g07+sum'])/2
        row = {k: r_of(v, T) for k, v in P.items()}
        res[f"{scheme}{i}"] = row
        print(scheme, i, json.dumps({k: round(v, 3) for k, v in row.items()}), flush=True)
df = pd.DataFrame(res).T
pd.set_option('display.width', 250)
print(df.groupby(df.index.str[:2]).mean().round(4).T)
