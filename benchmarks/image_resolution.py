"""What the Space Ranger hires PNG costs when it stands in for the microscope image (Visium outs/ without the image).

Run from the repository root (after `make setup`):

    .venv/bin/python benchmarks/image_resolution.py [--out runs/image_resolution] [--data runs/benchmark/data]
                                                    [--tissues breast_tumour lymph_node colon] [--hires-um 4]

Each virtual tissue (deephex.simulate, seed 0, 2 x 2 mm, the benchmark's 300 HVGs and pseudo-Visium spots; simulated
once and shared with `deephex benchmark` through --data) is written in Space Ranger's Visium layout (`write_visium`)
with a hires PNG of --hires-um µm per pixel (a 2000 px hires PNG of a real capture has ~3-5 µm pixels), and the
full-resolution image (0.27 µm pixels) kept outside `outs/`. `deephex run` (CLI defaults, --genes 300) runs twice on
it: with `--image` the full-resolution image, and without it (the reader falls back to the hires PNG and warns). Both
predictions are scored against the true 8 µm bins: mean per-gene Pearson at 8 and 32 µm and the composition score
(`deephex.evaluate.evaluate`), beside each run's held-out-spot check (`heldout.md`).

Results (resumable: one JSON per cell under OUT/results) go to benchmarks/image_resolution.json and .md with the command.
"""
import argparse, ast, json, shutil, subprocess, sys, warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from deephex.benchmark import VirtualTissue, prepare_virtual, _md
from deephex.evaluate import evaluate
from deephex.io import write_visium
from result_cache import cached, provenance, write_report


def write_outs(sample, folder:Path, hires_um:float)->tuple:
    "The sample as Space Ranger Visium output with a hires PNG of `hires_um` µm pixels; the full-resolution image outside outs/."
    outs, full = folder/'outs', folder/'image'/'tissue_image.tif'
    if not (outs/'spatial'/'scalefactors_json.json').is_file() or not full.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        longest = max(sample.image.shape)
        write_visium(sample, outs, hires=int(round(longest*sample.um_per_px/hires_um)))
        full.parent.mkdir(parents=True, exist_ok=True)
        (outs/'tissue_image.tif').rename(full)                   # not in outs/ nor beside it: the reader cannot find it
    return outs, full


def run_and_score(outs:Path, image:Path|None, um_per_px:float, run_dir:Path, sample)->dict:
    "`deephex run` with CLI defaults (300 genes), then the prediction against the true bins."
    cmd = ['deephex', 'run', '--input', f"visium:{outs}", '--um-per-px', f"{um_per_px:g}", '--genes', '300', '--out', str(run_dir),
           '--quiet', '--no-figures'] + (['--image', str(image)] if image is not None else [])
    p = subprocess.run([str(Path(sys.executable).parent/cmd[0])] + cmd[1:], capture_output=True, text=True)   # resumes a finished run
    if p.returncode: raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    pred = ad.read_h5ad(run_dir/'prediction.h5ad')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        m = evaluate(pred, sample, spearman=False, ssim=False, ceiling=False, progress=False)
    s = {sc: m['scales'][sc]['summary']['all'] for sc in ('8um', '32um')}
    fusion = pred.uns['deephex']['fusion']
    hp = dict(fusion['heldout_pearson'])
    used = json.loads((run_dir/'sample'/'sample.json').read_text())
    files, layout = (ast.literal_eval(v) if isinstance(v, str) else v for v in (used['source']['files'], used['source']['layout']))
    return dict(pearson_8um=s['8um']['pearson']['mean'], composition_8um=s['8um']['composition']['mean'], pearson_32um=s['32um']['pearson']['mean'],
                heldout_deephex=float(hp['deephex']), heldout_idw=float(hp['idw']), route_weight=float(fusion['route_weight']),
                image_um_per_px=float(layout['image_um_per_px']), image=str(files['image']), command=' '.join(cmd))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='runs/image_resolution')
    ap.add_argument('--data', default='runs/benchmark/data', help="where the virtual tissues are simulated (shared with deephex benchmark)")
    ap.add_argument('--tissues', nargs='+', default=['breast_tumour', 'lymph_node', 'colon'])
    ap.add_argument('--hires-um', type=float, default=4.)
    ap.add_argument('--tag', default='')
    a = ap.parse_args()
    prov = provenance('image_resolution.py', sys.argv[1:], dict(hires_um=a.hires_um))
    out, data = Path(a.out), Path(a.data)
    res = {}
    for t in a.tissues:
        vt = VirtualTissue(t, 0)
        sample = prepare_virtual(vt, data/vt.name, 300, progress=False)
        outs, full = write_outs(sample, out/vt.name, a.hires_um)
        for label, image in (('full-resolution image (--image)', full), (f'hires PNG only ({a.hires_um:g} µm pixels)', None)):
            key = f"{vt.name}-{'full' if image is not None else 'hires'}-{a.hires_um:g}"
            r = cached(out/'results', key, lambda: run_and_score(outs, image, sample.um_per_px, out/'runs'/key, sample))
            res[f"{vt.name} | {label}"] = r
            print(key, json.dumps({k: v for k, v in r.items() if k != 'command'}), flush=True)
    rows = []
    for k, r in res.items():
        name, label = k.split(' | ')
        rows.append(dict(tissue=name, image=label, **{c: r[c] for c in ('pearson_8um', 'composition_8um', 'pearson_32um', 'heldout_deephex',
                                                                          'heldout_idw', 'route_weight', 'image_um_per_px')}))
    df = pd.DataFrame(rows)
    mean = df.groupby('image', sort=False)[['pearson_8um', 'composition_8um', 'pearson_32um', 'heldout_deephex', 'heldout_idw']].mean().reset_index()
    body = ("Virtual tissues (seed 0, 2 x 2 mm, 300 genes) written as Space Ranger Visium output; `deephex run` at its defaults with the "
            "full-resolution image and with the hires PNG alone (what the reader falls back to when the microscope image is not found). "
            "Scores against the true bins; held-out: the run's own check (`heldout.md`, mean per-gene Pearson across ~35 held-out spots). "
            "The commands are in the JSON.\n\n## Mean over the tissues\n\n" + _md(mean) + "\n\n## Every tissue\n\n" + _md(df) + "\n")
    md = write_report('image_resolution', a.tag, prov, res, "The hires PNG in place of the microscope image", body)
    print(md)


if __name__ == '__main__': main()
