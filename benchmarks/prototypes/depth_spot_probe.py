"""Composition x depth at the spot level, with the baselines' inputs (session of 2026-12-07).

Ridge from [disk-mean histology (58 channels), log1p IDW of the 6 nearest training spots] as in `ridge_idw`, but fitted
to the composition (counts / total counts x 1e4) and to log depth separately, then multiplied; the depth is that of
the whole transcriptome ('all', ~15k genes) or of the 250 genes scored ('sel'). B4's four checkerboard and four
3 x 3-block folds. Run from the repository root: `python benchmarks/prototypes/depth_spot_probe.py` (-> depth_spot_probe.log).
"""
import sys, numpy as np, warnings; warnings.filterwarnings('ignore')
sys.path.insert(0, 'benchmarks/prototypes')
import feature_probe as fp
from deephex.benchmark import prepare_legacy_st
from deephex.features import extract_features
from deephex.evaluate import spot_features, pearson_columns
s, _ = prepare_legacy_st(fp.B4, 250, 0.25, 0)
fm = np.asarray(extract_features(s, encoder='handcrafted', device='cpu', cache_dir=fp.CACHE, progress=False).features, np.float32)
Fh = spot_features(fm, s.spots, s)
from deephex.io import read_sample
full = read_sample('legacy_st', fp.B4)
dall = np.asarray(full.spots[s.spots.obs_names].X.sum(1)).ravel()
Y = s.spots.X.toarray().astype(float); xy = s.spots.obsm['spatial']
dsel = Y.sum(1)
print('corr log depth all vs selected', np.corrcoef(np.log(dall), np.log(dsel+1))[0,1])
for scheme in ('cb', 'block'):
    res = {}
    for held in fp.folds(s.spots, scheme):
        sc = lambda P: float(np.nanmean(pearson_columns(np.asarray(P), Y[held])))
        I = fp.idw(xy, Y, held)
        out = {}
        for dname, d in (('all', dall), ('sel', dsel + 1)):
            ld = np.log(d)
            Id = fp.idw(xy, ld[:, None], held).reshape(-1)
            ldp = fp.ridge(np.hstack([Fh, Id[:, None], np.log1p(I)]), ld[:, None], held).reshape(-1)
            ldh = fp.ridge(np.hstack([Fh, Id[:, None]]), ld[:, None], held).reshape(-1)
            P = Y/d[:, None]*1e4
            IP = fp.idw(xy, P, held)
            Pp = np.clip(fp.ridge(np.hstack([Fh, np.log1p(IP)]), P, held), 0, None)
            out[f'{dname}: prop x depth(ridge all)'] = sc(Pp*np.exp(ldp)[:, None])
            out[f'{dname}: prop x depth(hist+idw depth)'] = sc(Pp*np.exp(ldh)[:, None])
            out[f'{dname}: prop x depth(idw)'] = sc(Pp*np.exp(Id[held])[:, None])
            out[f'{dname}: idw prop x depth(ridge)'] = sc(IP[held]*np.exp(ldp)[:, None])
            out[f'{dname}: prop x TRUE depth'] = sc(Pp*d[held][:, None])
            out[f'{dname}: prop(no hist) x depth'] = sc(np.clip(fp.ridge(np.log1p(IP), P, held), 0, None)*np.exp(ldp)[:, None])
        for k, v in out.items(): res.setdefault(k, []).append(v)
    for k, v in res.items(): print(scheme, f'{k:40s} {np.mean(v):.4f}', np.round(v, 3).tolist(), flush=True)
