"""Choosing DeepHEx's default model: the fused model (BCAF + the expression route) and its parts, on every fold of HER2ST B4
and on virtual tissues of every kind, beside the baselines a user compares with first.

Run from the repository root (after `make setup`):

    .venv/bin/python benchmarks/fusion_ablation.py [--out runs/fusion_ablation] [--variants NAME ...] [--no-virtual | --no-heldout]
                                                   [--tissues breast_tumour lymph_node colon] [--seeds 0] [--schemes cb block] [--tag TAG]

Held-out protocol (HER2ST B4 in ../shared/data, legacy ST): 250 HVGs, handcrafted features; all four checkerboard
folds (`cb`: every 4th array position held out) and four spatially blocked folds (`block`: 3 x 3 blocks of spots
held out, a quarter of them), each training seed of --seeds; mean per-gene Pearson across the held-out spots.
Virtual tissues (deephex.simulate, 2 x 2 mm, 300 HVGs, handcrafted features): 8 and 32 µm mean per-gene Pearson and
the composition score against the true bins. Results (resumable: one JSON per cell under OUT/results) go to
benchmarks/fusion_ablation[-TAG].json and .md with the command that made them.
"""
import argparse, json, sys, time, warnings
from pathlib import Path

import numpy as np

from deephex.benchmark import VirtualTissue, default_legacy_st, git_commit, machine_info, prepare_legacy_st, prepare_virtual, _md
from deephex.enhance import enhance_spots
from deephex.evaluate import (heldout_spot_counts, predict_idw, predict_interpolation, predict_ridge, score_heldout, spot_features,
                              superpixel_metrics)
from deephex.features import extract_features
from deephex.fusion import fit_model
from deephex.pseudo_visium import disks_region
from deephex.runtime import write_json
from result_cache import cached, provenance, write_report
from deephex.settings import TrainSettings

# every variant: TrainSettings fields (on top of the shared settings below); '*' marks the default of `deephex run`
VARIANTS = {
    'deephex': dict(model='deephex'),
    'deephex, histology route only (w = 0)': dict(model='deephex', route_weight=0.),
    'deephex, expression route only (w = 1)': dict(model='deephex', route_weight=1.),
    "deephex, the release's widths everywhere (D 256, MLP 512x3)": dict(model='deephex', embed_dim=256, hidden=(512, 512, 512)),
    'deephex, half widths everywhere (D 128, MLP 256x3)': dict(model='deephex', embed_dim=128, hidden=(256, 256, 256)),
    'deephex, gene-token dropout 0.3': dict(model='deephex', gene_token_dropout=0.3),
    'deephex, 2 states (median)': dict(model='deephex', n_states=2),
    'deephex, lr 2e-4': dict(model='deephex', lr=2e-4),
    'deephex, lr 3e-4': dict(model='deephex', lr=3e-4),
    'deephex, 16 disk tokens': dict(model='deephex', disk_tokens=16),
    'deephex, 32 disk tokens': dict(model='deephex', disk_tokens=32),
    'bcaf + cal (fusion dropout 0.75)': dict(model='bcaf', leave_spot_out=False),
    'bcaf, release training': dict(model='bcaf', fusion_dropout=0., leave_spot_out=False, calibrate=False),
    'istar + cal': dict(model='istar', leave_spot_out=False),
}
BASELINES_HELDOUT = ('idw', 'ridge_idw')
BASELINES_VIRTUAL = ('interpolation',)

def folds(spots, scheme:str)->list:
    "The four held-out masks of a scheme: 'cb' (one array position in four) or 'block' (3 x 3 blocks of spots, one in four)."
    r, c = spots.obs['array_row'].to_numpy(), spots.obs['array_col'].to_numpy()
    b = 1 if scheme == 'cb' else 3
    cls = ((r - r.min())//b + 2*((c - c.min())//b)) % 4
    return [cls == i for i in range(4)]

def heldout(out:Path, variants:list, seeds:list, base:TrainSettings, progress:bool, schemes=('cb', 'block'))->dict:
    path = default_legacy_st()
    if path is None: print("no ../shared/data/her2st/B4: held-out part skipped"); return {}
    s, _ = prepare_legacy_st(path, 250, 0.25, 0)
    fm = extract_features(s, encoder='handcrafted', device='cpu', cache_dir=out/'B4', progress=progress)
    s = s.replace(tissue_mask=fm.tissue); feats = np.asarray(fm.features, np.float32)
    res = {}
    for scheme in schemes:
        for i, held in enumerate(folds(s.spots, scheme)):
            truth, train = s.spots[held], s.replace(spots=s.spots[~held].copy())
            for b in BASELINES_HELDOUT:
                key = f"B4-{scheme}{i}-{b}"
                def base_fn(b=b, held=held):
                    P = predict_idw(s.spots, held) if b == 'idw' else predict_ridge(s.spots, held, spot_features(feats, s.spots, s), idw=True)
                    return dict(pearson=score_heldout(P, truth)['pearson_mean'])
                res[key] = cached(out/'results', key, base_fn)
            for v in variants:
                for seed in seeds:
                    key = f"B4-{scheme}{i}-{v}-seed{seed}"
                    def fn(v=v, seed=seed, held=held, truth=truth, train=train):
                        hd = enhance_spots(train.spots, train.geometry, train.um_per_px)
                        pred = fit_model(train, feats, hd, base.replace(seed=seed, **VARIANTS[v]), progress=False, region=disks_region(s))
                        r = dict(pearson=score_heldout(heldout_spot_counts(pred, s.spots, s, held), truth)['pearson_mean'])
                        r.update({k: v_ for k, v_ in (pred.uns['deephex'].get('fusion') or {}).items() if k in ('route_weight', 'heldout_pearson')})
                        return r
                    res[key] = cached(out/'results', key, fn)
                    print(key, json.dumps(res[key]), flush=True)
    return res

def virtual(out:Path, variants:list, seeds:list, tissues:list, base:TrainSettings, progress:bool)->dict:
    res = {}
    for t in tissues:
        for sim_seed in seeds:
            vt = VirtualTissue(t, sim_seed)
            s = prepare_virtual(vt, out/'data'/vt.name, 300, progress)
            fm = extract_features(s, encoder='handcrafted', device='cpu', cache_dir=out/vt.name, progress=progress)
            feats = np.asarray(fm.features, np.float32)
            score = lambda pred: {f"{k} {sc}": float(m[sc][k].mean()) for m in [superpixel_metrics(pred, s.truth, s.tissue_mask, scales=(1, 4), spearman=False,
                                  ssim=False, ceiling=False, progress=False)] for sc in ('8um', '32um') for k in ('pearson', 'composition')}
            for b in BASELINES_VIRTUAL:
                res[f"{vt.name}-{b}"] = cached(out/'results', f"{vt.name}-{b}", lambda: score(predict_interpolation(s.spots, s, s.tissue_mask)))
            for v in variants:
                key = f"{vt.name}-{v}"
                def fn(v=v):
                    hd = enhance_spots(s.spots, s.geometry, s.um_per_px)
                    pred = fit_model(s, feats, hd, base.replace(seed=sim_seed, **VARIANTS[v]), progress=False)
                    r = score(pred)
                    r.update({k: v_ for k, v_ in (pred.uns['deephex'].get('fusion') or {}).items() if k in ('route_weight', 'heldout_pearson')})
                    return r
                res[key] = cached(out/'results', key, fn)
                print(key, json.dumps(res[key]), flush=True)
    return res

def report(res:dict, variants:list)->str:
    import pandas as pd
    lines = []
    held = {k: v for k, v in res.items() if k.startswith('B4-')}
    if held:
        rows = []
        for scheme in [sc for sc in ('cb', 'block') if any(k.startswith(f"B4-{sc}") for k in held)]:
            for name in list(BASELINES_HELDOUT) + variants:
                vals = [v['pearson'] for k, v in held.items() if k.startswith(f"B4-{scheme}") and (k.endswith(f"-{name}") or f"-{name}-seed" in k)]
                per_fold = [np.mean([v['pearson'] for k, v in held.items() if k.startswith(f"B4-{scheme}{i}-") and (k.endswith(f"-{name}") or f"-{name}-seed" in k)] or [np.nan]) for i in range(4)]
                ws = [v.get('route_weight') for k, v in held.items() if k.startswith(f"B4-{scheme}") and f"-{name}-seed" in k and v.get('route_weight') is not None]
                rows.append(dict(split=scheme, method=name, mean=np.mean(vals) if vals else np.nan, **{f"fold {i}": x for i, x in enumerate(per_fold)},
                                 **({'w (mean)': np.mean(ws)} if ws else {})))
        lines += ["## HER2ST B4, held-out spots (mean per-gene Pearson; folds averaged over training seeds)", "", _md(pd.DataFrame(rows)), ""]
    virt = {k: v for k, v in res.items() if k.startswith('virtual-')}
    if virt:
        rows = []
        for k, v in virt.items():
            ds, _, m = k.partition('-')[2].partition('2x2mm-')
            rows.append(dict(dataset=k.split('-2x2mm')[0], method=m, **{c: v.get(c) for c in ('pearson 8um', 'composition 8um', 'pearson 32um')},
                             **({'w': v['route_weight']} if 'route_weight' in v else {})))
        df = pd.DataFrame(rows)
        lines += ["## Virtual tissues (mean per-gene scores against the true bins)", "", _md(df), ""]
        mean = df.groupby('method', sort=False)[['pearson 8um', 'composition 8um', 'pearson 32um']].mean().reset_index()
        lines += ["Mean over the virtual tissues:", "", _md(mean), ""]
    return "\n".join(lines)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='runs/fusion_ablation'); ap.add_argument('--variants', nargs='+', default=list(VARIANTS))
    ap.add_argument('--seeds', type=int, nargs='+', default=[0]); ap.add_argument('--tissues', nargs='+', default=['breast_tumour', 'lymph_node', 'colon'])
    ap.add_argument('--no-virtual', action='store_true'); ap.add_argument('--no-heldout', action='store_true'); ap.add_argument('--tag', default='')
    ap.add_argument('--schemes', nargs='+', default=['cb', 'block'], choices=['cb', 'block'], help='B4 fold schemes')
    ap.add_argument('--epochs', type=int, default=None, help="training epochs of every learned variant (default: deephex run's)")
    ap.add_argument('--quiet', action='store_true')
    a = ap.parse_args()
    warnings.filterwarnings('ignore')
    out = Path(a.out); (out/'results').mkdir(parents=True, exist_ok=True)
    base = TrainSettings() if a.epochs is None else TrainSettings(epochs=a.epochs)
    prov = provenance('fusion_ablation.py', sys.argv[1:], base.key())
    res = {}
    if not a.no_heldout: res.update(heldout(out, a.variants, a.seeds, base, not a.quiet, a.schemes))
    if not a.no_virtual: res.update(virtual(out, a.variants, a.seeds, a.tissues, base, not a.quiet))
    md = write_report('fusion_ablation', a.tag, prov, res, 'Fusion ablation', report(res, a.variants))
    print(md)

if __name__ == '__main__': main()
