"""What it costs to make the prediction reproduce its spots: spot consistency against accuracy, calibration pass by pass.

Run from the repository root (after `make setup`):

    .venv/bin/python benchmarks/spot_consistency.py [--work runs/spot_consistency] [--tissues breast_tumour lymph_node colon] [--folds 0 1 2 3]

`deephex.calibrate.calibrate_to_spots` rescales every gene's map by the interpolated observed / predicted ratio of the
spots (a prior of 5 counts on each ratio). The default model makes one pass; `--calibration-passes N` makes N, each
re-measuring the residual, so the disk sums come closer to the measured spots. Here the default prediction is made
once per dataset (training seed 0, CLI defaults) and further passes are applied to it, so that only the calibration
changes (with `--calibration-passes N` the blend weight is also chosen after N passes; everything else is the same):
- virtual tissues (deephex.simulate, 2 x 2 mm, seed 0; `deephex demo --tissue T`, 300 genes): mean per-gene Pearson and
  composition at 8 and 32 µm against the true bins, and the spot consistency (sum over spots and genes of
  |disk sum - spot counts| / total counts; 0 for the truth);
- HER2ST B4 (../shared/data, when present): the held-out-spot protocol (250 HVGs) on the four checkerboard folds of
  `fusion_ablation.py` (every 4th array position held out; `--folds` chooses them), calibrated to the training spots
  only; mean per-gene Pearson across the held-out spots and the spot error over the training spots.
Also shown: further passes with a prior of 1 or 0.5 count instead of 5 (less shrinkage of each spot's ratio). Writes
benchmarks/spot_consistency.{json,md}.
"""
import argparse, sys, warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from result_cache import cached, provenance, write_report
from fusion_ablation import folds
from deephex.benchmark import BenchmarkPlan, default_legacy_st, prepare_legacy_st, predict_heldout, _features, _md
from deephex.calibrate import calibrate_to_spots
from deephex.evaluate import evaluate, heldout_spot_counts, score_heldout, spot_consistency
from deephex.fusion import _spot_mask
from deephex.pipeline import demo, load_sample

# further passes applied to the default's prediction (which already had one pass at a prior of 5 counts)
VARIANTS = {'1 pass (default)': [], '2 passes': [(5., 1)], '3 passes': [(5., 2)], '5 passes': [(5., 4)],
            '1 + 2 passes, prior 1 count': [(1., 2)], '1 + 5 passes, prior 0.5 count': [(0.5, 5)]}


def _calibrated(pred:ad.AnnData, spots:ad.AnnData, sample, extra:list)->ad.AnnData:
    p = pred.copy()
    for prior, n in extra: p = calibrate_to_spots(p, spots, sample, prior_counts=prior, n_iter=n, copy=False)
    return p


def virtual(tissue:str, work:Path, progress:bool)->list:
    run = work/tissue
    demo(run, tissue=tissue, progress=progress, figures=False)                  # resumes: each step is skipped when done
    s = load_sample(run/'sample')
    if (run/'sample'/'tissue_mask.npy').is_file(): s = s.replace(tissue_mask=np.load(run/'sample'/'tissue_mask.npy'))
    pred = ad.read_h5ad(run/'prediction.h5ad')
    spots = _spot_mask(s)[:, list(pred.var_names)]
    rows = []
    for name, extra in VARIANTS.items():
        def compute(extra=extra):
            m = evaluate(_calibrated(pred, spots, s, extra), s, progress=False, spearman=False, ssim=False, ceiling=False, scales=(1, 4))
            at = lambda sc, k: float(m['scales'][sc]['summary']['all'][k]['mean'])
            return dict(pearson_8um=at('8um', 'pearson'), composition_8um=at('8um', 'composition'), pearson_32um=at('32um', 'pearson'),
                        spot_error=float(m['spot_consistency']['relative_error']))
        rows.append(dict(dataset=f"virtual {tissue} s0", calibration=name, **cached(work/'cells', f"virtual-{tissue}-{name}", compute)))
        print(rows[-1], flush=True)
    return rows


def b4(path:str, fold:int, work:Path, progress:bool)->list:
    sample, _ = prepare_legacy_st(path, 250, 0.25, 0)
    held = folds(sample.spots, 'cb')[fold]                                 # checkerboard fold `fold` of fusion_ablation.py
    fm, tissue, _ = _features(sample, 'handcrafted', work/'b4', 'cpu', progress)
    sample = sample.replace(tissue_mask=tissue)
    truth, train = sample.spots[held], sample.spots[~held]
    f = work/'b4'/f"cb{fold}-prediction.h5ad"
    if not f.is_file():
        _, pred = predict_heldout('deephex', sample, held, fm, BenchmarkPlan(), 'cpu', None, progress)
        pred.write_h5ad(f)
    pred = ad.read_h5ad(f)
    rows = []
    for name, extra in VARIANTS.items():
        def compute(extra=extra):
            p = _calibrated(pred, train, sample, extra)
            return dict(heldout_pearson=float(score_heldout(heldout_spot_counts(p, sample.spots, sample, held), truth)['pearson_mean']),
                        spot_error=float(spot_consistency(p, train, sample)['relative_error']))
        rows.append(dict(dataset=f"legacy_st B4 checkerboard fold {fold}", calibration=name, **cached(work/'cells', f"b4-cb{fold}-{name}", compute)))
        print(rows[-1], flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--work', default='runs/spot_consistency')
    ap.add_argument('--tissues', nargs='+', default=['breast_tumour', 'lymph_node', 'colon'])
    ap.add_argument('--folds', nargs='+', type=int, default=[0, 1, 2, 3])
    ap.add_argument('--quiet', action='store_true')
    a = ap.parse_args()
    prov = provenance('spot_consistency.py', sys.argv[1:], {})
    work = Path(a.work); work.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        rows = [r for t in a.tissues for r in virtual(t, work, not a.quiet)]
        path = default_legacy_st()
        if path: rows += [r for f in a.folds for r in b4(path, f, work, not a.quiet)]
    df = pd.DataFrame(rows)
    vt = df[df.dataset.str.startswith('virtual')]
    body = ("Spot error: sum over spots and genes of |disk sum − spot counts| / total counts (the truth's is 0). Virtual: "
            "scores against the true 8 µm bins (mean per-gene); B4: mean per-gene Pearson across the held-out spots, the spot "
            "error over the training spots the prediction was calibrated to.\n\n## Mean over the virtual tissues\n\n"
            + _md(vt.groupby('calibration', sort=False)[['pearson_8um', 'composition_8um', 'pearson_32um', 'spot_error']].mean().round(4).reset_index())
            + ("\n\n## Mean over the B4 checkerboard folds\n\n" + _md(b4r.groupby('calibration', sort=False)[['heldout_pearson', 'spot_error']].mean().round(4).reset_index())
               if len(b4r := df[df.dataset.str.startswith('legacy_st')]) else '')
            + "\n\n## Each dataset\n\n" + _md(df.round(4)) + "\n")
    write_report('spot_consistency', '', prov, dict(rows=rows), "Spot consistency against accuracy (calibration passes)", body)
    print(body)

if __name__ == '__main__': main()
