"Enhancement on real spot positions: HER2ST B4, a legacy ST square array (skips without ../shared/data)."
import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from scipy.spatial import cKDTree

from deephex.core import Geometry
from deephex.enhance import enhance_spots, median_spacing


@pytest.fixture(scope='module')
def b4_spots(shared_data):
    sel = pd.read_csv(shared_data/'her2st'/'B4'/'B4_selection.tsv', sep='\t')
    sel = sel[sel.selected == 1].reset_index(drop=True)
    xy = sel[['pixel_x', 'pixel_y']].to_numpy(float)
    a = AnnData(np.stack([xy[:, 0]*0.01, xy[:, 1]*0.02 + 1], 1).astype(np.float32))   # linear in position
    a.obs_names = [f"{x}x{y}" for x, y in zip(sel.x, sel.y)]
    a.obs['array_row'], a.obs['array_col'] = sel.y.to_numpy(), sel.x.to_numpy()
    a.obsm['spatial'] = xy
    um_per_px = 200/median_spacing(xy)               # the image scale is not shipped: estimate it from the 200 µm pitch
    return a, um_per_px


def test_enhance_b4(b4_spots):
    a, um_per_px = b4_spots
    assert 0.5 < um_per_px < 0.8
    hd = enhance_spots(a, Geometry.legacy_st(), um_per_px)
    assert hd.uns['enhance']['neighbours'] == 'array'
    assert 3 < hd.n_obs/a.n_obs < 4
    assert hd.obs.is_spot.sum() == a.n_obs
    # interpolated points lie between real spots: within about half a cell diagonal of one (the printed array is not
    # perfectly regular: neighbour spacings range over ~270-320 px)
    d, _ = cKDTree(a.obsm['spatial']).query(hd.obsm['spatial'])
    assert d.max() < 0.9*median_spacing(a.obsm['spatial'])
    assert np.median(d[~hd.obs.is_spot.to_numpy()]) < 0.6*median_spacing(a.obsm['spatial'])
    # on a linear field, interpolation is exact up to the array's registration jitter (< 5 % of a pitch)
    truth = np.stack([hd.obsm['spatial'][:, 0]*0.01, hd.obsm['spatial'][:, 1]*0.02 + 1], 1)
    assert np.abs(hd.X - truth).max() < 0.05*median_spacing(a.obsm['spatial'])*0.02
    # neighbours from positions find nearly the same points as neighbours from array indices, despite the
    # irregular spacing of the printed array
    b = a.copy(); del b.obs['array_row'], b.obs['array_col']
    hd_pos = enhance_spots(b, Geometry.legacy_st(), um_per_px)
    assert hd_pos.uns['enhance']['neighbours'] == 'position'
    assert abs(hd_pos.n_obs - hd.n_obs) <= 0.03*hd.n_obs
