"""Several sections, one model (issue 16, item 3): sections of one virtual tissue trained together by
`deephex.sections.fit_sections` (what `deephex run --input A --input B` runs), beside each trained alone.

Run from the repository root (after `make setup`):

    .venv/bin/python benchmarks/sections.py [--out runs/sections] [--tissues breast_tumour lymph_node colon] [--seeds 0 1] [--quiet]

Virtual tissues (deephex.simulate, 2 x 2 mm, handcrafted features): the sections are the simulation seeds of one tissue
kind (the same cell types and expression programmes, other layouts), read with the 300 HVGs of the first (as a user's
serial sections share a panel). On each section: interpolation of its spots (no model), the default model (`deephex
run`'s settings) trained on it alone, and the default model trained on every section together; mean per-gene Pearson at
8 and 32 µm and the composition score against the true bins, and each fit's wall seconds (a joint fit is counted once,
on the first section's row).

Results (resumable: one JSON per cell under OUT/results) go to benchmarks/sections.json and .md with the command.
"""
import argparse, json, sys, warnings
from pathlib import Path

import numpy as np

from deephex.benchmark import VirtualTissue, prepare_virtual, _md
from deephex.core import resource_meter
from deephex.enhance import enhance_spots
from deephex.evaluate import predict_interpolation, superpixel_metrics
from deephex.features import extract_features
from deephex.fusion import fit_model
from deephex.pipeline import prepare_sample
from deephex.sections import fit_sections
from deephex.settings import ReadSettings, TrainSettings
from result_cache import cached, provenance, write_report


def score(pred, s)->dict:
    m = superpixel_metrics(pred, s.truth[:, list(pred.var_names)], s.tissue_mask, scales=(1, 4), spearman=False, ssim=False, ceiling=False, progress=False)
    return {f"{k} {sc}": float(np.nanmean(m[sc][k])) for sc in ('8um', '32um') for k in ('pearson', 'composition')}


def tissue(out:Path, data:Path, kind:str, seeds:list, base:TrainSettings, progress:bool)->dict:
    secs, genes = [], None
    for seed in seeds:
        vt = VirtualTissue(kind, seed)
        s = prepare_virtual(vt, data/vt.name, 300, progress)              # simulated once (shared with deephex benchmark), 300 HVGs
        if genes is not None:                                            # the other sections: the first's genes
            s = prepare_sample(ReadSettings(input_format='visium_hd', input_path=str(data/vt.name/'visium_hd')), genes=genes)
        genes = list(s.spots.var_names)
        fm = extract_features(s, encoder='handcrafted', device='cpu', cache_dir=out/vt.name, progress=progress)
        secs.append((f"s{seed}", s.replace(name=f"s{seed}"), np.asarray(fm.features, np.float32)))
    res, tag = {}, '+'.join(n for n, _, _ in secs)
    for n, s, f in secs:
        res[f"{kind} {n} | interpolation of its spots"] = cached(out/'results', f"{kind}-{n}-interpolation",
                                                                lambda: score(predict_interpolation(s.spots, s, s.tissue_mask), s))
        res[f"{kind} {n} | deephex trained on it alone"] = cached(out/'results', f"{kind}-{n}-alone",
            lambda: score(fit_model(s, f, enhance_spots(s.spots, s.geometry, s.um_per_px), base, progress=False, encoder='handcrafted'), s))
    def joint():
        with resource_meter() as r:
            preds = fit_sections([s for _, s, _ in secs], [f for _, _, f in secs], base, progress=False, encoder='handcrafted')
        return {n: dict(score(p, s), route_weight=p.uns['deephex']['fusion']['route_weight'], fit_seconds=round(r['seconds'], 1))
                for (n, s, _), p in zip(secs, preds)}
    both = cached(out/'results', f"{kind}-{tag}-joint", joint)
    for i, (n, _, _) in enumerate(secs):
        r = dict(both[n]); r['seconds'] = r.pop('fit_seconds') if i == 0 else None   # one fit, on the first section's row
        res[f"{kind} {n} | deephex trained on {tag} together"] = r
    for k, v in res.items():
        if k.startswith(kind): print(k, json.dumps(v), flush=True)
    return res


def report(res:dict)->str:
    import pandas as pd
    cols = ('pearson 8um', 'composition 8um', 'pearson 32um')
    rows = [dict(section=k.split(' | ')[0], method=k.split(' | ')[1], **{c: v.get(c) for c in cols}, seconds=v.get('seconds')) for k, v in res.items()]
    df = pd.DataFrame(rows)
    df['method'] = df['method'].str.replace(r'trained on s[\d+s]+ together', 'trained on the sections together', regex=True)
    mean = df.groupby('method', sort=False)[list(cols)].agg(['mean', 'std']).round(3)
    mean.columns = [f"{a} {b}" for a, b in mean.columns]
    return "\n".join(["## Each section (mean per-gene scores against the true bins)", "", _md(df), "",
                      "## Mean (and sd) over the sections", "", _md(mean.reset_index()), ""])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='runs/sections')
    ap.add_argument('--data', default='runs/benchmark/data', help="where the virtual tissues are simulated (shared with deephex benchmark)")
    ap.add_argument('--tissues', nargs='+', default=['breast_tumour', 'lymph_node', 'colon'])
    ap.add_argument('--seeds', nargs='+', type=int, default=[0, 1], help="simulation seeds: the sections of each tissue kind")
    ap.add_argument('--tag', default=''); ap.add_argument('--quiet', action='store_true')
    a = ap.parse_args()
    warnings.filterwarnings('ignore')
    out = Path(a.out); (out/'results').mkdir(parents=True, exist_ok=True)
    base = TrainSettings()
    prov = provenance('sections.py', sys.argv[1:], base.key())
    res = {}
    for kind in a.tissues: res.update(tissue(out, Path(a.data), kind, a.seeds, base, not a.quiet))
    print(write_report('sections', a.tag, prov, res, 'Several sections, one model', report(res)))

if __name__ == '__main__': main()
