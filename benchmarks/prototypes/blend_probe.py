"Blend variants on cached folds: global w (current), per-gene w (shrunk), E-route variants."
import sys, json, pickle, warnings, math, numpy as np, scipy.sparse as sp, pandas as pd
sys.path.insert(0, 'benchmarks')
from pathlib import Path
import anndata as ad
from scipy import ndimage
from deephex.benchmark import default_legacy_st, prepare_legacy_st
from deephex.features import extract_features
from deephex.fusion import histology_summary, fit_expression_route, blend_weight, route_lattice, _bilinear, _spot_mask
from deephex.train import tissue_superpixels
from deephex.calibrate import calibrate_to_spots
from deephex.evaluate import heldout_spot_counts, pearson_columns, superpixel_rc
warnings.simplefilter('ignore')
import os; F = Path(os.environ.get('FOLDS', 'runs/prototypes/b4_folds'))
s, _ = prepare_legacy_st(default_legacy_st(), 250, 0.25, 0)
fm = extract_features(s, encoder='handcrafted', device='cpu', cache_dir=Path('runs/benchmark/legacy_st-B4/features/handcrafted'), progress=False)
s = s.replace(tissue_mask=fm.tissue); feats = np.asarray(fm.features, np.float32)
tis = tissue_superpixels(s, feats)
S16 = histology_summary(feats, tis, s.geometry.window_size, seed=0)
SALL = histology_summary(feats, tis, s.geometry.window_size, n_components=feats.shape[-1], seed=0)
SUMS = {'sum16': S16, 'sum16+all': np.concatenate([S16, SALL], -1)}
def blend(X, rc, route, w, sample):
    g = sample.geometry
    size = int(2*math.floor(g.spot_radius_sp) + 1)
    step = max(1, int(round(route.sigma*g.spot_pitch_um/g.superpixel_um/3)))
    E, (r0, c0) = route_lattice(route, rc, sample.grid, step)
    Wi = _bilinear(rc, (r0, c0), step, E.shape[:2])
    E = E.reshape(-1, E.shape[-1])/float(g.disk_mask().sum())
    m = np.zeros(sample.grid.shape, np.float32); m[rc[:, 0], rc[:, 1]] = 1
    den = ndimage.uniform_filter(m, size)[rc[:, 0], rc[:, 1]]
    w = np.broadcast_to(np.asarray(w, np.float32), (X.shape[1],))
    out = np.empty_like(X)
    for j in range(X.shape[1]):
        img = np.zeros(sample.grid.shape, np.float32); img[rc[:, 0], rc[:, 1]] = X[:, j]
        loc = ndimage.uniform_filter(img, size)[rc[:, 0], rc[:, 1]]/np.maximum(den, 1e-6)
        out[:, j] = (1 - w[j])*X[:, j] + w[j]*np.asarray(Wi @ E[:, j], np.float32)*X[:, j]/np.maximum(loc, 1e-6)
    return out
def pergene_w(A, E, Y, grid=21):
    ws = np.linspace(0, 1, grid)
    var = np.maximum(Y.var(0), 1e-12)
    err = np.stack([(((1 - w)*A + w*E - Y)**2/var).mean(0) for w in ws])   # (n_w, G)
    return ws[np.argmin(err, 0)]
VAR = [('sum16', 0.5), ('sum16', 0.7), ('sum16+all', 0.5), ('sum16+all', 0.7)] if 'VARIANTS' not in os.environ else [('sum16', 0.5)]
rows = []
for f in sorted(F.glob('*.pkl')):
    d = pickle.load(open(f, 'rb')); name = f.stem
    A0 = ad.read_h5ad(F/f"{name}-A.h5ad"); rc = superpixel_rc(A0)
    held = d['held']; train = s.replace(spots=s.spots[~held].copy()); spots = _spot_mask(train)
    truth = s.spots[held]; T = truth.X.toarray() if sp.issparse(truth.X) else np.asarray(truth.X, float)
    fit_spots = spots[~d['val']].copy(); vxy = np.asarray(spots[d['val']].obsm['spatial'], float)
    def score(X):
        P = A0.copy(); P.X = X; P = calibrate_to_spots(P, spots, train, copy=False)
        H = heldout_spot_counts(P, s.spots, s, held)
        return float(np.nanmean(pearson_columns(np.asarray(H[truth.obs_names].X, float), T)))
    row = dict(fold=name, A=score(np.asarray(A0.X, np.float32).copy()))
    for sk, sg in VAR:
        Ef = fit_expression_route(fit_spots, train, SUMS[sk], 6, sg)
        Ev = Ef.predict(Ef.inputs(vxy))
        w, _ = blend_weight(d['A_val'], Ev, d['Y_val'])
        wg = pergene_w(d['A_val'], Ev, d['Y_val'])
        E = fit_expression_route(spots, train, SUMS[sk], 6, sg)
        X = np.asarray(A0.X, np.float32)
        tag = f"{sk} s{sg}"
        row[f"{tag} w"] = w
        row[f"{tag} global"] = score(blend(X, rc, E, w, train))
        row[f"{tag} E only"] = score(blend(X, rc, E, 1., train))
        row[f"{tag} pergene/2"] = score(blend(X, rc, E, 0.5*wg + 0.5*w, train))
    rows.append(row); print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
df = pd.DataFrame(rows).set_index('fold')
pd.set_option('display.width', 250); pd.set_option('display.max_columns', 40)
print(df.groupby(df.index.str[:2]).mean().T.round(4))
