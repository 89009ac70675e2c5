"""No tissue left unpredicted: the share of the true in-tissue 8 µm bins that `deephex run` predicts on spot inputs.

Run from the repository root (after `make setup`):

    .venv/bin/python benchmarks/tissue_coverage.py [--data runs/benchmark/data] [--tissues breast_tumour lymph_node colon]

Each virtual tissue (deephex.simulate, 2 x 2 mm, seed 0; simulated once and shared with `deephex benchmark`) is pooled
into pseudo-Visium spots, written as a Space Ranger Visium folder (`deephex.io.write_visium`), and read back as a user's
Visium sample would be: the truth is not visible to the reader. The prediction mask is then built as `deephex run`
builds it for spot inputs — the tissue seen in the image by the feature extractor (`FeatureMap.tissue`), united with
the area the in-tissue spots tile (`deephex.pseudo_visium.spot_coverage`) — and compared with the true in-tissue bins
(superpixels with counts in the Visium HD truth). Reported for the image mask alone, the spot area alone and their
union (the default). Writes benchmarks/tissue_coverage.{json,md}.
"""
import argparse, json, sys, tempfile, time, warnings
from pathlib import Path

import numpy as np

from deephex.benchmark import VirtualTissue, git_commit, machine_info, prepare_virtual, _md
from deephex.core import Geometry
from deephex.features import extract_features
from deephex.io import read_sample, write_visium
from deephex.pseudo_visium import simulate_pseudo_visium, spot_coverage
from deephex.runtime import write_json


def measure(vt:VirtualTissue, data:Path, progress:bool)->dict:
    prepare_virtual(vt, data/vt.name, 300, progress)                      # simulated once
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        hd = read_sample('visium_hd', data/vt.name/'visium_hd')
        ps = simulate_pseudo_visium(hd, geometry=Geometry.visium(), n_top_genes=None)
    t_rc = np.stack([ps.truth.obs['row'].to_numpy(), ps.truth.obs['col'].to_numpy()], 1)[np.asarray(ps.truth.X.sum(1)).ravel() > 0]
    with tempfile.TemporaryDirectory() as d:
        outs = write_visium(ps, Path(d)/'outs')
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            s = read_sample('visium', outs, image=str(outs/'tissue_image.tif'))
        s = s.replace(geometry=ps.geometry)                               # the analysis geometry `deephex run` uses (8 µm)
        fm = extract_features(s, encoder='handcrafted', device='cpu', progress=progress)
        image, spots = np.asarray(fm.tissue, bool), spot_coverage(s.spots, s.grid, s.geometry)
    truth = np.zeros(image.shape, bool)                                    # both grids start at the image origin, 8 µm apart
    ok = (t_rc < image.shape).all(1)
    truth[t_rc[ok, 0], t_rc[ok, 1]] = True
    row = dict(tissue=vt.tissue, seed=vt.seed, true_bins=int(truth.sum()))
    for name, m in (('image', image), ('spot area', spots), ('image or spot area (default)', image | spots)):
        row[f"{name}: true bins predicted"] = float((m & truth).sum()/truth.sum())
        row[f"{name}: predicted bins that are tissue"] = float((m & truth).sum()/max(m.sum(), 1))
    print(json.dumps(row), flush=True)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default='runs/benchmark/data')
    ap.add_argument('--tissues', nargs='+', default=['breast_tumour', 'lymph_node', 'colon'])
    ap.add_argument('--quiet', action='store_true')
    a = ap.parse_args()
    t0 = time.time(); command = 'python benchmarks/tissue_coverage.py ' + ' '.join(sys.argv[1:])
    rows = [measure(VirtualTissue(t, 0), Path(a.data), not a.quiet) for t in a.tissues]
    import pandas as pd
    write_json('benchmarks/tissue_coverage.json', dict(command=command, git=git_commit(), machine=machine_info(), rows=rows))
    md = (f"# Tissue the prediction covers (Visium spot inputs)\n\nCommand: `{command}`  \nCommit: {git_commit().get('commit')}; "
          f"{time.strftime('%Y-%m-%dT%H:%M:%S')}; {time.time() - t0:.0f} s\n\nShare of the true in-tissue 8 µm bins inside the "
          "prediction mask, and share of the mask that is true tissue, for each way of building the mask.\n\n"
          + _md(pd.DataFrame(rows).round(3)) + "\n")
    Path('benchmarks/tissue_coverage.md').write_text(md)
    print(md)

if __name__ == '__main__': main()
