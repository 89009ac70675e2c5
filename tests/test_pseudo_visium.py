"Pseudo-Visium stage on real data: HER2ST B4 held-out splits and gene selection (skips without ../shared/data)."
import warnings
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from anndata import AnnData

from deephex.pseudo_visium import holdout_split, select_genes


@pytest.fixture(scope='module')
def b4(shared_data):
    "HER2ST B4 spots under tissue: raw counts, array positions (x -> array_col, y -> array_row), pixel positions."
    d = shared_data/'her2st'/'B4'
    counts = pd.read_csv(d/'B4.tsv.gz', sep='\t', index_col=0)
    sel = pd.read_csv(d/'B4_selection.tsv', sep='\t')
    sel = sel[sel.selected == 1]
    sel.index = [f"{x}x{y}" for x, y in zip(sel.x, sel.y)]
    sel = sel.loc[sel.index.intersection(counts.index)]
    a = AnnData(sp.csr_matrix(counts.loc[sel.index].to_numpy(np.float32)))
    a.obs_names, a.var_names = sel.index, counts.columns.astype(str)
    a.var_names_make_unique()
    a.obs['array_row'], a.obs['array_col'] = sel.y.to_numpy(), sel.x.to_numpy()
    a.obsm['spatial'] = sel[['pixel_x', 'pixel_y']].to_numpy(float)
    return a


def test_holdout_checkerboard_b4(b4):
    held = holdout_split(b4, 0.25, seed=0)
    assert abs(held.mean() - 0.25) < 0.04
    assert (held == holdout_split(b4, 0.25, seed=0)).all()
    # spatially stratified: each half of the section (split at the median array row / col) loses about a quarter
    r, c = b4.obs.array_row.to_numpy(), b4.obs.array_col.to_numpy()
    for part in (r < np.median(r), r >= np.median(r), c < np.median(c), c >= np.median(c)):
        assert abs(held[part].mean() - 0.25) < 0.08
    # no two held-out spots are 4-neighbours on the square array
    key = set(zip(r[held], c[held]))
    assert not any((i + 1, j) in key or (i, j + 1) in key for i, j in key)


def test_select_genes_b4(b4):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        genes = select_genes(b4, n_top=250)
    assert len(genes) == 250 and len(set(genes)) == 250
    assert set(genes) <= set(b4.var_names)
    assert (np.asarray(b4[:, genes].X.sum(0)).ravel() > 0).all()
