"Downstream analysis (deephex.analysis) on small synthetic predictions: keys, determinism, planted structure, files."
import warnings
from pathlib import Path

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import anndata as ad
from sklearn.metrics import adjusted_rand_score

from deephex.core import InputError
from deephex.evaluate import superpixel_anndata
from deephex import analysis as dx
from deephex.celltypes import plot_cell_types
from deephex.communication import plot_communication


@pytest.fixture(scope='module')
def synthetic():
    "A small synthetic prediction (4k superpixels) and its Sample (pseudo-spots, truth)."
    return dx.synthetic_prediction(shape=(56, 70), embed_dim=32, seed=0)


@pytest.fixture
def pred(synthetic):
    return synthetic[0].copy()


def test_packaged_lr_table_is_readable():
    lr = dx.lr_pairs()
    assert len(lr) >= 50 and {'ligand', 'receptor', 'pathway'} <= set(lr.columns)
    assert not lr.duplicated(['ligand', 'receptor']).any()
    assert {('CXCL12', 'CXCR4'), ('CD274', 'PDCD1'), ('SPP1', 'CD44'), ('CSF1', 'CSF1R'), ('TGFB1', 'TGFBR2'), ('VEGFA', 'KDR')} \
        <= set(zip(lr.ligand, lr.receptor))
    assert (lr.ligand.str.upper() == lr.ligand).all()          # human symbols


def test_lr_table_from_file_and_squidpy_format(tmp_path):
    f = tmp_path/'pairs.tsv'
    pd.DataFrame(dict(source=['SPP1', 'CXCL12'], target=['CD44', 'CXCR4'])).to_csv(f, sep='\t', index=False)
    t = dx.lr_pairs(f)
    assert list(zip(t.ligand, t.receptor)) == [('SPP1', 'CD44'), ('CXCL12', 'CXCR4')]
    with pytest.raises(InputError, match='file not found'): dx.lr_pairs(tmp_path/'missing.csv')


def test_domains_recover_planted_structure_and_are_seeded(pred):
    dx.domains(pred, n_domains=5, smooth=2, seed=1)
    first = pred.obs['deephex_domain'].copy()
    assert adjusted_rand_score(pred.obs.true_domain, first) > 0.8
    dx.domains(pred, n_domains=5, smooth=2, seed=1)
    assert (pred.obs['deephex_domain'] == first).all()
    assert pred.uns['deephex_domain']['n_domains'] == 5
    dx.domains(pred, n_domains=3, key_added='coarse')
    assert 'coarse' in pred.obs and pred.obs['coarse'].nunique() == 3


def test_smoothing_helps_noisy_embedding():
    p, _ = dx.synthetic_prediction(shape=(56, 70), embed_dim=512, embed_noise=8, seed=1)
    raw = adjusted_rand_score(p.obs.true_domain, dx.domains(p, n_domains=5, use_rep='X_deephex', smooth=0).obs.deephex_domain)
    smooth = adjusted_rand_score(p.obs.true_domain, dx.domains(p, n_domains=5, use_rep='X_deephex', smooth=2).obs.deephex_domain)
    assert smooth > raw + 0.1 and smooth > 0.8


def test_leiden_without_igraph_says_how_to_fix(pred):
    try: import igraph  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match='igraph'): dx.domains(pred, method='leiden')
    else: assert dx.domains(pred, method='leiden', resolution=0.5).obs['deephex_domain'].nunique() >= 2


def test_moran_smooth_pattern_beats_noise():
    rng = np.random.default_rng(0)
    from scipy import ndimage
    H, W = 30, 40
    f = ndimage.gaussian_filter(rng.standard_normal((H, W)), 3).ravel()
    a = superpixel_anndata(np.stack([f - f.min() + 1, rng.random(H*W) + 1], 1).astype(np.float32), np.argwhere(np.ones((H, W), bool)), ['SMOOTH', 'NOISE'])
    df = dx.spatially_variable_genes(a, normalize=False, progress=False)
    assert df.index[0] == 'SMOOTH' and df.loc['SMOOTH', 'I'] > 0.8 and abs(df.loc['NOISE', 'I']) < 0.1
    assert 'moranI' in a.uns and 'spatial_connectivities' in a.obsp


def test_planted_lr_pair_ranks_above_random_pairs(pred):
    rng = np.random.default_rng(0)
    decoys = [tuple(rng.choice(pred.var_names, 2, replace=False)) for _ in range(20)]
    df = dx.ligand_receptor(pred, [('SPP1', 'CD44')] + decoys, n_perms=100, seed=0, progress=False)
    assert df.index[0] == 'SPP1:CD44'
    assert df.equals(dx.ligand_receptor(pred, [('SPP1', 'CD44')] + decoys, n_perms=100, seed=0, progress=False))
    assert {'score', 'zscore', 'pval', 'pval_fdr', 'n_edges'} <= set(pred.uns['deephex_ccc'].columns)


def test_region_split_respects_distances(pred):
    dx.tumour_regions(pred, 'breast', edge_um=24, inside_um=8)
    reg, d = pred.obs['deephex_region'], pred.obs['deephex_region_distance_um']
    assert list(reg.cat.categories) == ['healthy', 'tumour-edge', 'tumour']
    assert (d[reg == 'healthy'] > 24).all()
    assert d[reg == 'tumour-edge'].between(-8, 24).all()
    assert (d[reg == 'tumour'] < -8).all()
    thr = pred.uns['deephex_region']['threshold']
    kept = dx.tumour_regions(pred.copy(), 'breast', edge_um=24, inside_um=8, max_hole_um2=0).obs['deephex_region_distance_um']
    assert (pred.obs['deephex_tumour_score'][kept < 0] > thr).all()          # tumour: above the threshold,
    assert (pred.obs['deephex_tumour_score'][(d < 0) & (kept >= 0)] <= thr).all()   # or a pocket it encloses
    t = dx.region_test(pred)
    assert len(t) == 3 and (t.pval < 1e-3).all()


def test_plots_return_axes_headless(pred, synthetic):
    _, sample = synthetic
    dx.analyse(pred, n_domains=5, spots=sample, n_perms=20, progress=False)
    for ax in (dx.plot_domains(pred), dx.plot_tumour_regions(pred), dx.plot_region_test(pred, 'CD44'),
               dx.plot_spatially_variable_genes(pred), dx.plot_pattern_enhancement(pred),
               plot_communication(pred.uns['deephex_niche']), plot_communication(pred.uns['deephex_ligrec'], title='ligrec'),
               plot_cell_types(pred), dx.plot_interaction_map(pred, 'SPP1:CD44')):
        assert isinstance(ax, matplotlib.axes.Axes)
    for fig in (dx.plot_genes(pred, ['ERBB2', 'SPP1'], truth=sample.truth), dx.plot_analysis(pred)):
        assert isinstance(fig, matplotlib.figure.Figure)
    plt.close('all')


def test_analyse_prediction_writes_files(tmp_path, synthetic):
    p = synthetic[0].copy()
    p.write_h5ad(tmp_path/'prediction.h5ad')
    paths = dx.analyse_prediction(tmp_path/'prediction.h5ad', tmp_path/'out', n_domains=5, n_perms=20, progress=False)
    assert {'h5ad', 'figure', 'moranI', 'deephex_niche', 'deephex_ligrec', 'deephex_region_test', 'superpixels'} <= set(paths)
    back = ad.read_h5ad(paths['h5ad'])
    assert {'deephex_domain', 'deephex_cell_type', 'deephex_region'} <= set(back.obs) and 'moranI' in back.uns
    lr = pd.read_csv(paths['deephex_niche'])                           # the interface: one row per tested pair, decoys included
    assert {'ligand', 'receptor', 'source', 'target', 'score', 'pvalue', 'fdr', 'decoy'} <= set(lr.columns) and lr.decoy.sum() == 40
    assert len(pd.read_csv(paths['superpixels'])) == p.n_obs


def test_truth_as_stand_in_prediction(synthetic):
    "Sample.truth (counts, no embedding) falls back to PCA of expression."
    truth = synthetic[1].truth.copy()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        dx.domains(truth, n_domains=5, smooth=2)
    assert truth.uns['deephex_domain']['use_rep'] == 'expression'
    assert adjusted_rand_score(truth.obs.true_domain, truth.obs.deephex_domain) > 0.5


def test_cli_analyse_with_user_tables(tmp_path):
    "`deephex analyse PRED --markers CSV --interactions CSV`: the user's tables are the ones used, decoys ride along."
    from deephex.cli import main
    p = dx.synthetic_prediction(shape=(42, 42))[0]
    p.write_h5ad(tmp_path/'prediction.h5ad')
    (tmp_path/'markers.csv').write_text('cell_type,gene\nmacrophage,CD68\nmacrophage,CD163\nfibroblast,COL1A1\nfibroblast,DCN\n'
                                         'tumour,ERBB2\ntumour,EPCAM\n')
    (tmp_path/'lr.csv').write_text('ligand,receptor\nSPP1,CD44\n')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        main(['analyse', str(tmp_path/'prediction.h5ad'), '--out', str(tmp_path/'out'), '--markers', str(tmp_path/'markers.csv'),
              '--interactions', str(tmp_path/'lr.csv'), '--n-decoys', '5', '--n-perms', '20', '--n-domains', '4'])
    back = ad.read_h5ad(tmp_path/'out'/'analysis.h5ad')
    assert set(back.obs['deephex_cell_type'].cat.categories) == {'macrophage', 'fibroblast', 'tumour'}
    lr = pd.read_csv(tmp_path/'out'/'ligand_receptor.csv')
    assert len(lr) == 6 and lr.decoy.sum() == 5 and list(lr.loc[~lr.decoy, 'ligand']) == ['SPP1']
    assert (tmp_path/'out'/'ligrec.csv').is_file()


def test_leiden_above_scanpys_brute_force_limit():
    "More than 4096 superpixels (every real prediction): the kNN graph path that scanpy 1.11 cannot build with this scipy."
    p, _ = dx.synthetic_prediction(shape=(84, 98), embed_dim=16)
    assert p.n_obs > 4096
    dx.domains(p, method='leiden', resolution=0.1, use_rep='X_deephex')
    assert p.obs['deephex_domain'].nunique() >= 2 and adjusted_rand_score(p.obs.true_domain, p.obs.deephex_domain) > 0.6


def test_analyse_prediction_transfers_labels_to_spots(tmp_path, synthetic):
    p, sample = synthetic[0].copy(), synthetic[1]
    paths = dx.analyse_prediction(p, tmp_path/'out', spots=sample.spots, n_domains=5, n_perms=20, figure=False, progress=False)
    s = pd.read_csv(paths['spots'], index_col=0)
    assert len(s) == sample.spots.n_obs and {'deephex_region', 'deephex_region_share', 'deephex_cell_type'} <= set(s.columns)
