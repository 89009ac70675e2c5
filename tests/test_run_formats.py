"""`deephex run` end to end on the spot formats users have (Visium, legacy ST, AnnData), through the command line.

A small virtual tissue (deephex.simulate) is pooled into pseudo-spots and written in each format with the writers of
deephex.io; `deephex run` then reads the files back, so these tests cover reader, geometry, features, the fused model,
prediction and figures on what most users hand to deephex. Small settings keep each run to seconds.
"""
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

from deephex.cli import main
from deephex.core import Geometry
from deephex.io import read_sample, write_legacy_st, write_visium
from deephex.pseudo_visium import simulate_pseudo_visium

SMALL = ['--epochs', '3', '--genes', '40', '--embed-dim', '32', '--n-heads', '4', '--hidden', '64', '64', '--quiet', '--no-figures']


@pytest.fixture(scope='module')
def virtual(tmp_path_factory):
    "A 1.2 x 1.2 mm virtual Visium HD section (seconds to simulate)."
    from deephex.simulate import simulate_tissue
    d = tmp_path_factory.mktemp('vt')/'visium_hd'
    simulate_tissue(d, size_mm=(1.2, 1.2), seed=5, progress=False)
    return d


def _pseudo(virtual, geometry):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return simulate_pseudo_visium(read_sample('visium_hd', virtual), geometry=geometry, n_top_genes=None)


def _check_run(out:Path, n_spots_min:int):
    pred = ad.read_h5ad(out/'prediction.h5ad')
    assert pred.n_obs > 100 and pred.n_vars == 40
    assert np.isfinite(pred.X).all() and (pred.X >= 0).all()
    info = pred.uns['deephex']
    assert info['model'] == 'deephex' and 0 <= info['fusion']['route_weight'] <= 1
    assert info['n_spots'] >= n_spots_min
    assert (out/'run.json').is_file() and (out/'model').is_dir()
    return pred


def test_run_visium(virtual, tmp_path):
    outs = write_visium(_pseudo(virtual, Geometry.visium()), tmp_path/'outs')
    rc = main(['run', '--input', f"visium:{outs}", '--image', str(outs/'tissue_image.tif'), '--out', str(tmp_path/'run'), *SMALL])
    assert rc == 0
    pred = _check_run(tmp_path/'run', 50)
    assert abs(pred.uns['deephex']['um_per_px'] - 0.2738) < 0.01           # the scale fitted from the lattice


def test_run_legacy_st(virtual, tmp_path):
    folder = write_legacy_st(_pseudo(virtual, Geometry.legacy_st()), tmp_path/'st')
    assert main(['run', '--input', f"legacy_st:{folder}", '--out', str(tmp_path/'run'), *SMALL]) == 0
    pred = _check_run(tmp_path/'run', 10)
    assert pred.uns['deephex']['geometry']['lattice'] == 'square'


def test_run_anndata_and_rerun_skips(virtual, tmp_path):
    s = _pseudo(virtual, Geometry.visium())
    a = s.spots.copy()
    a.uns['spatial'] = {'vt': dict(scalefactors=dict(tissue_hires_scalef=1., microns_per_pixel=s.um_per_px), images=dict(hires=np.asarray(s.image.read())))}
    a.write_h5ad(tmp_path/'spots.h5ad')
    args = ['run', '--input', f"anndata:{tmp_path/'spots.h5ad'}", '--out', str(tmp_path/'run'), *SMALL]
    assert main(args) == 0
    _check_run(tmp_path/'run', 50)
    first = (tmp_path/'run'/'prediction.h5ad').stat().st_mtime_ns
    assert main(args) == 0                                                  # the same command: every step is found finished
    assert (tmp_path/'run'/'prediction.h5ad').stat().st_mtime_ns == first


def test_token_never_written(virtual, tmp_path, monkeypatch):
    "A Hugging Face token from the environment or a YAML `histology.login` never reaches a file deephex writes."
    token = 'hf_' + 'NotARealTokenButUniqueEnough1234'        # built here, so no token-shaped string sits in the source
    monkeypatch.setenv('HF_TOKEN', token)
    outs = write_visium(_pseudo(virtual, Geometry.visium()), tmp_path/'outs')
    cfg = tmp_path/'run.yaml'
    cfg.write_text(f"input:\n  format: visium\n  path: {outs}\n  image: {outs/'tissue_image.tif'}\nhistology:\n  login: {token}\n"
                   f"output:\n  dir: {tmp_path/'run'}\n  figures: true\n")
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert main(['run', '--config', str(cfg), *[a for a in SMALL if a != '--no-figures']]) == 0
    written = [p for p in (tmp_path/'run').rglob('*') if p.is_file()]
    assert len(written) > 5
    for p in written: assert token.encode() not in p.read_bytes(), p


def test_features_cli_takes_image_and_pixel_size(virtual, tmp_path):
    "`deephex features` reads inputs that do not carry their image scale: --um-per-px (and --image) as for run."
    s = _pseudo(virtual, Geometry.visium())
    a = s.spots.copy()
    a.uns['spatial'] = {'vt': dict(scalefactors=dict(tissue_hires_scalef=1.), images=dict(hires=np.asarray(s.image.read())))}
    a.write_h5ad(tmp_path/'spots.h5ad')
    args = ['features', '--input', f"anndata:{tmp_path/'spots.h5ad'}", '--out', str(tmp_path/'f')]
    assert main([*args, '--um-per-px', str(s.um_per_px)]) == 0
    assert (tmp_path/'f'/'features'/'handcrafted'/'feature_map.npy').is_file()
