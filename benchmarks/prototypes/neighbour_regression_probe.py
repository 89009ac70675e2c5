import sys, numpy as np, warnings; sys.path.insert(0, str(__import__('pathlib').Path(__file__).parent)); warnings.filterwarnings('ignore')
from run_prototype import *
from scipy.spatial import cKDTree
from sklearn.linear_model import RidgeCV
from deephex.evaluate import pearson_columns
s, _ = prepare_legacy_st('/work/shared/data/her2st/B4', 250, 0.25, 0)
fm = fm_of(s, D/'B4'); Fh = spot_features(fm, s.spots, s)
Y = s.spots.X.toarray().astype(float); xy = s.spots.obsm['spatial']
pitch = 200/0.6876
def kern(held, bw, k=12, power=None):
    tr = np.flatnonzero(~held)
    d, nn = cKDTree(xy[tr]).query(xy, k+1)
    self_hit = tr[nn[:, 0]] == np.arange(len(xy))
    d = np.where(self_hit[:, None], d[:, 1:], d[:, :-1]); nn = np.where(self_hit[:, None], nn[:, 1:], nn[:, :-1])
    w = 1/np.maximum(d,1e-9)**power if power else np.exp(-(d/pitch)**2/(2*bw**2))
    w /= w.sum(1, keepdims=True)
    return np.einsum('nk,nkg->ng', w, Y[tr[nn]])
def ridge(F, held, T=None):
    mu, sd = F[~held].mean(0), F[~held].std(0); sd[sd<1e-12]=1; Z=(F-mu)/sd
    T = Y if T is None else T
    m = RidgeCV(alphas=np.logspace(-2,5,15), alpha_per_target=True).fit(Z[~held], T[~held])
    return m.predict(Z[held])
res = {}
for i, held in enumerate(folds(s.spots, 'cb')):
    sc = lambda P: float(np.nanmean(pearson_columns(np.asarray(P), Y[held])))
    out = {}
    for name, I in [('idw6', kern(held, 0, 6, 1)), ('idw12', kern(held, 0, 12, 1)), ('g.5', kern(held, .5)), ('g.75', kern(held, .75)), ('g1', kern(held, 1.))]:
        out[name] = sc(I[held]); out[name+'_r'] = sc(ridge(np.log1p(I), held))
    I1, I2 = kern(held, .5), kern(held, 1.)
    out['two_scales_r'] = sc(ridge(np.hstack([np.log1p(I1), np.log1p(I2)]), held))
    out['g1+hist_r'] = sc(ridge(np.hstack([np.log1p(I2), Fh]), held))
    out['g1_r_log'] = sc(np.expm1(ridge(np.log1p(I2), held, np.log1p(Y))))
    for k, v in out.items(): res.setdefault(k, []).append(v)
    print(i, {k: round(v, 3) for k, v in out.items()}, flush=True)
print({k: round(float(np.mean(v)), 4) for k, v in res.items()})
