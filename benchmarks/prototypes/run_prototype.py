import sys, json, time, warnings, argparse
import numpy as np, torch, scipy.sparse as sp
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from single_network import Fusion, Data, train, predict
from deephex.benchmark import prepare_legacy_st, prepare_virtual, VirtualTissue, disks_region
from deephex.features import load_feature_map, extract_features
from deephex.evaluate import (heldout_spot_counts, score_heldout, predict_idw, predict_ridge, spot_features, superpixel_metrics, superpixel_anndata)
from deephex.pseudo_visium import holdout_split
from deephex.calibrate import calibrate_to_spots
from anndata import AnnData
import pandas as pd
warnings.filterwarnings('ignore')
torch.set_num_threads(2)
D = Path('runs/prototypes/data')

def fm_of(sample, folder):
    return np.asarray(extract_features(sample, encoder='handcrafted', device='cpu', cache_dir=folder, progress=False).features, np.float32)

def folds(spots, scheme):
    r, c = spots.obs['array_row'].to_numpy(), spots.obs['array_col'].to_numpy()
    b = 1 if scheme == 'cb' else 3
    cls = ((r - r.min())//b + 2*((c - c.min())//b)) % 4
    return [cls == i for i in range(4)]

def to_ad(data, rc, X):
    a = AnnData(X, obs=pd.DataFrame(dict(row=rc[:, 0], col=rc[:, 1]), index=[f"{r}x{c}" for r, c in rc]), var=pd.DataFrame(index=data.genes))
    return a

def fit_states(sample, fm, opts, seed):
    "The prototype's inputs and its trained ensemble states (each seeded from the run's seed)."
    data = Data(sample, fm, k=opts.get('k', 6), scale=opts.get('scale', 'sd'))
    models, infos = [], []
    for st in range(opts.get('n_states', 1)):
        torch.manual_seed(seed*100 + st)
        model = Fusion(fm.shape[-1], len(data.genes), data.tok_um, pitch_um=data.pitch_um, **opts.get('model', {}))
        m, info = train(data, model, seed=seed*100+st, **opts.get('train', {}))
        models.append(m); infos.append(info)
    return data, models, infos

def run_b4(opts, scheme='cb', fold_ids=(0,1,2,3), seeds=(0,)):
    s, _ = prepare_legacy_st(str(Path(__file__).resolve().parents[3]/'shared'/'data'/'her2st'/'B4'), 250, 0.25, 0)
    fm = fm_of(s, D/'B4')
    from deephex.features import extract_features as ef
    tissue = ef(s, encoder='handcrafted', device='cpu', cache_dir=D/'B4', progress=False).tissue
    s = s.replace(tissue_mask=tissue)
    res = []
    for i in fold_ids:
        held = folds(s.spots, scheme)[i]
        truth = s.spots[held]
        tr = s.replace(spots=s.spots[~held].copy())
        for seed in seeds:
            t0 = time.time()
            torch.manual_seed(seed)
            data, models, infos = fit_states(tr, fm, opts, seed)
            rc, X = predict(data, models, region=disks_region(s))
            pred = to_ad(data, rc, X)
            sc = score_heldout(heldout_spot_counts(pred, s.spots, s, held), truth)['pearson_mean']
            out = dict(fold=i, seed=seed, pearson=sc, epochs=[x['epochs'] for x in infos], secs=time.time()-t0)
            if opts.get('cal', True):
                cal = calibrate_to_spots(pred, tr.spots, s, copy=True)
                out['pearson_cal'] = score_heldout(heldout_spot_counts(cal, s.spots, s, held), truth)['pearson_mean']
            print(json.dumps(out), flush=True); res.append(out)
    return res

def baselines_b4(scheme='cb'):
    s, _ = prepare_legacy_st(str(Path(__file__).resolve().parents[3]/'shared'/'data'/'her2st'/'B4'), 250, 0.25, 0)
    fm = fm_of(s, D/'B4')
    F_ = spot_features(fm, s.spots, s)
    for i, held in enumerate(folds(s.spots, scheme)):
        truth = s.spots[held]
        r = dict(fold=i, idw=score_heldout(predict_idw(s.spots, held), truth)['pearson_mean'],
                 ridge_idw=score_heldout(predict_ridge(s.spots, held, F_, idw=True), truth)['pearson_mean'])
        print(json.dumps(r), flush=True)

def run_virtual(opts, name='virtual-breast_tumour-s0-2x2mm', seeds=(0,)):
    t, sd = name.split('-')[1], int(name.split('-')[2][1:])
    s = prepare_virtual(VirtualTissue(t, sd), D/name, 300, progress=False)
    fm = fm_of(s, D/name)
    for seed in seeds:
        t0 = time.time()
        data, models, infos = fit_states(s, fm, opts, seed)
        rc, X = predict(data, models)
        pred = to_ad(data, rc, X)
        out = dict(name=name, seed=seed, epochs=[x['epochs'] for x in infos], secs=time.time()-t0)
        for tag, p in (('', pred), ('_cal', calibrate_to_spots(pred, s.spots, s, copy=True) if opts.get('cal', True) else None)):
            if p is None: continue
            m = superpixel_metrics(p, s.truth, s.tissue_mask, scales=(1, 4), spearman=False, ssim=False, ceiling=False, progress=False)
            out['p8' + tag] = float(m['8um']['pearson'].mean()); out['c8' + tag] = float(m['8um']['composition'].mean())
            out['p32' + tag] = float(m['32um']['pearson'].mean())
        print(json.dumps(out), flush=True)

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('what'); ap.add_argument('--opts', default='{}'); ap.add_argument('--scheme', default='cb')
    ap.add_argument('--folds', type=int, nargs='+', default=[0,1,2,3]); ap.add_argument('--seeds', type=int, nargs='+', default=[0])
    ap.add_argument('--name', default='virtual-breast_tumour-s0-2x2mm')
    a = ap.parse_args(); opts = json.loads(a.opts)
    print('#', a.what, json.dumps(opts), a.scheme, flush=True)
    if a.what == 'b4': run_b4(opts, a.scheme, a.folds, a.seeds)
    elif a.what == 'b4base': baselines_b4(a.scheme)
    elif a.what == 'virtual': run_virtual(opts, a.name, a.seeds)
