"""Why the learned models trail the neighbour baselines on HER2ST B4 held-out spots: three diagnostics.

Run from the repository root after the full benchmark (it reads the predictions that run saved):

    .venv/bin/deephex benchmark --out runs/benchmark --report benchmarks     # once (resumable)
    .venv/bin/python benchmarks/heldout_diagnostics.py [--bench runs/benchmark]

1. Residual autocorrelation: mean |log ratio| (observed / predicted disk sums, prior 5 counts) at training and
   held-out spots, and the per-gene correlation between each held-out spot's log ratio and the inverse-distance
   weighted log ratios of its 4 nearest training spots. Calibration (regression kriging of these ratios) can only
   help where that correlation is high.
2. Calibration settings: held-out Pearson after calibrating to the training spots with other priors / passes.
3. Complementarity: held-out Pearson of a fixed, untuned 50 / 50 average of a model's held-out prediction and the
   IDW baseline (a diagnostic of independent errors, not a method of the benchmark).

Writes benchmarks/heldout_diagnostics.json and .md with the command.
"""
import argparse, json, sys, time, warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from deephex.benchmark import _md, default_legacy_st, git_commit, method_dir, prepare_legacy_st
from deephex.calibrate import calibrate_to_spots, spot_log_ratios
from deephex.evaluate import heldout_spot_counts, predict_idw, score_heldout

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--bench', default='runs/benchmark'); ap.add_argument('--report', default='benchmarks')
    a = ap.parse_args(argv)
    warnings.simplefilter('ignore')
    path = default_legacy_st()
    if path is None: sys.exit("HER2ST B4 is not in ../shared/data; nothing to diagnose")
    s, held = prepare_legacy_st(path, 250, 0.25, 0)
    name, truth = f"legacy_st-{s.name}", s.spots[held]
    score = lambda pred_spots: score_heldout(pred_spots, truth)['pearson_mean']
    idw = predict_idw(s.spots, held)
    xy = s.spots.obsm['spatial']; tr, ho = np.where(~held)[0], np.where(held)[0]
    d, j = cKDTree(xy[tr]).query(xy[ho], k=4); w = 1/np.maximum(d, 1e-9); w /= w.sum(1, keepdims=True)
    rows, cal_rows = [], []
    for enc in ('handcrafted', 'timm:vit_small_patch16_224'):
        for m in ('istar', 'bcaf'):
            f = method_dir(a.bench, name, m, enc)/'prediction.h5ad'
            if not f.is_file(): print(f"missing {f}: run the benchmark first"); continue
            pred = ad.read_h5ad(f)
            L_tr, L_ho = spot_log_ratios(pred, s.spots[~held], s, 5.), spot_log_ratios(pred, s.spots[held], s, 5.)
            Lk = (w[..., None]*L_tr[j]).sum(1)
            r = [np.corrcoef(L_ho[:, g], Lk[:, g])[0, 1] for g in range(L_ho.shape[1]) if L_ho[:, g].std() > 0 and Lk[:, g].std() > 0]
            hc = heldout_spot_counts(pred, s.spots, s, held)
            blend = hc.copy(); blend.X = 0.5*np.asarray(hc.X) + 0.5*np.asarray(idw[hc.obs_names].X)
            rows.append({'method': f"{m} · {enc}", 'held-out pearson': score(hc), 'mean |log ratio| train': float(np.abs(L_tr).mean()),
                         'mean |log ratio| held-out': float(np.abs(L_ho).mean()), 'r(held-out ratio, neighbours ratio)': float(np.mean(r)),
                         '50/50 with IDW': score(blend)})
            for prior in (1., 5., 20.):
                for n_iter in (1, 3):
                    cal = calibrate_to_spots(pred, s.spots[~held], s, prior_counts=prior, n_iter=n_iter)
                    cal_rows.append({'method': f"{m} · {enc}", 'setting': f"prior {prior:g}, {n_iter} pass{'es' if n_iter > 1 else ''}",
                                     'held-out pearson': score(heldout_spot_counts(cal, s.spots, s, held))})
            print(rows[-1], flush=True)
    cmd = 'python benchmarks/heldout_diagnostics.py ' + ' '.join(sys.argv[1:] if argv is None else argv)
    res = dict(command=cmd, created=time.strftime('%Y-%m-%dT%H:%M:%S'), git=git_commit('.'), idw=score(idw), models=rows, calibration=cal_rows)
    rep = Path(a.report); rep.mkdir(parents=True, exist_ok=True)
    (rep/'heldout_diagnostics.json').write_text(json.dumps(res, indent=1))
    (rep/'heldout_diagnostics.md').write_text('\n'.join([
        '# HER2ST B4 held-out spots: diagnostics', '', f"Command: `{cmd}`  ", f"Commit: {res['git'].get('commit', 'unknown')}; {res['created']}  ",
        f"{int(held.sum())} of {s.spots.n_obs} spots held out, {s.spots.n_vars} genes; predictions of the full benchmark ({a.bench}). "
        f"IDW baseline: {res['idw']:.3f}.", '', '## Residuals and complementarity', '', _md(pd.DataFrame(rows)), '',
        '## Calibration to the training spots, other settings (default: prior 5, 1 pass)', '',
        _md(pd.DataFrame(cal_rows).pivot_table(index='method', columns='setting', values='held-out pearson', sort=False).reset_index()), '']))
    print((rep/'heldout_diagnostics.md').read_text())

if __name__ == '__main__': main()
