"""Ensemble states spread over processes with torch.distributed give the same prediction as one process.

Two CPU processes (gloo, `torchrun --nproc_per_node 2`) each train one of two states on tiny data;
rank 0 waits at the barrier, loads both states and predicts. The result must equal that of a single
process training both states itself.
"""
import json, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

WORKER = r'''
import json, os, sys
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, {tests!r})
from test_train_distributed import make_inputs
from deephex.train import fit_predict

out = Path(sys.argv[1])
sample, fmap, hd = make_inputs()
trained = set()
ad = fit_predict(sample, fmap, hd, epochs=3, n_states=2, out_dir=out, lr=1e-3, progress=False,
                 embed_dim=16, n_heads=2, hidden=(32, 32), callback=lambda state, epoch, hist: trained.add(state))
rank = int(os.environ.get('RANK', 0))
(out/f'trained_by_rank{{rank}}.json').write_text(json.dumps(sorted(trained)))
if ad is not None:
    np.save(out/'X.npy', ad.X); np.save(out/'embedding.npy', ad.obsm['X_deephex'])
'''


def make_inputs(seed=0):
    "A tiny sample (no image), a random feature map on its grid, and a stand-in hd (spots + midpoints)."
    from anndata import AnnData
    from scipy.spatial import cKDTree
    from deephex.core import Geometry, Sample, lattice_positions
    rng = np.random.default_rng(seed)
    pos = lattice_positions(400, 400, 100., 'hex', origin_um=(40., 40.))
    spots = AnnData(rng.poisson(5, (len(pos), 6)).astype(np.float32))
    spots.obs_names = [f"s{i}" for i in range(len(pos))]
    spots.var_names = [f"g{i}" for i in range(6)]
    spots.obsm['spatial'] = pos[['x_um', 'y_um']].to_numpy()          # 1 µm per px
    sample = Sample(spots, 1.0, Geometry.visium(), name='tiny')
    R, C = sample.grid.shape
    rr, cc = np.mgrid[:R, :C]
    tissue = ((rr - R/2)/(0.55*R))**2 + ((cc - C/2)/(0.55*C))**2 <= 1
    fmap = rng.normal(size=(R, C, 5)).astype(np.float32)
    fmap[~tissue] = 0
    sample = sample.replace(tissue_mask=tissue)
    xy, X = spots.obsm['spatial'], spots.X
    pairs = cKDTree(xy).query_pairs(110., output_type='ndarray')
    hd = AnnData(np.concatenate([X, (X[pairs[:, 0]] + X[pairs[:, 1]])/2]))
    hd.var_names = spots.var_names
    hd.obsm['spatial'] = np.concatenate([xy, (xy[pairs[:, 0]] + xy[pairs[:, 1]])/2])
    return sample, fmap, hd


def _run(args, out, extra_env=None):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
    for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'): env.pop(k, None)
    env.update(extra_env or {})
    r = subprocess.run([sys.executable, *args, str(out)], env=env, cwd=str(out.parent), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{args} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"


def test_two_processes_match_one(tmp_path):
    pytest.importorskip('torch.distributed')
    import torch.distributed as dist
    if not dist.is_available() or not dist.is_gloo_available(): pytest.skip("torch built without gloo")
    worker = tmp_path/'worker.py'
    worker.write_text(WORKER.format(tests=str(ROOT/'tests')))
    single, multi = tmp_path/'single', tmp_path/'multi'
    single.mkdir(); multi.mkdir()
    _run([str(worker)], single)
    _run(['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', str(worker)], multi)
    # each rank trained its own state, rank 0 alone predicted
    assert json.loads((multi/'trained_by_rank0.json').read_text()) == [0]
    assert json.loads((multi/'trained_by_rank1.json').read_text()) == [1]
    assert json.loads((single/'trained_by_rank0.json').read_text()) == [0, 1]
    assert sorted(os.listdir(multi/'states')) == ['00', '01']
    assert (multi/'prediction.h5ad').exists()
    # ...and the result is the single-process one
    np.testing.assert_array_equal(np.load(multi/'X.npy'), np.load(single/'X.npy'))
    np.testing.assert_array_equal(np.load(multi/'embedding.npy'), np.load(single/'embedding.npy'))
