"""Reuse of a trained model (issue 16's protocol): a model trained on one section predicts another, with the new section's
spots and from its H&E image alone, scored against what training on the new section directly gives.

Run from the repository root (after `make setup`):

    .venv/bin/python benchmarks/transfer.py [--out runs/transfer] [--tissues breast_tumour lymph_node colon] [--no-heldout] [--epochs N]

Virtual tissues (deephex.simulate, 2 x 2 mm, 300 HVGs of the training section, handcrafted features): the default
model (`deephex run`'s settings) is trained on simulation seed 0 and its bundle (`deephex.bundle`) predicts seed 1 of
the same kind (a) with seed 1's spots (`predict_section`: the trained network with the new spots as gene tokens, the
expression route fitted on them, calibration to them) and (b) from seed 1's features alone (`predict_histology`: the
histology head). Beside them, on seed 1: the same model trained on seed 1 itself, and interpolation of seed 1's spots
(no model); the head on its own training section (how much of the fused model the head keeps); and seed 0's mean spot
expression at every superpixel of seed 1 (what an H&E-only model must beat). Scores: mean per-gene Pearson at 8 and
32 µm and the composition score against the true bins (both undefined for a constant map), and the profile score: the
mean over superpixels (8 µm) or 4 x 4 blocks (32 µm) of the Pearson correlation across genes of log1p(prediction) with
log1p(truth) — does each place get the right expression profile.

HER2ST B4 (../shared/data, legacy ST, 250 HVGs): the spots are split at the median x into two halves; the model is
trained on the left half's spots and predicts the right half from H&E alone (the head's prediction summed over each
right-half spot's disk); mean per-gene Pearson across the right-half spots, beside ridge regression on the disks'
histology features trained on the left-half spots (the histology-only baseline) and, for reference, IDW from the
left-half spots (which uses measured expression, so it is not an H&E-only method).

Results (resumable: one JSON per cell under OUT/results) go to benchmarks/transfer.json and .md with the command.
"""
import argparse, json, sys, warnings
from pathlib import Path

import numpy as np

from deephex.benchmark import VirtualTissue, default_legacy_st, prepare_legacy_st, prepare_virtual, _md
from deephex.bundle import load_bundle, predict_histology, predict_section
from deephex.core import bin_superpixels, key_index, superpixel_keys, superpixel_rc
from deephex.enhance import enhance_spots
from deephex.evaluate import pearson_columns, heldout_spot_counts, predict_idw, predict_interpolation, predict_ridge, score_heldout, spot_features, superpixel_metrics
from deephex.features import extract_features
from deephex.fusion import fit_model
from deephex.pseudo_visium import disks_region
from result_cache import cached, provenance, write_report
from deephex.pipeline import prepare_sample
from deephex.settings import ReadSettings, TrainSettings


def virtual(out:Path, data:Path, tissues:list, base:TrainSettings, progress:bool)->dict:
    res = {}
    for t in tissues:
        secs = {}
        for seed in (0, 1):
            vt = VirtualTissue(t, seed)
            s = prepare_virtual(vt, data/vt.name, 300, progress)           # simulated once (shared with the benchmark), 300 HVGs
            if seed == 1:                                                  # the new section, read with the model's genes as `deephex predict` reads it
                s = prepare_sample(ReadSettings(input_format='visium_hd', input_path=str(data/vt.name/'visium_hd')), genes=genes)
            fm = extract_features(s, encoder='handcrafted', device='cpu', cache_dir=out/vt.name, progress=progress)
            secs[seed] = (s, np.asarray(fm.features, np.float32), fm.stats.get('encoder_identity'))
            genes = list(s.spots.var_names)
        (s0, f0, id0), (s1, f1, id1) = secs[0], secs[1]
        bundle_dir = out/'models'/f"{t}-s0"
        name = f"{t}: train s0 -> s1"

        def score(pred, s):
            m = superpixel_metrics(pred, s.truth[:, list(pred.var_names)], s.tissue_mask, scales=(1, 4), spearman=False, ssim=False, ceiling=False, progress=False)
            r = {f"{k} {sc}": float(np.nanmean(m[sc][k])) for sc in ('8um', '32um') for k in ('pearson', 'composition')}
            return {**r, **{f"profile {sc}": profile_pearson(pred, s.truth, s.tissue_mask, f) for sc, f in (('8um', 1), ('32um', 4))}}

        def train(s, f, ident, where):
            return fit_model(s, f, enhance_spots(s.spots, s.geometry, s.um_per_px), base.replace(seed=0), progress=False, bundle_dir=where,
                             encoder='handcrafted', encoder_identity=ident)

        def trained_on_s0():
            pred = train(s0, f0, id0, bundle_dir)
            r = score(pred, s0); r['route_weight'] = pred.uns['deephex']['fusion']['route_weight']
            return r
        res[f"{name} | on s0: deephex trained on s0"] = cached(out/'results', f"{t}-s0-deephex", trained_on_s0)
        if not (bundle_dir/'bundle.json').is_file():            # a result from an earlier run without its model: train again
            trained_on_s0()
        b = load_bundle(bundle_dir)
        res[f"{name} | on s0: its histology head (H&E only)"] = cached(out/'results', f"{t}-s0-head",
                                                                      lambda: score(predict_histology(b, f0, s0.tissue_mask, s0.grid), s0))
        res[f"{name} | on s1: deephex trained on s1"] = cached(out/'results', f"{t}-s1-deephex",
                                                               lambda: score(train(s1, f1, id1, out/'models'/f"{t}-s1"), s1))
        res[f"{name} | on s1: interpolation of s1's spots"] = cached(out/'results', f"{t}-s1-interpolation",
                                                                    lambda: score(predict_interpolation(s1.spots, s1, s1.tissue_mask), s1))
        res[f"{name} | on s1: s0's model with s1's spots"] = cached(out/'results', f"{t}-s0to1-spots",
                                                                   lambda: score(predict_section(b, s1, f1, progress=False, encoder_identity=id1), s1))
        res[f"{name} | on s1: s0's model from H&E only"] = cached(out/'results', f"{t}-s0to1-he",
                                                                 lambda: score(predict_histology(b, f1, s1.tissue_mask, s1.grid, encoder_identity=id1), s1))
        res[f"{name} | on s1: s0's mean expression everywhere"] = cached(out/'results', f"{t}-s0to1-mean",
                                                                        lambda: score(mean_expression(s0, predict_interpolation(s1.spots, s1, s1.tissue_mask)), s1))
        for k, v in res.items():
            if k.startswith(name): print(k, json.dumps(v), flush=True)
    return res


def profile_pearson(pred, truth, mask:np.ndarray, factor:int)->float:
    "Mean over the in-tissue superpixels (blocks of factor x factor of them) of the Pearson correlation across genes of log1p(prediction) with log1p(truth): does each place get the right expression profile? Defined for a constant prediction, unlike the per-gene scores."
    truth = truth[:, list(pred.var_names)]
    trc = superpixel_rc(truth); truth = truth[np.asarray(mask, bool)[trc[:, 0], trc[:, 1]]]
    idx = key_index(superpixel_keys(superpixel_rc(pred)), superpixel_keys(superpixel_rc(truth)))
    P, T = pred[idx[idx >= 0]], truth[idx >= 0]
    if factor > 1: P, T = bin_superpixels(P, factor), bin_superpixels(T, factor)
    P, T = (np.log1p(np.asarray(a.X.toarray() if hasattr(a.X, 'toarray') else a.X, np.float64)) for a in (P, T))
    return float(np.nanmean(pearson_columns(P.T, T.T)))                           # rows as columns: one r per superpixel


def mean_expression(train, like):
    "The training section's mean spot expression, scaled to a superpixel, at every superpixel of `like` (the baseline an H&E-only model must beat)."
    X = train.spots.X
    mean = np.asarray(X.mean(0)).ravel()/float(train.geometry.disk_mask().sum())
    out = like.copy(); out.X = np.tile(mean.astype(np.float32), (like.n_obs, 1))
    return out


def heldout(out:Path, base:TrainSettings, progress:bool)->dict:
    path = default_legacy_st()
    if path is None: print("no ../shared/data/her2st/B4: the real-tissue part is skipped"); return {}
    s, _ = prepare_legacy_st(path, 250, 0.25, 0)
    fm = extract_features(s, encoder='handcrafted', device='cpu', cache_dir=out/'B4', progress=progress)
    s = s.replace(tissue_mask=fm.tissue); feats = np.asarray(fm.features, np.float32)
    x = np.asarray(s.spots.obsm['spatial'], float)[:, 0]
    right = x > np.median(x)                                       # held out: the right half
    truth, train = s.spots[right], s.replace(spots=s.spots[~right].copy())
    res = {}
    res['B4 left -> right half | ridge on disk histology, trained on the left half'] = cached(out/'results', 'B4-ridge',
        lambda: dict(pearson=score_heldout(predict_ridge(s.spots, right, spot_features(feats, s.spots, s), idw=False), truth)['pearson_mean']))
    res['B4 left -> right half | IDW from the left-half spots (uses expression; reference)'] = cached(out/'results', 'B4-idw',
        lambda: dict(pearson=score_heldout(predict_idw(s.spots, right), truth)['pearson_mean']))
    where = out/'models'/'B4-left'
    def he_only():
        if not (where/'bundle.json').is_file():
            fit_model(train, feats, enhance_spots(train.spots, train.geometry, train.um_per_px), base.replace(seed=0), progress=False,
                      bundle_dir=where, encoder='handcrafted', encoder_identity=fm.stats.get('encoder_identity'), region=disks_region(train))
        b = load_bundle(where)
        pred = predict_histology(b, feats, s.tissue_mask, s.grid, encoder_identity=fm.stats.get('encoder_identity'))
        return dict(pearson=score_heldout(heldout_spot_counts(pred, s.spots, s, right), truth)['pearson_mean'])
    res['B4 left -> right half | deephex trained on the left half, from H&E only (histology head)'] = cached(out/'results', 'B4-he', he_only)
    for k, v in res.items(): print(k, json.dumps(v), flush=True)
    return res


def report(res:dict)->str:
    import pandas as pd
    lines = []
    virt = [dict(dataset=k.split(' | ')[0], method=k.split(' | ')[1], **{c: v.get(c) for c in ('pearson 8um', 'composition 8um', 'pearson 32um', 'profile 8um', 'profile 32um')},
                 seconds=v.get('seconds')) for k, v in res.items() if 'train s0 -> s1' in k]
    if virt:
        df = pd.DataFrame(virt)
        lines += ["## Virtual tissues: trained on seed 0, applied to seed 1 (mean per-gene scores against the true bins)", "", _md(df), ""]
        mean = df.groupby('method', sort=False)[['pearson 8um', 'composition 8um', 'pearson 32um', 'profile 8um', 'profile 32um']].mean().reset_index()
        lines += ["Mean over the tissue kinds:", "", _md(mean), ""]
    held = [dict(method=k.split(' | ')[1], pearson=v['pearson'], seconds=v.get('seconds')) for k, v in res.items() if k.startswith('B4')]
    if held:
        lines += ["## HER2ST B4: trained on the left half, the right half predicted (mean per-gene Pearson across right-half spots)", "",
                  _md(pd.DataFrame(held)), ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='runs/transfer')
    ap.add_argument('--data', default='runs/benchmark/data', help="where the virtual tissues are simulated (shared with deephex benchmark)")
    ap.add_argument('--tissues', nargs='+', default=['breast_tumour', 'lymph_node', 'colon'])
    ap.add_argument('--no-virtual', action='store_true'); ap.add_argument('--no-heldout', action='store_true')
    ap.add_argument('--epochs', type=int, default=None, help="training epochs (default: deephex run's)")
    ap.add_argument('--tag', default=''); ap.add_argument('--quiet', action='store_true')
    a = ap.parse_args()
    warnings.filterwarnings('ignore')
    out = Path(a.out); (out/'results').mkdir(parents=True, exist_ok=True)
    base = TrainSettings() if a.epochs is None else TrainSettings(epochs=a.epochs)
    prov = provenance('transfer.py', sys.argv[1:], base.key())
    res = {}
    if not a.no_virtual: res.update(virtual(out, Path(a.data), a.tissues, base, not a.quiet))
    if not a.no_heldout: res.update(heldout(out, base, not a.quiet))
    md = write_report('transfer', a.tag, prov, res, 'A trained model applied to other sections', report(res))
    print(md)

if __name__ == '__main__': main()
