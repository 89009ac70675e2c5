"""`deephex predict`: a trained model (the bundle every `deephex run` writes) applied to another section, through the
command line — with the new section's spots, and from its H&E image alone — and every mismatch refused with a clear error.

Two small virtual sections of one tissue kind (deephex.simulate, different seeds): a run on the first, then predictions
of the second. Small settings keep each step to seconds.
"""
import json
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

from deephex.bundle import load_bundle, predict_section
from deephex.cli import main
from deephex.io import read_sample

SMALL = ['--epochs', '3', '--genes', '40', '--embed-dim', '32', '--n-heads', '4', '--hidden', '64', '64', '--quiet', '--no-figures']


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "A run on one 1 x 1 mm virtual section, and a second section of the same kind."
    from deephex.simulate import simulate_tissue
    d = tmp_path_factory.mktemp('predict')
    simulate_tissue(d/'a', size_mm=(1., 1.), seed=11, progress=False)
    simulate_tissue(d/'b', size_mm=(1., 1.), seed=12, progress=False)
    assert main(['run', '--input', f"visium_hd:{d/'a'}", '--out', str(d/'run'), *SMALL]) == 0
    return d


def test_bundle_written_without_pickle(trained):
    m = trained/'run'/'model'
    assert (m/'bundle.json').is_file() and (m/'weights.safetensors').is_file()
    assert not list(m.glob('*.pt')) and not list(m.glob('*.pkl'))
    meta = json.loads((m/'bundle.json').read_text())
    assert meta['encoder'] == 'handcrafted' and meta['encoder_digest'] and len(meta['genes']) == 40
    b = load_bundle(trained/'run')                                          # the run folder works too
    assert b.genes == list(ad.read_h5ad(trained/'run'/'prediction.h5ad', backed='r').var_names)


def test_predict_with_spots(trained):
    out = trained/'with_spots'
    assert main(['predict', '--model', str(trained/'run'/'model'), '--input', f"visium_hd:{trained/'b'}", '--out', str(out), '--quiet']) == 0
    pred = ad.read_h5ad(out/'prediction.h5ad')
    assert pred.n_vars == 40 and pred.n_obs > 1000 and np.isfinite(pred.X).all() and (pred.X >= 0).all()
    assert pred.uns['deephex']['route'] == 'with spots'
    m = json.loads((out/'metrics.json').read_text())                        # the new section has a truth: scored as a run is
    assert m['summary'][0]['method'] == 'deephex'


def test_reloaded_bundle_reproduces_the_run(trained):
    "On its own section, the reloaded model predicts what the run predicted (same code path, CPU)."
    from deephex.pipeline import load_sample
    from deephex.features import load_feature_map
    s = load_sample(trained/'run'/'sample')
    fm = load_feature_map(trained/'run'/'features'/'handcrafted', mmap=False)
    again = predict_section(load_bundle(trained/'run'), s, fm.features, progress=False)
    run_pred = ad.read_h5ad(trained/'run'/'prediction.h5ad')
    assert list(again.obs_names) == list(run_pred.obs_names)
    np.testing.assert_allclose(again.X, run_pred.X, rtol=1e-4, atol=1e-6)


def test_predict_from_he_only(trained):
    vt = read_sample('visium_hd', trained/'b')
    out = trained/'he_only'
    assert main(['predict', '--model', str(trained/'run'), '--image', str(vt.image.path), '--um-per-px', str(vt.um_per_px),
                 '--out', str(out), '--quiet']) == 0
    pred = ad.read_h5ad(out/'prediction.h5ad')
    assert pred.n_vars == 40 and pred.n_obs > 1000 and (pred.X >= 0).all()
    assert 'H&E only' in pred.uns['deephex']['route']


@pytest.mark.parametrize('args, message', [
    (['--image', 'IMAGE'], 'pixel size'),                                               # an image alone needs --um-per-px
    ([], 'nothing to predict'),
    (['--input', 'visium_hd:B', '--out-exists'], 'already holds a prediction'),         # nothing is overwritten
    (['--input', 'visium_hd:B', '--layout-other'], 'spot pitch'),                       # another spot layout than the model's
])
def test_predict_refuses(trained, tmp_path, capsys, args, message):
    vt_image = str(read_sample('visium_hd', trained/'b').image.path)
    model, out = str(trained/'run'/'model'), tmp_path/'out'
    args = [a.replace('IMAGE', vt_image).replace(':B', f":{trained/'b'}") for a in args]
    if '--out-exists' in args:
        args.remove('--out-exists'); out = trained/'with_spots'
    if '--layout-other' in args:                                         # a copy of the bundle trained on a 200 µm lattice
        args.remove('--layout-other')
        import shutil
        shutil.copytree(trained/'run'/'model', tmp_path/'m', ignore=shutil.ignore_patterns('deephex-*'))
        meta = json.loads((tmp_path/'m'/'bundle.json').read_text()); meta['geometry']['spot_pitch_um'] = 200.
        (tmp_path/'m'/'bundle.json').write_text(json.dumps(meta)); model = str(tmp_path/'m')
    rc = main(['predict', '--model', model, '--out', str(out), '--quiet', *args])
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()                                              # the problem on one line, then how to fix it
    assert rc == 2 and message in lines[0] and 'Traceback' not in err and lines[-1].strip().startswith('How to fix'), err


def test_predict_refuses_missing_model(tmp_path, capsys):
    assert main(['predict', '--model', str(tmp_path), '--image', 'x.tif', '--um-per-px', '0.5', '--out', str(tmp_path/'o')]) == 2
    assert 'no bundle.json' in capsys.readouterr().err
