"""Calibration variants on the benchmark's cached uncalibrated predictions (issue 13).

Run from the repository root after `deephex benchmark --out runs/benchmark` (its bcaf / istar cells and prepared samples):
    python benchmarks/prototypes/calibration_probe.py [--methods bcaf istar] [--variants ...]
Scores each variant's 8 um Pearson and composition against the virtual truth (9 sections)."""
import argparse, json, sys, time, warnings
from pathlib import Path
import numpy as np, anndata as ad, scipy.sparse as sp
from deephex.core import superpixel_rc, grid_of, aggregate
from deephex.pipeline import load_sample
from deephex.evaluate import evaluate, interpolation_weights
from deephex.calibrate import calibrate_to_spots, spot_log_ratios
from deephex.pseudo_visium import spot_positions_rc, disk_matrix

def eb_calibrate(pred, spots, sample, prior_counts=5., mode='nugget'):
    "Calibration with each gene's log-ratios shrunk by how much of their spread is noise (Poisson or neighbour nugget)."
    out = pred.copy(); out.X = np.asarray(out.X, np.float32)
    g = grid_of(sample); rc = superpixel_rc(out)
    D = disk_matrix(spots, g, rc)
    S = np.asarray(aggregate(D, out.X), np.float64)
    Y = np.asarray(spots[:, list(out.var_names)].X.toarray() if sp.issparse(spots.X) else spots[:, list(out.var_names)].X, np.float64)
    L = np.log((Y + prior_counts)/(S + prior_counts))
    Lc = L - L.mean(0)
    var = (Lc**2).mean(0)
    if mode == 'poisson':
        noise = (S/(S + prior_counts)**2).mean(0)             # delta-method variance of log(y + a) with y ~ Poisson(S)
        k = np.clip(1 - noise/np.maximum(var, 1e-12), 0, 1)
        L = L.mean(0) + k*Lc
    elif mode == 'nugget':
        # semivariance between neighbouring spots (nearest pitch) = noise + a little signal: the nugget
        from scipy.spatial import cKDTree
        xy = np.asarray(spots.obsm['spatial'], float)
        t = cKDTree(xy); d, j = t.query(xy, 2); pitch = np.median(d[:, 1])
        pairs = t.query_pairs(1.2*pitch, output_type='ndarray')
        semi = 0.5*((L[pairs[:, 0]] - L[pairs[:, 1]])**2).mean(0)
        k = np.clip(1 - semi/np.maximum(var, 1e-12), 0, 1)
        L = L.mean(0) + k*Lc
    W = interpolation_weights(spot_positions_rc(spots, g), rc.astype(float)).tocsr()
    X = out.X
    for b in range(0, len(rc), 4096): X[b:b+4096] *= np.exp(W[b:b+4096] @ L).astype(np.float32)
    out.uns['k'] = k
    return out

VARIANTS = {
    'none': lambda p, s, smp: p,
    'cal a=5 (default)': lambda p, s, smp: calibrate_to_spots(p, s, smp),
    'cal a=2': lambda p, s, smp: calibrate_to_spots(p, s, smp, prior_counts=2.),
    'cal a=20': lambda p, s, smp: calibrate_to_spots(p, s, smp, prior_counts=20.),
    'eb poisson a=5': lambda p, s, smp: eb_calibrate(p, s, smp, 5., 'poisson'),
    'eb nugget a=5': lambda p, s, smp: eb_calibrate(p, s, smp, 5., 'nugget'),
    'eb nugget a=1': lambda p, s, smp: eb_calibrate(p, s, smp, 1., 'nugget'),
}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default='runs/benchmark')
    ap.add_argument('--methods', nargs='+', default=['bcaf', 'istar'])
    ap.add_argument('--variants', nargs='+', default=list(VARIANTS))
    ap.add_argument('--datasets', nargs='*', default=None)
    a = ap.parse_args()
    out = Path(a.out)
    ds = a.datasets or sorted(p.name for p in (out/'data').iterdir())
    rows = []
    for d in ds:
        sample = load_sample(next((out/'data'/d).glob('sample-*genes')))
        for m in a.methods:
            pred0 = ad.read_h5ad(out/d/'handcrafted'/m/'prediction.h5ad')
            for v in a.variants:
                t = time.time()
                with warnings.catch_warnings():
                    warnings.simplefilter('ignore')
                    p = VARIANTS[v](pred0.copy(), sample.spots, sample)
                    r = evaluate(p, sample, progress=False)
                s8 = r['scales']['8um']['summary']['all']
                row = dict(dataset=d, method=m, variant=v, pearson8=s8['pearson']['mean'], comp8=s8['composition']['mean'],
                           k_mean=float(np.mean(p.uns['k'])) if 'k' in p.uns else None, s=round(time.time() - t, 1))
                rows.append(row); print(json.dumps(row), flush=True)
    import pandas as pd
    df = pd.DataFrame(rows)
    df['kind'] = df.dataset.str.extract(r'virtual-(\w+?)-s\d')[0]
    print(df.groupby(['method', 'variant'])[['pearson8', 'comp8']].mean().round(4).to_string())
    print(df.groupby(['method', 'variant', 'kind'])[['pearson8']].mean().unstack().round(4).to_string())

if __name__ == '__main__': main()
