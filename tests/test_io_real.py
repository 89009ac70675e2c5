"Readers on the real data in ../shared/data (HER2ST B4 and the format fixtures); skipped when it is absent."
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from deephex.core import Geometry, Sample
from deephex.image import HEImage, tissue_mask_from_image
from deephex.io import read_legacy_st, read_sample, read_visium, read_visium_hd, read_xenium_cells


@pytest.fixture(scope='module')
def b4(shared_data):
    folder = shared_data/'her2st'/'B4'
    if not folder.is_dir(): pytest.skip(f"HER2ST B4 not found at {folder}")
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return read_legacy_st(folder)


def test_b4_spots_and_genes(b4):
    assert (b4.spots.n_obs, b4.spots.n_vars) == (283, 15289)
    assert {'ERBB2', 'GAPDH', 'KRT19'} <= set(b4.spots.var_names)
    X = b4.spots.X
    assert sp.issparse(X) and (X.data >= 0).all() and np.array_equal(X.data, np.round(X.data))   # raw counts
    assert b4.spots[:, 'ERBB2'].X.sum() > 100                                    # a HER2+ tumour expresses ERBB2
    assert b4.spots.obs['in_tissue'].all()


def test_b4_pixel_size_and_geometry(b4):
    assert 0.6 < b4.um_per_px < 0.75
    assert b4.geometry == Geometry.legacy_st()
    assert b4.image.shape == (9923, 9272)
    assert b4.source['format'] == 'legacy_st'


def test_b4_array_positions(b4):
    obs, xy = b4.spots.obs, b4.spots.obsm['spatial']
    assert list(obs_names := b4.spots.obs_names[:3]) == [f"{c}x{r}" for r, c in obs[['array_row', 'array_col']].to_numpy()[:3]]
    # array columns run along image x (columns), array rows along image y (rows), 200 µm apart
    assert np.corrcoef(obs['array_col'], xy[:, 0])[0, 1] > 0.99
    assert np.corrcoef(obs['array_row'], xy[:, 1])[0, 1] > 0.99
    step = np.polyfit(obs['array_col'], xy[:, 0], 1)[0]*b4.um_per_px
    assert abs(step - 200) < 5


def test_b4_spots_on_tissue(b4):
    coarse = b4.replace(geometry=Geometry.legacy_st(um_per_px=2.0))              # 32 µm superpixels: fast
    grid = coarse.grid
    tissue = tissue_mask_from_image(b4.image.analysis_image(grid), grid)
    rc = grid.to_superpixel(b4.spots.obsm['spatial'])
    on = tissue[rc[:, 0], rc[:, 1]].mean()
    assert on > 0.95, f"only {on:.0%} of spots on tissue"
    assert tissue.mean() < 0.5                                                    # and the glass is not tissue


def _fixture_samples(d):
    fx = d/'fixtures'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return dict(visium_hd=read_visium_hd(fx/'visium_hd_format', bin_size=2), visium=read_visium(fx/'visium_v1_tiny'),
                    xenium=read_xenium_cells(fx/'xenium_ncbi858'/'NCBI858.h5ad', um_per_px=0.5),
                    legacy_st=read_legacy_st(d/'her2st'/'B4') if (d/'her2st'/'B4').is_dir() else None)


def test_all_fixtures_same_sample_shape(shared_data):
    if not (shared_data/'fixtures').is_dir(): pytest.skip("fixtures absent")
    for fmt, s in _fixture_samples(shared_data).items():
        if s is None: continue
        assert isinstance(s, Sample), fmt
        assert s.source['format'] == fmt
        a = s.spots
        assert sp.isspmatrix_csr(a.X) or sp.issparse(a.X), fmt
        assert a.X.dtype == np.float32, fmt
        assert a.obsm['spatial'].shape == (a.n_obs, 2) and a.obsm['spatial'].dtype == float, fmt
        assert a.obs['in_tissue'].dtype == bool and a.obs['in_tissue'].all(), fmt
        assert 'gene_ids' in a.var and a.var_names.is_unique and a.obs_names.is_unique, fmt
        assert isinstance(s.image, HEImage) and s.um_per_px > 0, fmt
        h, w = s.image.shape
        xy = a.obsm['spatial']
        assert (xy[:, 0] >= 0).all() and (xy[:, 0] < w).all() and (xy[:, 1] >= 0).all() and (xy[:, 1] < h).all(), fmt
        assert s.grid.to_superpixel(xy).shape == (a.n_obs, 2), fmt


def test_read_sample_strings(shared_data):
    fx = shared_data/'fixtures'
    if not fx.is_dir(): pytest.skip("fixtures absent")
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert read_sample(f"visium:{fx/'visium_v1_tiny'}").spots.n_obs == 100
        assert read_sample(f"visium_hd:{fx/'visium_hd_format'/'binned_outputs'/'square_002um'}").spots.n_obs == 10
        assert read_sample(f"xenium:{fx/'xenium_ncbi858'}", um_per_px=0.5).source['swap_xy'] is True
