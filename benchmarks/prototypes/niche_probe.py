"""Does the niche response's radius (or the number of sender/receiver types tried) decide how much of the planted
communication it finds on a prediction, without calling more decoys on the true counts? (issue 15)

Run from the repository root after `python benchmarks/biology.py` has saved the benchmark's virtual predictions:
    .venv/bin/python benchmarks/prototypes/niche_probe.py [NAME ...]   (-> niche_probe.log)
Per dataset, source (true 8 µm counts, deephex) and setting: AUROC of the z-score, planted pairs vs the 40 decoys;
share of each at FDR < 0.05; SPP1 -> CD44 found from macrophages to tumour cells.
"""
import json, sys, warnings
from pathlib import Path
import anndata as ad, numpy as np
sys.path.insert(0, 'benchmarks')
from biology import _auroc
from deephex.analysis import truth_labels
from deephex.benchmark import saved_predictions
from deephex.celltypes import cell_types
from deephex.communication import niche_response

BENCH = Path('runs/benchmark')
SETTINGS = {'r50 (default)': dict(radius_um=50.), 'r25': dict(radius_um=25.), 'r100': dict(radius_um=100.),
            'r50 n_types 3': dict(radius_um=50., n_types=3)}
names = sys.argv[1:] or [f"virtual-{t}-s{s}-2x2mm" for t in ('breast_tumour', 'lymph_node', 'colon') for s in (0, 1, 2)]
cache = BENCH/'niche_probe'; cache.mkdir(exist_ok=True)
rows = []
for name in names:
    truth_dir = BENCH/'data'/name/'visium_hd'/'truth'
    planted = {(p['ligand'], p['receptor']) for p in json.loads((truth_dir/'genes.json').read_text())['ligand_receptor_pairs']}
    paths = dict(truth=BENCH/'data'/name/'sample-300genes'/'truth.h5ad', deephex=saved_predictions(BENCH, name)['deephex'])
    um = float(ad.read_h5ad(paths['truth'], backed='r').uns['superpixel_grid']['superpixel_um'])
    for src, p in paths.items():
        a = None
        for setting, kw in SETTINGS.items():
            f = cache/f"{name}-{src}-{setting.replace(' ', '_')}.json"
            if not f.exists():
                if a is None:
                    a = ad.read_h5ad(p); a.uns.setdefault('superpixel_grid', dict(superpixel_um=um))
                    with warnings.catch_warnings():
                        warnings.simplefilter('ignore'); cell_types(a)
                nr = niche_response(a, superpixel_um=um, progress=False, **kw)
                pl = np.array([(l, r) in planted for l, r in zip(nr['ligand'], nr['receptor'])]); dec = nr['decoy'].to_numpy(bool)
                s = nr[(nr['ligand'] == 'SPP1') & (nr['receptor'] == 'CD44')]
                res = dict(auroc=_auroc(nr['zscore'][pl], nr['zscore'][dec]), planted_sig=float((nr['fdr'][pl] < 0.05).mean()),
                           decoys_sig=float((nr['fdr'][dec] < 0.05).mean()),
                           spp1=bool(len(s) and s['source'].iloc[0] == 'macrophage' and s['target'].iloc[0] == 'tumour' and s['fdr'].iloc[0] < 0.05))
                f.write_text(json.dumps(res))
            res = json.loads(f.read_text())
            rows.append(dict(name=name, source=src, setting=setting, **res))
            print(name, src, setting, {k: round(v, 3) if isinstance(v, float) else v for k, v in res.items()}, flush=True)
import pandas as pd
df = pd.DataFrame(rows); df['tissue'] = df['name'].str.split('-').str[1]
print(df.groupby(['source', 'setting'])[['auroc', 'planted_sig', 'decoys_sig', 'spp1']].mean().round(3).to_string())
print(df.groupby(['source', 'setting', 'tissue'])[['auroc']].mean().unstack().round(3).to_string())
