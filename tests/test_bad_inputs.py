"""A battery of broken inputs and options, through the command line as a user meets them.

Every case must end before any expensive step with exit status 2, one message that names the problem, no traceback,
and the input files byte-identical. Inputs are small files written from the toy section of `deephex.train`
(Visium, legacy ST and AnnData layouts) and broken one way each.
"""
import contextlib, gzip, hashlib, io, json, os, shutil, warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from deephex.cli import main
from deephex.core import Geometry
from deephex.io import write_legacy_st, write_visium
from deephex.train import toy_inputs


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    "Good inputs in three layouts; each case copies what it breaks."
    d = tmp_path_factory.mktemp('good')
    vis = toy_inputs(size_um=1344, n_genes=12)[0]
    st = toy_inputs(size_um=1568, n_genes=12, geometry=Geometry.legacy_st())[0]
    for s in (vis, st): s.spots.X = np.rint(np.asarray(s.spots.X))
    write_visium(vis, d/'visium')
    write_legacy_st(st, d/'st')
    a = vis.spots.copy()
    a.uns['spatial'] = {'toy': dict(scalefactors=dict(tissue_hires_scalef=1., microns_per_pixel=1.), images=dict(hires=np.asarray(vis.image.read())))}
    a.write_h5ad(d/'spots.h5ad')
    return d


def _digest(path:Path)->str:
    h = hashlib.sha1()
    for p in sorted(Path(path).rglob('*')) if Path(path).is_dir() else [Path(path)]:
        if p.is_file(): h.update(p.name.encode()); h.update(p.read_bytes())
    return h.hexdigest()


def run_cli(*args)->tuple:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try: rc = main(list(map(str, args)))
        except SystemExit as e: rc = e.code
    return rc, out.getvalue() + err.getvalue()


def expect_error(args, contains, watched=()):
    before = [_digest(p) for p in watched]
    rc, text = run_cli(*args)
    assert rc == 2, f"exit {rc}: {text[-2000:]}"
    assert 'Traceback' not in text, text
    for c in ([contains] if isinstance(contains, str) else contains): assert c in text, f"{c!r} not in: {text[-1500:]}"
    assert [_digest(p) for p in watched] == before, "an input file changed"


def copy(src:Path, dst:Path)->Path:
    shutil.copytree(src, dst) if src.is_dir() else shutil.copy(src, dst)
    return dst


# options and configuration: refused before anything is read
OPTION_CASES = [
    (['--fusion-dropout', '1'], 'train.fusion_dropout (--fusion-dropout)'),
    (['--fusion-dropout', '-0.5'], 'train.fusion_dropout'),
    (['--lr', '-1'], 'train.lr (--lr)'),
    (['--lr', 'nan'], 'train.lr'),
    (['--seed', '-1'], 'train.seed'),
    (['--epochs', '0'], 'train.epochs'),
    (['--genes', '0'], 'input.n_genes (--genes)'),
    (['--hidden', '64', '0'], 'train.hidden'),
    (['--embed-dim', '100', '--n-heads', '8'], 'not a multiple of n_heads'),
    (['--device', 'tpu'], "unknown device 'tpu'"),
    (['--val-fraction', '0.9'], 'train.val_fraction'),
    (['--gene-token-dropout', '2'], 'train.gene_token_dropout'),
    (['--model', 'unet'], "invalid choice: 'unet'"),
    (['--preset', 'paper'], "invalid choice: 'paper'"),
    (['--route-weight', '1.5'], 'train.route_weight'),
]

@pytest.mark.parametrize('opts,msg', OPTION_CASES, ids=[' '.join(o) for o, _ in OPTION_CASES])
def test_bad_option(inputs, tmp_path, opts, msg):
    expect_error(['run', '--input', f"legacy_st:{inputs/'st'}", '--out', tmp_path/'out', *opts], msg, [inputs/'st'])
    assert not (tmp_path/'out').exists()                                            # nothing written for a bad option


def test_run_refuses_to_keep_a_gene_it_does_not_measure(inputs, tmp_path):
    expect_error(['run', '--input', f"legacy_st:{inputs/'st'}", '--out', tmp_path/'out', '--keep-genes', 'NOT_A_GENE'],
                 ['not detected in the input', 'NOT_A_GENE'], [inputs/'st'])


YAML_CASES = [
    ("train:\n  epochz: 3\n", "unknown key train.epochz (did you mean 'epochs'?)"),
    ("trian:\n  epochs: 3\n", "unknown section 'trian'"),
    ("train:\n  lr: fast\n", 'train.lr (--lr): must be a number'),
    ("train: 5\n", "section 'train' must be a mapping"),
    ("- a\n- b\n", 'expected a mapping of sections'),
    ("train: [\n", 'not valid YAML'),
    ("input:\n  format: legacy_st\n  pth: x\n", "unknown key input.pth (did you mean 'path'?)"),
]

@pytest.mark.parametrize('text,msg', YAML_CASES, ids=[m[:30] for _, m in YAML_CASES])
def test_bad_yaml(tmp_path, text, msg):
    cfg = tmp_path/'run.yaml'; cfg.write_text(text)
    expect_error(['run', '--config', cfg, '--out', tmp_path/'out'], msg, [cfg])


def test_missing_config(tmp_path):
    expect_error(['run', '--config', tmp_path/'nope.yaml'], 'config file not found')


def test_input_without_format(inputs, tmp_path):
    expect_error(['run', '--input', str(inputs/'st'), '--out', tmp_path/'o'], 'FORMAT:PATH')


def test_unknown_format(inputs, tmp_path):
    expect_error(['run', '--input', f"slideseq:{inputs/'st'}", '--out', tmp_path/'o'], "input.format: must be one of")


def test_missing_input(tmp_path):
    expect_error(['run', '--input', f"legacy_st:{tmp_path/'nowhere'}", '--out', tmp_path/'o'], 'nowhere')


def test_out_is_a_file(inputs, tmp_path):
    f = tmp_path/'out.txt'; f.write_text('keep me')
    expect_error(['run', '--input', f"legacy_st:{inputs/'st'}", '--out', f], 'not a folder', [inputs/'st', f])


def test_out_inside_input(inputs, tmp_path):
    st = copy(inputs/'st', tmp_path/'st')
    expect_error(['run', '--input', f"legacy_st:{st}", '--out', st/'results'], 'inside the input folder', [st])
    assert not (st/'results').exists()


def test_out_held_by_another_run(inputs, tmp_path):
    out = tmp_path/'out'; out.mkdir()
    import socket
    (out/'.deephex.lock').write_text(json.dumps(dict(pid=os.getpid(), host=socket.gethostname(), what='deephex run', started='now')))
    expect_error(['run', '--input', f"legacy_st:{inputs/'st'}", '--out', out], 'is writing this folder', [inputs/'st'])


def test_pixel_size_ten_times_too_large(inputs, tmp_path):
    expect_error(['run', '--input', f"legacy_st:{inputs/'st'}", '--um-per-px', '10', '--out', tmp_path/'o'], ['spots of this technology are 200 µm apart', '--um-per-px 1'], [inputs/'st'])


def test_pixel_size_ten_times_too_small(inputs, tmp_path):
    expect_error(['run', '--input', f"visium:{inputs/'visium'}", '--image', inputs/'visium'/'tissue_image.tif', '--um-per-px', '0.1',
                  '--out', tmp_path/'o'], ['100 µm apart', '--um-per-px 1'], [inputs/'visium'])


def test_anndata_pixel_size_wrong(inputs, tmp_path):
    expect_error(['run', '--input', f"anndata:{inputs/'spots.h5ad'}", '--um-per-px', '10', '--out', tmp_path/'o'], '--um-per-px 1', [inputs/'spots.h5ad'])


def _legacy_counts(st:Path)->Path: return next(st.glob('*.tsv.gz'))

def _rewrite_counts(st:Path, change):
    f = _legacy_counts(st)
    df = pd.read_csv(f, sep='\t', index_col=0)
    df = change(df)
    with gzip.open(f, 'wt') as h: df.to_csv(h, sep='\t')


def test_negative_counts(inputs, tmp_path):
    st = copy(inputs/'st', tmp_path/'st')
    _rewrite_counts(st, lambda df: df.assign(**{df.columns[0]: -1}))
    expect_error(['run', '--input', f"legacy_st:{st}", '--out', tmp_path/'o'], 'negative', [st])


def test_huge_counts(inputs, tmp_path):
    st = copy(inputs/'st', tmp_path/'st')
    _rewrite_counts(st, lambda df: df.assign(**{df.columns[0]: 1e30}))
    expect_error(['run', '--input', f"legacy_st:{st}", '--out', tmp_path/'o'], 'not UMI counts', [st])


def test_text_in_counts(inputs, tmp_path):
    st = copy(inputs/'st', tmp_path/'st')
    _rewrite_counts(st, lambda df: df.astype(object).assign(**{df.columns[0]: 'x'}))
    expect_error(['run', '--input', f"legacy_st:{st}", '--out', tmp_path/'o'], 'not all numbers', [st])


def test_no_counts_at_all(inputs, tmp_path):
    st = copy(inputs/'st', tmp_path/'st')
    _rewrite_counts(st, lambda df: df*0)
    expect_error(['run', '--input', f"legacy_st:{st}", '--out', tmp_path/'o'], 'no gene has any counts', [st])


def test_duplicate_gene_names_kept_apart_and_reported(inputs, tmp_path):
    "Two features with one name: a documented rule (kept apart, renamed X, X-1), a warning, and a record in the sample's layout checks."
    st = copy(inputs/'st', tmp_path/'st')
    _rewrite_counts(st, lambda df: df.rename(columns={df.columns[1]: df.columns[0]}))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        rc = main(list(map(str, ['run', '--input', f"legacy_st:{st}", '--out', tmp_path/'o', '--epochs', '2', '--genes', '12', '--embed-dim', '32',
                                  '--n-heads', '4', '--hidden', '64', '64', '--quiet', '--no-figures'])))
    assert rc == 0
    assert any('occur more than once' in str(x.message) for x in w)
    assert 'duplicate_gene_names' in (tmp_path/'o'/'sample'/'sample.json').read_text()


def test_selection_missing_columns(inputs, tmp_path):
    st = copy(inputs/'st', tmp_path/'st')
    sel = next(st.glob('*selection*'))
    pd.read_csv(sel, sep='\t').drop(columns=['pixel_x']).to_csv(sel, sep='\t', index=False)
    expect_error(['run', '--input', f"legacy_st:{st}", '--out', tmp_path/'o'], 'missing columns', [st])


def test_truncated_image(inputs, tmp_path):
    st = copy(inputs/'st', tmp_path/'st')
    img = next(st.glob('*.jpg'))
    img.write_bytes(img.read_bytes()[:2000])
    expect_error(['run', '--input', f"legacy_st:{st}", '--out', tmp_path/'o'], img.name, [st])


def test_image_missing(inputs, tmp_path):
    st = copy(inputs/'st', tmp_path/'st')
    next(st.glob('*.jpg')).unlink()
    expect_error(['run', '--input', f"legacy_st:{st}", '--out', tmp_path/'o'], 'H&E image', [st])


def test_visium_positions_missing(inputs, tmp_path):
    v = copy(inputs/'visium', tmp_path/'v')
    (v/'spatial'/'tissue_positions.csv').unlink()
    expect_error(['run', '--input', f"visium:{v}", '--out', tmp_path/'o'], 'positions', [v])


def test_visium_duplicate_barcodes(inputs, tmp_path):
    v = copy(inputs/'visium', tmp_path/'v')
    pos = pd.read_csv(v/'spatial'/'tissue_positions.csv')
    pos.loc[1, 'barcode'] = pos.loc[0, 'barcode']
    pos.to_csv(v/'spatial'/'tissue_positions.csv', index=False)
    expect_error(['run', '--input', f"visium:{v}", '--image', v/'tissue_image.tif', '--out', tmp_path/'o'], 'duplicate', [v])


def test_anndata_without_coordinates(inputs, tmp_path):
    a = ad.read_h5ad(inputs/'spots.h5ad'); del a.obsm['spatial']
    a.write_h5ad(tmp_path/'a.h5ad')
    expect_error(['run', '--input', f"anndata:{tmp_path/'a.h5ad'}", '--out', tmp_path/'o'], "obsm['spatial']", [tmp_path/'a.h5ad'])


def test_anndata_truncated(inputs, tmp_path):
    f = tmp_path/'a.h5ad'; f.write_bytes((inputs/'spots.h5ad').read_bytes()[:5000])
    expect_error(['run', '--input', f"anndata:{f}", '--out', tmp_path/'o'], 'cannot read', [f])


def test_too_few_spots(inputs, tmp_path):
    st = copy(inputs/'st', tmp_path/'st')
    _rewrite_counts(st, lambda df: df.iloc[:1])
    sel = next(st.glob('*selection*'))
    s = pd.read_csv(sel, sep='\t'); first = _first_id(st)
    s[(s['x'].astype(str) + 'x' + s['y'].astype(str)) == first].to_csv(sel, sep='\t', index=False)
    expect_error(['run', '--input', f"legacy_st:{st}", '--out', tmp_path/'o'], 'spot', [st])

def _first_id(st): return pd.read_csv(_legacy_counts(st), sep='\t', index_col=0).index[0]


def test_killed_run_resumes_to_the_same_prediction(inputs, tmp_path, monkeypatch):
    "SIGKILL in the middle of training, then the same command: the prediction equals an uninterrupted run's, bit for bit (same thread count)."
    import signal, subprocess, sys, time
    for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'): monkeypatch.setenv(k, '1')   # one thread: bit-identity whatever else runs (by default the count follows the load)
    monkeypatch.setenv('MKL_DYNAMIC', 'FALSE')
    args = ['run', '--input', f"legacy_st:{inputs/'st'}", '--epochs', '40', '--genes', '12', '--embed-dim', '32', '--n-heads', '4', '--hidden', '64', '64',
            '--quiet', '--no-figures']
    assert run_cli(*args, '--out', tmp_path/'ref')[0] == 0
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore'}
    p = subprocess.Popen([sys.executable, '-m', 'deephex.cli', *args, '--out', str(tmp_path/'killed')], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while time.time() - t0 < 300 and p.poll() is None and not list((tmp_path/'killed').glob('model/*/states/00/checkpoint.safetensors')):
        time.sleep(0.05)
    killed = p.poll() is None
    if killed: p.send_signal(signal.SIGKILL); p.wait()
    assert killed, "the run finished before it could be interrupted"
    assert not (tmp_path/'killed'/'prediction.h5ad').exists()
    assert run_cli(*args, '--out', tmp_path/'killed')[0] == 0                # resumes (and takes over the dead run's lock)
    a, b = ad.read_h5ad(tmp_path/'ref'/'prediction.h5ad'), ad.read_h5ad(tmp_path/'killed'/'prediction.h5ad')
    assert np.array_equal(a.X, b.X) and list(a.obs_names) == list(b.obs_names)


@pytest.fixture(scope='module')
def prediction(tmp_path_factory):
    from deephex.analysis import synthetic_prediction
    p = tmp_path_factory.mktemp('pred')/'prediction.h5ad'
    synthetic_prediction(shape=(28, 28))[0].write_h5ad(p)
    return p


def test_analyse_refuses_a_missing_marker_table(prediction, tmp_path):
    expect_error(['analyse', prediction, '--out', tmp_path/'a', '--markers', tmp_path/'nope.csv'], 'marker table not found', [prediction])


@pytest.mark.parametrize('table, message', [('cell,symbol\nT,CD3E\n', 'no cell_type/gene columns'), ('cell_type,gene\n', 'marker table is empty')])
def test_analyse_refuses_a_bad_marker_table(prediction, tmp_path, table, message):
    (tmp_path/'m.csv').write_text(table)
    expect_error(['analyse', prediction, '--out', tmp_path/'a', '--markers', tmp_path/'m.csv'], message, [prediction, tmp_path/'m.csv'])


def test_analyse_refuses_an_interactions_table_without_its_columns(prediction, tmp_path):
    (tmp_path/'lr.csv').write_text('from,to\nSPP1,CD44\n')
    expect_error(['analyse', prediction, '--out', tmp_path/'a', '--interactions', tmp_path/'lr.csv'], 'no ligand/receptor columns',
                 [prediction, tmp_path/'lr.csv'])


@pytest.mark.parametrize('flag, value, message', [('--edge-um', '-5', 'edge_um must be >= 0'), ('--max-hole-um2', '-1', 'max_hole_um2 must be >= 0')])
def test_analyse_refuses_negative_sizes_before_any_step(prediction, tmp_path, flag, value, message):
    expect_error(['analyse', prediction, '--out', tmp_path/'a', flag, value], message, [prediction])
    assert not (tmp_path/'a').exists()                                     # refused before the output folder is made


def test_analyse_refuses_spots_that_are_not_there(prediction, tmp_path):
    (tmp_path/'run'/'sample').mkdir(parents=True)                          # a folder without spots.h5ad
    expect_error(['analyse', prediction, '--out', tmp_path/'a', '--spots', tmp_path/'run'], 'no spots .h5ad there', [prediction])


def test_cells_refuses_a_missing_prediction(tmp_path):
    expect_error(['cells', tmp_path/'nope.h5ad', '--image', tmp_path/'he.tif', '--out', tmp_path/'c'], 'prediction file not found')


def test_cells_needs_an_image_or_labels(prediction, tmp_path):
    expect_error(['cells', prediction, '--out', tmp_path/'c'], 'no image and no labels', [prediction])


def test_cells_from_a_label_image(prediction, tmp_path):
    "`deephex cells PRED --labels L`: one cell per label, expected counts from the map, and a second run refuses to overwrite."
    import tifffile
    p = ad.read_h5ad(prediction)
    H, W = (int(s) for s in p.uns['deephex']['fullres_shape'])
    lab = np.zeros((H, W), np.uint16)
    rr, cc = np.mgrid[:H, :W]
    for k, (y, x) in enumerate([(H//3, W//3), (H//2, W//2), (2*H//3, W//2)], 1): lab[(rr - y)**2 + (cc - x)**2 <= 36] = k
    tifffile.imwrite(tmp_path/'labels.tif', lab)
    rc, text = run_cli('cells', prediction, '--labels', tmp_path/'labels.tif', '--expand-um', 0, '--out', tmp_path/'c', '--quiet')
    assert rc in (0, None), text
    cells = ad.read_h5ad(tmp_path/'c'/'cells.h5ad')
    assert cells.n_obs == 3 and cells.shape[1] == p.n_vars and (np.asarray(cells.X).sum(1) > 0).all()
    expect_error(['cells', prediction, '--labels', tmp_path/'labels.tif', '--out', tmp_path/'c'], 'already holds cells.h5ad', [tmp_path/'c'])


def test_cells_from_a_platform_segmentation(prediction, tmp_path):
    "`deephex cells PRED --segmentation cells.geojson`: the platform's cells, named by its ids, = the same cells given as a label image."
    import json, tifffile
    p = ad.read_h5ad(prediction)
    H, W = (int(s) for s in p.uns['deephex']['fullres_shape'])
    lab = np.zeros((H, W), np.uint16)
    boxes = [(H//3, W//3, 9), (H//2, W//2, 12), (2*H//3, W//2, 7)]                 # (row, col, half edge) of square cells
    feats = []
    for k, (y, x, h) in enumerate(boxes, 1):
        lab[y - h:y + h, x - h:x + h] = k
        x0, y0, x1, y1 = x - h - 0.5, y - h - 0.5, x + h - 0.5, y + h - 0.5                   # the edges between pixels
        feats.append(dict(type='Feature', properties=dict(cell_id=1000 + k),
                          geometry=dict(type='Polygon', coordinates=[[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]])))
    tifffile.imwrite(tmp_path/'labels.tif', lab)
    (tmp_path/'cells.geojson').write_text(json.dumps(dict(type='FeatureCollection', features=feats)))
    rc, text = run_cli('cells', prediction, '--segmentation', tmp_path/'cells.geojson', '--out', tmp_path/'seg', '--quiet')
    assert rc in (0, None), text
    rc, text = run_cli('cells', prediction, '--labels', tmp_path/'labels.tif', '--expand-um', 0, '--out', tmp_path/'lab', '--quiet')
    assert rc in (0, None), text
    seg, byl = ad.read_h5ad(tmp_path/'seg'/'cells.h5ad'), ad.read_h5ad(tmp_path/'lab'/'cells.h5ad')
    assert list(seg.obs_names) == ['1001', '1002', '1003']
    np.testing.assert_allclose(np.asarray(seg.X), np.asarray(byl.X), rtol=1e-6)
    np.testing.assert_allclose(seg.obs['area_um2'], byl.obs['area_um2'])


def test_cells_from_xenium_boundaries_need_the_alignment(prediction, tmp_path):
    import pandas as pd
    pd.DataFrame(dict(cell_id=['a']*4, vertex_x=[0., 5, 5, 0], vertex_y=[0., 0, 5, 5])).to_parquet(tmp_path/'cell_boundaries.parquet')
    expect_error(['cells', prediction, '--segmentation', tmp_path/'cell_boundaries.parquet', '--out', tmp_path/'c'], 'no H&E alignment', [prediction])


def test_spatialdata_store_from_the_cli(prediction, tmp_path):
    "`deephex spatialdata PRED --image HE --cells C --out X.zarr`: opens in spatialdata with every element; a second write is refused."
    import tifffile, spatialdata as sd
    p = ad.read_h5ad(prediction)
    H, W = (int(s) for s in p.uns['deephex']['fullres_shape'])
    tifffile.imwrite(tmp_path/'he.tif', np.full((H, W, 3), 220, np.uint8))
    cells = ad.AnnData(np.ones((2, p.n_vars), np.float32), obs=pd.DataFrame({'area_um2': [40., 60.]}, index=['a', 'b']), var=p.var[[]])
    cells.obsm['spatial'] = np.array([[W/3, H/3], [W/2, H/2]])
    cells.write_h5ad(tmp_path/'cells.h5ad')
    rc, text = run_cli('spatialdata', prediction, '--image', tmp_path/'he.tif', '--cells', tmp_path/'cells.h5ad', '--out', tmp_path/'p.zarr')
    assert rc in (0, None), text
    s = sd.read_zarr(tmp_path/'p.zarr')
    assert set(s.images) == {'he'} and set(s.labels) == {'superpixels'} and set(s.shapes) == {'cells'}
    assert s.tables['prediction'].n_obs == p.n_obs and np.asarray(s['superpixels']).max() == p.n_obs
    expect_error(['spatialdata', prediction, '--out', tmp_path/'p.zarr'], 'already exists', [prediction])


@pytest.mark.parametrize('args, message', [(['--out', 'p.h5ad'], 'folder ending in .zarr'), (['--out', 'p.zarr', '--cells', 'nope.h5ad'], 'cells file not found'),
                                           (['--out', 'p.zarr', '--image', 'nope.tif'], 'image file not found')])
def test_spatialdata_refuses(prediction, tmp_path, args, message):
    expect_error(['spatialdata', prediction] + [str(tmp_path/a) if a.endswith(('.h5ad', '.zarr', '.tif')) else a for a in args], message, [prediction])
    assert not (tmp_path/'p.zarr').exists()


# the same kinds of mistake for iStar, Xenium-style cells and SpatialData inputs

@pytest.fixture(scope='module')
def other_inputs(tmp_path_factory):
    "Good iStar, Xenium-style and SpatialData inputs made from one toy section; each case copies what it breaks."
    import tifffile, spatialdata as sd
    from spatialdata.models import Image2DModel, ShapesModel, TableModel
    from deephex.io import write_istar
    d = tmp_path_factory.mktemp('other')
    vis = toy_inputs(size_um=1344, n_genes=12)[0]
    vis.spots.X = np.rint(np.asarray(vis.spots.X))
    rgb, xy, s = np.asarray(vis.image.read()), vis.spots.obsm['spatial'], vis.spots
    write_istar(d/'istar', pd.DataFrame(s.X, index=s.obs_names, columns=s.var_names), xy, rgb, vis.um_per_px, 55/2/vis.um_per_px)
    (d/'xenium').mkdir()
    cells = ad.AnnData(s.X.copy(), obs=pd.DataFrame({'x_pixel': xy[:, 0], 'y_pixel': xy[:, 1]}, index=s.obs_names), var=s.var[[]].copy())
    cells.write_h5ad(d/'xenium'/'cells.h5ad'); tifffile.imwrite(d/'xenium'/'he.tif', rgb)
    (d/'xenium'/'metadata.json').write_text(json.dumps({'pixel_size_um': vis.um_per_px}))
    t = ad.AnnData(s.X.copy(), obs=pd.DataFrame({'spot_id': np.arange(s.n_obs), 'region': pd.Categorical(['spots']*s.n_obs),
                                                'array_row': s.obs['array_row'].to_numpy(), 'array_col': s.obs['array_col'].to_numpy()}, index=s.obs_names), var=s.var[[]].copy())
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        sd.SpatialData(images={'he': Image2DModel.parse(np.moveaxis(rgb, -1, 0), dims=('c', 'y', 'x'))},
                       shapes={'spots': ShapesModel.parse(xy, geometry=0, radius=np.full(s.n_obs, 27.5/vis.um_per_px))},
                       tables={'table': TableModel.parse(t, region='spots', region_key='region', instance_key='spot_id')}).write(d/'visium.zarr')
    return d


def test_good_other_inputs_read(other_inputs):
    "The unbroken inputs of this battery read (so each refusal below is the mistake's)."
    from deephex.io import read_sample
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for fmt, p in (('istar', 'istar'), ('xenium', 'xenium'), ('spatialdata', 'visium.zarr')):
            assert read_sample(fmt, other_inputs/p).spots.n_obs > 50, fmt


def _istar_case(d, tmp_path, change):
    f = copy(d/'istar', tmp_path/'istar'); change(f)
    return f


@pytest.mark.parametrize('change, message', [
    (lambda f: (f/'pixel-size-raw.txt').write_text('half a micron\n'), 'pixel size (µm per raw px) is not a number'),
    (lambda f: (f/'radius-raw.txt').write_text('-3\n'), 'must be a positive number'),
    (lambda f: (f/'locs-raw.tsv').unlink(), 'spot locations (locs-raw.tsv)'),
    (lambda f: pd.read_csv(f/'locs-raw.tsv', sep='\t').drop(columns=['y']).to_csv(f/'locs-raw.tsv', sep='\t', index=False), 'missing columns x, y'),
    (lambda f: pd.read_csv(f/'locs-raw.tsv', sep='\t').iloc[5:].to_csv(f/'locs-raw.tsv', sep='\t', index=False), 'have no position'),
    (lambda f: (f/'he-raw.jpg').write_bytes((f/'he-raw.jpg').read_bytes()[:1500]), 'he-raw.jpg'),
], ids=['pixel size text', 'negative radius', 'no locations', 'no y column', 'spots without position', 'truncated image'])
def test_istar_refusals(other_inputs, tmp_path, change, message):
    f = _istar_case(other_inputs, tmp_path, change)
    expect_error(['run', '--input', f"istar:{f}", '--out', tmp_path/'o'], message, [f])


def test_option_the_format_does_not_take(other_inputs, tmp_path):
    f = other_inputs/'istar'                                         # an iStar folder brings its own image and pixel size
    expect_error(['run', '--input', f"istar:{f}", '--image', f/'he-raw.jpg', '--um-per-px', '0.5', '--out', tmp_path/'o'],
                 ['--image, --um-per-px does not apply to istar input', 'H&E image and pixel size'], [f])


@pytest.mark.parametrize('change, message', [
    (lambda f: (f/'metadata.json').unlink(), 'pixel size unknown'),
    (lambda f: ad.AnnData(ad.read_h5ad(f/'cells.h5ad').X).write_h5ad(f/'cells.h5ad'), 'no cell coordinates'),
    (lambda f: (f/'cells.h5ad').write_bytes((f/'cells.h5ad').read_bytes()[:3000]), 'cannot read the .h5ad'),
    (lambda f: shutil.copy(f/'he.tif', f/'he2.tif'), 'H&E image'),
], ids=['no pixel size', 'no coordinates', 'truncated h5ad', 'two images'])
def test_xenium_refusals(other_inputs, tmp_path, change, message):
    f = copy(other_inputs/'xenium', tmp_path/'x'); change(f)
    expect_error(['run', '--input', f"xenium:{f}", '--out', tmp_path/'o'], message, [f])


def _drop_images(f):
    shutil.rmtree(f/'images')
    zmeta = f/'zarr.json'
    if zmeta.is_file():                                          # consolidated metadata of a zarr v3 store names the images too
        m = json.loads(zmeta.read_text()); meta = m.get('consolidated_metadata', {}).get('metadata', {})
        for k in [k for k in meta if k.startswith('images')]: del meta[k]
        zmeta.write_text(json.dumps(m))


@pytest.mark.parametrize('change, message', [
    (lambda f: shutil.rmtree(f), 'SpatialData store not found'),
    (_drop_images, 'the store has no image'),
    (lambda f: [shutil.rmtree(p) if p.is_dir() else p.unlink() for p in f.iterdir()], 'cannot read the SpatialData store'),
], ids=['missing store', 'no image', 'not a store'])
def test_spatialdata_input_refusals(other_inputs, tmp_path, change, message):
    f = copy(other_inputs/'visium.zarr', tmp_path/'v.zarr'); change(f)
    expect_error(['run', '--input', f"spatialdata:{f}", '--out', tmp_path/'o'], message, [f] if f.exists() else [])


# several sections, one model (deephex run --input A --input B): every input checked before the first is read
def test_sections_same_input_twice(inputs, tmp_path):
    expect_error(['run', '--input', f"legacy_st:{inputs/'st'}", '--input', f"legacy_st:{inputs/'st'}", '--out', tmp_path/'o'], 'the same input given twice', [inputs/'st'])
    assert not (tmp_path/'o').exists()


def test_sections_second_input_missing(inputs, tmp_path):
    expect_error(['run', '--input', f"legacy_st:{inputs/'st'}", '--input', f"legacy_st:{tmp_path/'nowhere'}", '--out', tmp_path/'o'],
                 ['nowhere', 'does not exist'], [inputs/'st'])
    assert not (tmp_path/'o').exists()


def test_sections_second_input_bad_format(inputs, tmp_path):
    expect_error(['run', '--input', f"legacy_st:{inputs/'st'}", '--input', str(inputs/'visium'), '--out', tmp_path/'o'], 'is not FORMAT:PATH', [inputs/'st'])


def test_sections_out_inside_an_input(inputs, tmp_path):
    st = copy(inputs/'st', tmp_path/'st')
    expect_error(['run', '--input', f"anndata:{inputs/'spots.h5ad'}", '--input', f"legacy_st:{st}", '--out', st/'results'], 'inside the input folder', [st])
    assert not (st/'results').exists()


def test_sections_of_two_platforms(inputs, tmp_path):
    expect_error(['run', '--input', f"legacy_st:{inputs/'st'}", '--input', f"anndata:{inputs/'spots.h5ad'}", '--out', tmp_path/'o'],
                 ['section spots', 'train together only sections of one platform'], [inputs/'st', inputs/'spots.h5ad'])
    assert not any((tmp_path/'o').rglob('features*'))                               # refused before any features were computed


# several sections from a sample sheet (deephex run --sheet): the sheet checked before anything is read
@pytest.mark.parametrize('text,msg', [("path\nx\n", "no 'input' column"), ("input,colour\nlegacy_st:{st},red\n", "unknown column 'colour'"),
                                      ("input,um_per_px\nlegacy_st:{st},fast\n", "line 2: um_per_px 'fast' is not a number"),
                                      ("input,name\nlegacy_st:{st},a\nanndata:{spots},a\n", "the name 'a' is given twice"),
                                      ("input,image\nlegacy_st:{st},nope.png\nanndata:{spots},\n", "image not found")],
                         ids=['no input column', 'unknown column', 'scale not a number', 'one name twice', 'image missing'])
def test_bad_sheet(inputs, tmp_path, text, msg):
    sheet = tmp_path/'sections.csv'
    sheet.write_text(text.format(st=inputs/'st', spots=inputs/'spots.h5ad'))
    expect_error(['run', '--sheet', sheet, '--out', tmp_path/'o'], msg, [inputs/'st', sheet])
    assert not (tmp_path/'o').exists()


def test_sheet_and_input_together(inputs, tmp_path):
    sheet = tmp_path/'sections.csv'; sheet.write_text(f"input\nlegacy_st:{inputs/'st'}\n")
    expect_error(['run', '--sheet', sheet, '--input', f"legacy_st:{inputs/'st'}", '--out', tmp_path/'o'], 'both --sheet and --input given')
