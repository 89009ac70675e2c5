"""Stacking: BCAF (histology route, calibrated) + expression route (cross-gene ridge on leave-spot-out neighbour prior), blended by weights chosen on validation spots."""
import sys, json, time, warnings, argparse
import numpy as np, torch, scipy.sparse as sp
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from run_prototype import fm_of, folds, D, prepare_legacy_st, prepare_virtual, VirtualTissue, disks_region
from deephex.enhance import enhance_spots
from deephex.train import fit_predict, nearest_expression, leave_spot_out_neighbours, _enhancement_of, _dense
from deephex.calibrate import calibrate_to_spots
from deephex.evaluate import heldout_spot_counts, score_heldout, superpixel_metrics, sum_over_spots, pearson_columns, superpixel_rc
from sklearn.linear_model import RidgeCV
from anndata import AnnData
warnings.filterwarnings('ignore'); torch.set_num_threads(2)

def prior_weights(hd_xy, query_xy, nbrs, pitch_px, sigma=0.5):
    d2 = ((hd_xy[nbrs] - query_xy[:, None])**2).sum(-1)/pitch_px**2
    w = np.exp(-d2/(2*sigma**2)); return w/w.sum(1, keepdims=True)

class ExprRoute:
    "Leave-spot-out Gaussian prior over the k nearest high-density vectors, then a cross-gene ridge (log1p prior -> counts)."
    def __init__(self, spots, sample, k=6, sigma=0.5, fit_idx=None):
        self.k, self.sigma = k, sigma
        self.hd = enhance_spots(spots, sample.geometry, sample.um_per_px)
        self.hd_xy = np.asarray(self.hd.obsm['spatial'], float); self.H = _dense(self.hd.X).astype(np.float64)
        self.pitch = sample.geometry.spot_pitch_um/sample.um_per_px
        xy = np.asarray(spots.obsm['spatial'], float)
        W = _enhancement_of(spots, sample, self.hd_xy)
        lso = leave_spot_out_neighbours(self.hd_xy, W, xy, k)
        P = self.prior(xy, lso)
        Y = _dense(spots.X).astype(np.float64)
        idx = np.arange(len(Y)) if fit_idx is None else fit_idx
        X = np.log1p(P); self.mu, self.sd = X[idx].mean(0), X[idx].std(0) + 1e-9
        self.r = RidgeCV(alphas=np.logspace(-2, 5, 15), alpha_per_target=True).fit((X[idx] - self.mu)/self.sd, Y[idx])
        self.lso_pred = self.apply(P)
    def prior(self, xy, nbrs=None):
        if nbrs is None: nbrs = nearest_expression(self.hd_xy, xy, self.k)
        w = prior_weights(self.hd_xy, xy, nbrs, self.pitch, self.sigma)
        return np.einsum('nk,nkg->ng', w, self.H[nbrs])
    def apply(self, P): return np.clip(self.r.predict((np.log1p(P) - self.mu)/self.sd), 0, None)

def bcaf(train_sample, fm, region=None, **kw):
    hd = enhance_spots(train_sample.spots, train_sample.geometry, train_sample.um_per_px)
    return fit_predict(train_sample, fm, hd, progress=False, region=region, **kw)

def blend_weight(A, E, Y):
    "Per-gene weight w in [0,1] of E in (1-w)A + wE, least squares on validation spots, shrunk to the global weight."
    ws = np.linspace(0, 1, 11)
    err = np.stack([((1 - w)*A + w*E - Y)**2 for w in ws]).sum(1)       # (n_w, G)
    wg = ws[np.argmin(err.sum(1))]
    return wg, ws[np.argmin(err, 0)]

def run_b4(opts, fold_ids=(0,1,2,3), seed=0):
    s, _ = prepare_legacy_st('/work/shared/data/her2st/B4', 250, 0.25, 0)
    fm = fm_of(s, D/'B4')
    from deephex.features import extract_features
    s = s.replace(tissue_mask=extract_features(s, encoder='handcrafted', device='cpu', cache_dir=D/'B4', progress=False).tissue)
    for i in fold_ids:
        t0 = time.time()
        held = folds(s.spots, 'cb')[i]; truth = s.spots[held]
        tr_spots = s.spots[~held].copy()
        rng = np.random.default_rng(seed); n = tr_spots.n_obs
        val = np.zeros(n, bool); val[rng.permutation(n)[:max(1, round(0.1*n))]] = True
        fit = s.replace(spots=tr_spots[~val].copy())
        A = bcaf(fit, fm, region=disks_region(s), seed=seed, **opts.get('bcaf', {}))
        Acal = calibrate_to_spots(A, fit.spots, s, copy=True)
        E = ExprRoute(tr_spots, s, fit_idx=np.flatnonzero(~val))
        # validation spots: A (calibrated without them), E (leave-spot-out prior, ridge fitted without them)
        Av = _dense(sum_over_spots(Acal, tr_spots[val], s).X); Ev = E.lso_pred[val]; Yv = _dense(tr_spots[val].X)
        wg, wgene = blend_weight(Av, Ev, Yv)
        # held-out spots
        Ah = _dense(heldout_spot_counts(Acal, s.spots, s, held).X)
        E_all = ExprRoute(tr_spots, s)
        Eh = E_all.apply(E_all.prior(np.asarray(truth.obsm['spatial'], float)))
        Yh = _dense(truth.X)
        sc = lambda P: float(np.nanmean(pearson_columns(P, Yh)))
        out = dict(fold=i, A=sc(Ah), E=sc(Eh), w_global=wg, blend_global=sc((1-wg)*Ah + wg*Eh), blend_gene=sc((1-wgene)*Ah + wgene*Eh),
                   avg=sc(0.5*Ah + 0.5*Eh), secs=time.time()-t0)
        print(json.dumps(out), flush=True)

if __name__ == '__main__' and sys.argv[1] == 'b4':
    ap = argparse.ArgumentParser(); ap.add_argument('what'); ap.add_argument('--opts', default='{}'); ap.add_argument('--folds', type=int, nargs='+', default=[0,1,2,3])
    a = ap.parse_args(); opts = json.loads(a.opts); print('#', a.what, a.opts, flush=True)
    if a.what == 'b4': run_b4(opts, a.folds)

from scipy import ndimage
def local_mean(adata, shape, sigma_sp, mask):
    "Gaussian-smoothed map of each gene over in-tissue superpixels (normalised convolution)."
    rc = superpixel_rc(adata); X = np.asarray(adata.X, np.float64)
    m = np.zeros(shape); m[rc[:, 0], rc[:, 1]] = 1
    den = ndimage.gaussian_filter(m, sigma_sp)[rc[:, 0], rc[:, 1]]
    out = np.empty_like(X)
    for g in range(X.shape[1]):
        img = np.zeros(shape); img[rc[:, 0], rc[:, 1]] = X[:, g]
        out[:, g] = ndimage.gaussian_filter(img, sigma_sp)[rc[:, 0], rc[:, 1]]/np.maximum(den, 1e-9)
    return out

def run_virtual(opts, name, seed=0):
    t, sd = name.split('-')[1], int(name.split('-')[2][1:])
    s = prepare_virtual(VirtualTissue(t, sd), D/name, 300, progress=False)
    fm = fm_of(s, D/name)
    t0 = time.time()
    spots = s.spots; n = spots.n_obs
    rng = np.random.default_rng(seed)
    val = np.zeros(n, bool); val[rng.permutation(n)[:max(1, round(0.1*n))]] = True
    fit = s.replace(spots=spots[~val].copy())
    A = bcaf(fit, fm, seed=seed, **opts.get('bcaf', {}))
    Acal_v = calibrate_to_spots(A, fit.spots, s, copy=True)
    E = ExprRoute(spots, s, fit_idx=np.flatnonzero(~val))
    Av = _dense(sum_over_spots(Acal_v, spots[val], s).X); Ev = E.lso_pred[val]; Yv = _dense(spots[val].X)
    wg, wgene = blend_weight(Av, Ev, Yv)
    # final: A calibrated to all spots, E from all spots at every superpixel, distributed by A's local shape
    Acal = calibrate_to_spots(A, spots, s, copy=True)
    rc = superpixel_rc(Acal)
    E_all = ExprRoute(spots, s)
    Esp = E_all.apply(E_all.prior(s.grid.superpixel_centres(rc)))/s.geometry.disk_mask().sum()
    shape = np.asarray(Acal.X, np.float64)/np.maximum(local_mean(Acal, s.grid.shape, s.geometry.spot_radius_sp, None), 1e-9)
    Ei = Esp*shape
    out = dict(name=name, w_global=wg, w_gene_mean=float(wgene.mean()), secs=time.time()-t0)
    for tag, X in (('A', np.asarray(Acal.X, np.float64)), ('E', Ei), ('blend_global', (1-wg)*np.asarray(Acal.X) + wg*Ei),
                   ('blend_gene', (1-wgene)*np.asarray(Acal.X) + wgene*Ei), ('Eflat', Esp)):
        P = AnnData(X.astype(np.float32), obs=Acal.obs.copy(), var=Acal.var.copy())
        m = superpixel_metrics(P, s.truth, s.tissue_mask, scales=(1, 4), spearman=False, ssim=False, ceiling=False, progress=False)
        out[tag] = (round(float(m['8um']['pearson'].mean()), 4), round(float(m['8um']['composition'].mean()), 4), round(float(m['32um']['pearson'].mean()), 4))
    print(json.dumps(out), flush=True)

if __name__ == '__main__' and sys.argv[1] == 'virtual':
    for nm in sys.argv[3:]: run_virtual(json.loads(sys.argv[2]), nm)
