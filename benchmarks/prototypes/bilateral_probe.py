import sys, numpy as np, warnings; sys.path.insert(0, str(__import__('pathlib').Path(__file__).parent)); warnings.filterwarnings('ignore')
from run_prototype import *
from scipy.spatial import cKDTree
from sklearn.linear_model import RidgeCV
from sklearn.decomposition import PCA
from deephex.evaluate import pearson_columns
s, _ = prepare_legacy_st('/work/shared/data/her2st/B4', 250, 0.25, 0)
fm = fm_of(s, D/'B4'); Fh = spot_features(fm, s.spots, s)
Y = s.spots.X.toarray().astype(float); xy = s.spots.obsm['spatial']
pitch = 200/0.6876
Z = (Fh - Fh.mean(0))/np.maximum(Fh.std(0), 1e-9)
P = PCA(10).fit_transform(Z); P /= P[:, :1].std()
def bil(held, bw, tau, k=12, feats=P):
    tr = np.flatnonzero(~held)
    d, nn = cKDTree(xy[tr]).query(xy, k+1)
    self_hit = tr[nn[:, 0]] == np.arange(len(xy))
    d = np.where(self_hit[:, None], d[:, 1:], d[:, :-1]); nn = np.where(self_hit[:, None], nn[:, 1:], nn[:, :-1])
    lw = -(d/pitch)**2/(2*bw**2)
    if tau: lw = lw - ((feats[:, None, :] - feats[tr[nn]])**2).sum(-1)/(2*tau**2)
    w = np.exp(lw - lw.max(1, keepdims=True)); w /= w.sum(1, keepdims=True)
    return np.einsum('nk,nkg->ng', w, Y[tr[nn]])
def ridge(F, held):
    mu, sd = F[~held].mean(0), F[~held].std(0); sd[sd<1e-12]=1; Zr=(F-mu)/sd
    return RidgeCV(alphas=np.logspace(-2,5,15), alpha_per_target=True).fit(Zr[~held], Y[~held]).predict(Zr[held])
res = {}
for i, held in enumerate(folds(s.spots, 'cb')):
    sc = lambda Q: float(np.nanmean(pearson_columns(np.asarray(Q), Y[held])))
    out = {}
    for tau in (0, 1, 2, 4):
        for bw in (0.75, 1.0, 1.5):
            I = bil(held, bw, tau, 20); out[f'b{bw}_t{tau}'] = sc(I[held])
    I = bil(held, 1.0, 2, 20); out['bil_r'] = sc(ridge(np.log1p(I), held)); out['bil_hist_r'] = sc(ridge(np.hstack([np.log1p(I), Fh]), held))
    for k, v in out.items(): res.setdefault(k, []).append(v)
    print(i, {k: round(v, 3) for k, v in out.items()}, flush=True)
print({k: round(float(np.mean(v)), 4) for k, v in res.items()})
print('--- ensembles')
res = {}
for i, held in enumerate(folds(s.spots, 'cb')):
    sc = lambda Q: float(np.nanmean(pearson_columns(np.asarray(Q), Y[held])))
    I = bil(held, 1.5, 1, 20); B = I[held]
    R = ridge(np.hstack([np.log1p(bil(held, 0, 0, 6) if False else I), Fh]), held)
    Rh = ridge(Fh, held)
    zs = lambda Q: (Q - Q.mean(0))/np.maximum(Q.std(0), 1e-9)
    out = dict(bil=sc(B), ridge=sc(R), avg=sc(zs(B)+zs(R)), avg3=sc(zs(B)+zs(R)+0.5*zs(Rh)))
    for k, v in out.items(): res.setdefault(k, []).append(v)
    print(i, {k: round(v, 3) for k, v in out.items()}, flush=True)
print({k: round(float(np.mean(v)), 4) for k, v in res.items()})
