"""What makes BCAF generalise: an ablation of its training on a virtual tissue (several seeds) and on HER2ST B4.

Run from the repository root (after `make setup`):

    .venv/bin/python benchmarks/bcaf_ablation.py [--out runs/ablation] [--seeds 0 1] [--epochs 100] [--no-heldout | --no-virtual]
                                                 [--only NAME-PART ...] [--tag TAG]

Resumable: each variant's result is kept under OUT/results. It simulates the demo's virtual tissue (2 x 2 mm breast tumour, seed 0; kept in OUT/data), prepares it as
`deephex run` does (300 HVGs, handcrafted features), trains every variant below with each seed, and scores the
8 and 32 µm predictions (mean per-gene Pearson and the composition score) against the true bins, as trained
and after spot calibration (`deephex.calibrate`, '+cal'). Results go to
benchmarks/bcaf_ablation.json and .md with the command that made them. Every variant is trained with the same
data, features, epochs and batches; only the named setting differs.

With `../shared/data/her2st/B4` present the same variants are also trained on that section's training spots
(the benchmark's held-out-spot protocol: a checkerboard quarter held out, 250 HVGs, handcrafted features, split
seed 0, each training seed of --seeds) and scored by Pearson per gene across the held-out spots, as trained and
calibrated to the training spots; the report gives the mean and standard deviation over the seeds.
"""
import argparse, json, sys, time
from pathlib import Path

import numpy as np

from deephex.benchmark import VirtualTissue, default_legacy_st, disks_region, git_commit, machine_info, prepare_legacy_st, prepare_virtual, _md
from deephex.calibrate import calibrate_to_spots
from deephex.core import resource_meter
from deephex.enhance import enhance_spots
from deephex.evaluate import heldout_spot_counts, predict_idw, score_heldout, superpixel_metrics
from deephex.features import extract_features
from deephex.train import fit_predict

VARIANTS = {  # name: fit_predict options; every variant is scored as trained and after spot calibration
    'istar (histology-only MLP)': dict(model='istar'),
    'bcaf, release training': dict(model='bcaf', fusion_dropout=0.),
    'bcaf, release training, early stopping 20': dict(model='bcaf', fusion_dropout=0., early_stopping=20),
    'bcaf, fused tokens always zero (its histology path alone)': dict(model='bcaf', fusion_dropout=0., _zero_fusion=True),
    'bcaf, fusion dropout 0.5': dict(model='bcaf', fusion_dropout=0.5),
    'bcaf, fusion dropout 0.75 (deephex default)': dict(model='bcaf', fusion_dropout=0.75),
    'bcaf, leave-spot-out tokens': dict(model='bcaf', fusion_dropout=0., leave_spot_out=True),
    'bcaf, leave-spot-out tokens, early stopping 20': dict(model='bcaf', fusion_dropout=0., leave_spot_out=True, early_stopping=20),
    'bcaf, leave-spot-out tokens, fusion dropout 0.75': dict(model='bcaf', fusion_dropout=0.75, leave_spot_out=True),
    'bcaf, leave-spot-out tokens, fusion dropout 0.75, early stopping 20': dict(model='bcaf', fusion_dropout=0.75, leave_spot_out=True, early_stopping=20),
    'bcaf, leave-spot-out tokens, early stopping 20, 3 states': dict(model='bcaf', fusion_dropout=0., leave_spot_out=True, early_stopping=20, n_states=3),
}

def cached(folder:Path, key:str, compute)->dict:
    "The result of `compute()` kept in folder/<key>.json: a rerun resumes where an interrupted one stopped."
    f = folder/(key.replace(' ', '_').replace(',', '').replace('(', '').replace(')', '').replace('/', '-') + '.json')
    if f.is_file(): return json.loads(f.read_text())
    r = compute(); folder.mkdir(parents=True, exist_ok=True); f.write_text(json.dumps(r)); return r

def zero_fusion():
    "Context manager: BCAF's fused tokens F replaced by zeros (the histology path alone, in BCAF's MLP)."
    import contextlib, torch
    from deephex.model import BCAF
    @contextlib.contextmanager
    def cm():
        old = BCAF.fuse
        BCAF.fuse = lambda self, h, g: torch.zeros(*h.shape[:2], self.config['embed_dim'], dtype=h.dtype, device=h.device)
        try: yield
        finally: BCAF.fuse = old
    return cm()

def heldout_ablation(out:Path, epochs:int, path, variants:dict=VARIANTS, seeds=(0,))->tuple:
    "Every variant and training seed on a legacy ST section's held-out spots: {variant: [scores per seed]}, and the IDW baseline."
    import warnings
    sample, held = prepare_legacy_st(path, 250, 0.25, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        fm_ = extract_features(sample, cache_dir=out/'data'/'legacy_st', progress=False)
    sample = sample.replace(tissue_mask=fm_.tissue) if sample.tissue_mask is None else sample
    fm = np.asarray(fm_.features, np.float32)
    train, truth = sample.replace(spots=sample.spots[~held].copy()), sample.spots[held]
    hd = enhance_spots(train.spots, train.geometry, train.um_per_px)
    score = lambda pred: score_heldout(heldout_spot_counts(pred, sample.spots, sample, held), truth)['pearson_mean']
    res = {'idw (model-free)': [dict(pearson=score_heldout(predict_idw(sample.spots, held), truth)['pearson_mean'])]}
    for name, opts in variants.items():
        opts = dict(opts); zero = opts.pop('_zero_fusion', False)
        import contextlib
        def compute(opts=opts, zero=zero, seed=0):
            with resource_meter() as r, (zero_fusion() if zero else contextlib.nullcontext()):
                pred = fit_predict(train, fm, hd, epochs=epochs, seed=seed, progress=False, region=disks_region(sample), **opts)
            return dict(seed=seed, pearson=score(pred), pearson_cal=score(calibrate_to_spots(pred, train.spots, sample, copy=False)),
                        seconds=round(r['seconds'], 1), epochs=int(np.max(pred.uns['deephex']['epochs_trained'])))
        res[name] = [cached(out/'results', f"heldout {name} s{seed} e{epochs}", lambda seed=seed: compute(seed=seed)) for seed in seeds]
        print('held-out', name, res[name], flush=True)
    return res, dict(n_spots=sample.spots.n_obs, n_heldout=int(held.sum()), n_genes=sample.spots.n_vars)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default='runs/ablation'); ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    ap.add_argument('--epochs', type=int, default=100); ap.add_argument('--report', default='benchmarks')
    ap.add_argument('--no-heldout', action='store_true', help='skip the HER2ST held-out part')
    ap.add_argument('--no-virtual', action='store_true', help='skip the virtual-tissue part')
    ap.add_argument('--only', nargs='+', help='only the variants whose name contains one of these')
    ap.add_argument('--tag', help='the report goes to bcaf_ablation-<TAG>.json/.md (default: the --only parts)')
    a = ap.parse_args(argv)
    if a.no_virtual and a.no_heldout: ap.error('--no-virtual and --no-heldout leave nothing to run')
    variants = {k: v for k, v in VARIANTS.items() if not a.only or any(o in k for o in a.only)}
    if not variants: ap.error(f"no variant matches --only {a.only}; variants: {list(VARIANTS)}")
    out = Path(a.out)
    if not a.no_virtual:
        sample = prepare_virtual(VirtualTissue('breast_tumour', 0, (2., 2.)), out/'data'/'breast-s0-2mm', n_genes=300)
        fm = np.asarray(extract_features(sample, cache_dir=out/'data'/'breast-s0-2mm', progress=False).features, np.float32)
        hd = enhance_spots(sample.spots, sample.geometry, sample.um_per_px)
    rows, raw = [], {}
    score = lambda pred: superpixel_metrics(pred, sample.truth, sample.tissue_mask, scales=(1, 4), spearman=False, ssim=False, ceiling=False, progress=False)
    summary = lambda m: {f"{k} {s}": float(m[s][k].mean()) for s in ('8um', '32um') for k in ('pearson', 'composition')}
    for name, opts in ({} if a.no_virtual else variants).items():
        opts = dict(opts); zero = opts.pop('_zero_fusion', False)
        per_seed = []
        for seed in a.seeds:
            import contextlib
            def compute(opts=opts, zero=zero, seed=seed):
                with resource_meter() as r, (zero_fusion() if zero else contextlib.nullcontext()):
                    pred = fit_predict(sample, fm, hd, epochs=a.epochs, seed=seed, progress=False, **opts)
                plain = summary(score(pred))
                cal = summary(score(calibrate_to_spots(pred, sample.spots[:, list(pred.var_names)], sample, copy=False)))
                return dict(seed=seed, seconds=round(r['seconds'], 1), epochs=int(np.max(pred.uns['deephex']['epochs_trained'])),
                            **plain, **{f"{k} +cal": v for k, v in cal.items()})
            per_seed.append(cached(out/'results', f"virtual {name} s{seed} e{a.epochs}", compute))
            print(name, per_seed[-1], flush=True)
        raw[name] = per_seed
        mean = {k: float(np.mean([p[k] for p in per_seed])) for k in per_seed[0] if k != 'seed'}
        rows.append(dict(variant=name, **{k: mean[k] for k in ('pearson 8um', 'pearson 8um +cal', 'composition 8um', 'composition 8um +cal',
                                                               'pearson 32um', 'pearson 32um +cal', 'epochs', 'seconds')}))
    import pandas as pd
    held, held_info = ({}, None) if a.no_heldout or not default_legacy_st() else heldout_ablation(out, a.epochs, default_legacy_st(), variants, a.seeds)
    def seed_stats(runs):
        row = {k: float(np.mean([r[k] for r in runs])) for k in runs[0] if k != 'seed'}
        if len(runs) > 1: row.update({f"{k} sd": float(np.std([r[k] for r in runs], ddof=1)) for k in ('pearson', 'pearson_cal') if k in runs[0]})
        return row
    cmd = 'python benchmarks/bcaf_ablation.py ' + ' '.join(sys.argv[1:] if argv is None else argv)
    res = dict(command=cmd, created=time.strftime('%Y-%m-%dT%H:%M:%S'), git=git_commit('.'), machine=machine_info(), epochs=a.epochs,
               seeds=a.seeds, sample=None if a.no_virtual else dict(n_spots=sample.spots.n_obs, n_superpixels=int(sample.tissue_mask.sum()), n_genes=sample.spots.n_vars),
               results=raw, heldout=held, heldout_sample=held_info)
    rep = Path(a.report); rep.mkdir(parents=True, exist_ok=True)
    tag = a.tag or ('-'.join(a.only) if a.only else '')
    stem = 'bcaf_ablation' + (f"-{tag.replace(' ', '-').replace(',', '')}" if tag else '')
    (rep/f'{stem}.json').write_text(json.dumps(res, indent=1))
    (rep/f'{stem}.md').write_text('\n'.join([
        '# BCAF training ablation', '', f"Command: `{cmd}`  ", f"Commit: {res['git'].get('commit', 'unknown')}; {res['created']}  ",
        ('(virtual tissue not run: --no-virtual)' if a.no_virtual else
         f"Virtual breast tumour 2 x 2 mm (seed 0): {sample.spots.n_obs} pseudo-spots, {int(sample.tissue_mask.sum())} superpixels, "
         f"{sample.spots.n_vars} genes, handcrafted features, {a.epochs} epochs; mean over seeds {a.seeds} of the mean per-gene score."), '',
        (_md(pd.DataFrame(rows)) if rows else ''), ''] + ([
        '## HER2ST B4, held-out spots', '',
        f"{held_info['n_heldout']} of {held_info['n_spots']} spots held out (checkerboard), {held_info['n_genes']} genes, handcrafted features, "
        f"{a.epochs} epochs, training seeds {a.seeds}: mean per-gene Pearson across held-out spots, as trained and calibrated to the "
        "training spots; mean (and standard deviation) over the seeds.", '',
        _md(pd.DataFrame([dict(variant=k, **seed_stats(v)) for k, v in held.items()])), ''] if held else [])))
    print((rep/f'{stem}.md').read_text())

if __name__ == '__main__': main()
