"End-to-end checks of the virtual tissue (`deephex.simulate`) at realistic sizes (2 x 2 mm is the default), read back through the project's Visium HD reader."
import json

import numpy as np
import pandas as pd
import pytest

from deephex.io import read_visium_hd
from deephex.simulate import simulate_tissue, DOMAINS, CELL_TYPES


@pytest.mark.slow
@pytest.mark.parametrize('tissue,size', [('breast_tumour', 2.), ('lymph_node', 1.5)])
def test_simulate_reads_back(tmp_path, tissue, size):
    out = simulate_tissue(tmp_path/'vt', size_mm=(size, size), seed=0, tissue=tissue, progress=False)
    sim = json.loads((out/'truth'/'simulation.json').read_text())
    assert 100 <= sim['median_umis_per_in_tissue_8um_bin'] <= 300          # Visium HD-like depth
    hd = read_visium_hd(out, bin_size=8)
    assert hd.spots.n_obs == sim['bins']['square_008um']['in_tissue']
    assert hd.image.shape == tuple(sim['image_shape_px'])
    X = hd.spots.X
    assert 1 - X.nnz/np.prod(X.shape) > 0.8                                # most genes are zero in most bins
    # the 8 µm truth lines up with the bins: tumour bins carry tumour UMIs
    ct = np.load(out/'truth'/'celltypes_008um.npz')
    dm = np.load(out/'truth'/'domains_008um.npy')
    rc = hd.spots.obs[['array_row', 'array_col']].to_numpy()
    share = ct['umis'][..., CELL_TYPES.index('tumour')]/np.maximum(ct['umis'].sum(-1), 1)
    in_tumour = dm[rc[:, 0], rc[:, 1]] == DOMAINS.index('tumour')
    assert in_tumour.any()
    assert share[rc[in_tumour, 0], rc[in_tumour, 1]].mean() > 0.6
    assert share[rc[~in_tumour, 0], rc[~in_tumour, 1]].mean() < 0.3
    cells = pd.read_parquet(out/'truth'/'cells.parquet')
    assert len(cells) == sim['n_cells'] > 5000
