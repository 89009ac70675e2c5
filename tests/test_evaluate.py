"Tests of deephex.evaluate beyond the notebook: Visium geometry, the HER2ST held-out protocol, a large capture area."
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from anndata import AnnData

from deephex.core import Geometry, SuperpixelGrid, lattice_positions
from deephex.evaluate import (superpixel_anndata, sum_over_spots, spot_consistency, predict_spot_broadcast,
                              predict_interpolation, predict_nearest_spot, predict_idw, score_heldout,
                              spot_noise_ceiling, evaluate, summary_table)


def _visium_toy(seed=0, n_genes=5):
    "Poisson truth on a 1 x 1 mm Visium-geometry grid, with pseudo-spots on the true hex lattice."
    rng = np.random.default_rng(seed)
    grid = SuperpixelGrid(0.5, (2000, 2000), Geometry.visium())            # 1 mm at 0.5 µm/px: 140 x 140 superpixels
    rr, cc = np.meshgrid(np.arange(125), np.arange(125), indexing='ij')
    rc = np.stack([rr.ravel(), cc.ravel()], 1)
    lam = rng.gamma(2, 0.5, (len(rc), 1))*(1.5 + np.sin(rc[:, :1]/9 + np.arange(n_genes)))
    truth = superpixel_anndata(sp.csr_matrix(rng.poisson(lam).astype(np.float32)), rc, [f"G{i}" for i in range(n_genes)], grid)
    pos = lattice_positions(900, 900, 100, 'hex', (50, 50))
    spots = AnnData(np.zeros((len(pos), n_genes), np.float32), var=pd.DataFrame(index=truth.var_names))
    spots.obs_names = [f"s{i}" for i in range(len(pos))]
    spots.obsm['spatial'] = pos[['x_um', 'y_um']].to_numpy()/0.5
    spots.X = np.asarray(sum_over_spots(truth, spots, grid).X.toarray(), np.float32)
    return truth, spots, grid


def test_visium_geometry_spot_broadcast_is_consistent():
    truth, spots, grid = _visium_toy()
    s = sum_over_spots(truth, spots, grid)
    assert (s.obs['n_superpixels'] == 37).all()                            # 55 µm spots: 37 superpixels each
    bc = predict_spot_broadcast(spots, grid)
    assert bc.n_obs == 37*spots.n_obs                                      # 100 µm pitch: disks do not overlap
    assert spot_consistency(bc, spots, grid)['relative_error'] < 1e-6
    ip = predict_interpolation(spots, grid)
    m = evaluate(ip, truth, spots=spots, grid=grid, n_top=3, progress=False)
    assert 0 < m['spot_consistency']['relative_error'] < 1
    assert m['info']['superpixel_um'] == 8.0 and set(m['scales']) == {'8um', '16um', '32um'}
    tab = summary_table({'interpolation': m})
    assert tab.loc[('interpolation', '32um'), 'pearson'] > tab.loc[('interpolation', '8um'), 'pearson']


def _read_b4(root):
    d = root/'her2st'/'B4'
    counts = pd.read_csv(d/'B4.tsv.gz', sep='\t', index_col=0)
    sel = pd.read_csv(d/'B4_selection.tsv', sep='\t')
    sel.index = [f"{x}x{y}" for x, y in zip(sel.x, sel.y)]
    sel = sel.loc[sel.index.intersection(counts.index)]
    counts = counts.loc[sel.index]
    a = AnnData(counts.to_numpy(np.float32), obs=pd.DataFrame(dict(ax=sel.x.to_numpy(), ay=sel.y.to_numpy()), index=sel.index),
                var=pd.DataFrame(index=counts.columns.astype(str)))
    a.var_names_make_unique()
    a.obsm['spatial'] = sel[['pixel_x', 'pixel_y']].to_numpy(float)
    return a


def test_her2st_heldout_protocol(shared_data):
    "METHOD §6 protocol on HER2ST B4: a checkerboard quarter held out, per-gene Pearson across held-out spots."
    a = _read_b4(shared_data)
    held = ((a.obs.ax % 2 == 1) & (a.obs.ay % 2 == 1)).to_numpy()         # a quarter, spatially stratified
    assert 0.2 < held.mean() < 0.3
    X = a.X
    top = a.var_names[np.argsort(-(X/X.sum(1, keepdims=True)).var(0))[:250]]   # variable in composition
    nn = score_heldout(predict_nearest_spot(a, held), a[held], genes=top)
    idw = score_heldout(predict_idw(a, held), a[held], genes=top)
    ceil = spot_noise_ceiling(a[held], genes=top)
    assert nn['n_spots'] == held.sum() and len(idw['pearson']) == 250
    assert 0.2 < nn['pearson_mean'] < idw['pearson_mean'] < ceil['bound_mean'] < 1
    try: import skmisc  # noqa: F401  scanpy's seurat_v3 needs scikit-misc
    except ImportError: return
    import scanpy as sc
    b = a.copy(); sc.pp.highly_variable_genes(b, flavor='seurat_v3', n_top_genes=250)
    hv = b.var_names[b.var.highly_variable]
    # METHOD §6: nearest training spot 0.374, IDW of 6 nearest 0.514
    assert abs(score_heldout(predict_nearest_spot(a, held), a[held], genes=hv)['pearson_mean'] - 0.374) < 0.03
    assert abs(score_heldout(predict_idw(a, held), a[held], genes=hv)['pearson_mean'] - 0.514) < 0.03


@pytest.mark.slow
def test_large_capture_area_scores_exactly():
    "A 300k-superpixel x 200-gene capture area: perfect and scaled predictions give the exact answers."
    rng = np.random.default_rng(0)
    rr, cc = np.meshgrid(np.arange(550), np.arange(550), indexing='ij')
    rc = np.stack([rr.ravel(), cc.ravel()], 1)
    T = sp.random(len(rc), 200, density=0.05, format='csr', random_state=1, data_rvs=lambda k: rng.poisson(1.5, k) + 1.)
    truth = superpixel_anndata(T.astype(np.float32), rc, [f"g{i}" for i in range(200)])
    pred = superpixel_anndata(T.toarray()*3, rc[::-1], truth.var_names)   # rows in another order, scaled
    pred.X = np.ascontiguousarray(np.asarray(pred.X)[::-1])
    m = evaluate(pred, truth, scales=(1, 4), progress=False)
    for s in ('8um', '32um'):
        summ = m['scales'][s]['summary']['all']
        for k in ('pearson', 'spearman', 'ssim', 'composition'): assert abs(summ[k]['mean'] - 1) < 1e-6, (s, k)
        assert summ['rmse']['mean'] < 1e-6
        assert 0 < summ['reliability']['mean'] < 1


def test_truth_from_visium_hd_folder(shared_data, tmp_path):
    "`deephex evaluate PRED --truth <Visium HD folder>`: bins are placed on the superpixel grid and scored."
    from deephex.evaluate import read_truth, evaluate_cli
    hd = shared_data/'fixtures'/'visium_hd_format'
    truth = read_truth(hd, bin_size=2)
    assert truth.n_obs >= 1 and {'row', 'col'} <= set(truth.obs.columns)
    pred = truth.copy(); pred.X = np.ones(truth.shape, np.float32)
    pred.write_h5ad(tmp_path/'pred.h5ad')
    m = evaluate_cli(tmp_path/'pred.h5ad', hd, tmp_path/'out', bin_size=2, ceiling=False, progress=False)
    assert (tmp_path/'out'/'metrics.json').exists()
    assert m['scales']['8um']['summary']['all']['pearson']['n'] + m['scales']['8um']['summary']['all']['pearson']['n_undefined'] == truth.n_vars
