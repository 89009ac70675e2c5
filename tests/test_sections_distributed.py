"""Several sections, one model, launched by torchrun: `deephex run --input A --input B` over two CPU processes (gloo)
writes the same predictions, bit for bit, as one process (features sharded over the ranks, the two states trained one
per rank, rank 0 writing every section's outputs)."""
import os, subprocess, sys
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cli(args, cwd, launcher=()):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
    for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'): env.pop(k, None)
    r = subprocess.run([sys.executable, *launcher, '-m', 'deephex.cli', *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{args} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"


@pytest.mark.slow
def test_sections_over_two_processes_match_one(tmp_path):
    import torch.distributed as dist
    if not dist.is_available() or not dist.is_gloo_available(): pytest.skip("torch built without gloo")
    from deephex.core import Geometry
    from deephex.io import write_legacy_st
    from deephex.train import toy_inputs
    for i in (0, 1):
        st = toy_inputs(size_um=1568, n_genes=12, geometry=Geometry.legacy_st(), seed=i)[0]
        st.spots.X = np.rint(np.asarray(st.spots.X))
        write_legacy_st(st, tmp_path/f'st{i}')
    args = ['run', '--input', 'legacy_st:st0', '--input', 'legacy_st:st1', '--epochs', '3', '--n-states', '2', '--quiet', '--no-figures']
    _cli([*args, '--out', 'single'], tmp_path)
    _cli([*args, '--out', 'multi'], tmp_path, ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2'])
    for s in ('st0', 'st1'):
        one, two = (ad.read_h5ad(tmp_path/run/s/'prediction.h5ad') for run in ('single', 'multi'))
        assert one.shape == two.shape and one.n_obs > 0
        assert np.array_equal(one.X, two.X), s
        assert one.uns['deephex']['fusion']['route_weight'] == two.uns['deephex']['fusion']['route_weight']
    assert (tmp_path/'multi'/'genes.json').read_text() == (tmp_path/'single'/'genes.json').read_text()
