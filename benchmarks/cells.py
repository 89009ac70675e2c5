"""Cell-level output against the virtual truth (issue 16, item 4): nuclei found on the H&E and per-cell expression.

Run from the repository root (after `make setup`), after the main benchmark has saved its predictions:

    .venv/bin/python benchmarks/cells.py [--bench runs/benchmark] [--datasets virtual-breast_tumour-s0-2x2mm ...] [--tag T]

For each virtual section: `deephex.cells.detect_nuclei` on its H&E (package defaults), matched one-to-one to the true
cell centres (mutual nearest neighbours within 4 µm): precision, recall. Then `cells_from_nuclei` (nuclei grown by
4 µm) fed from three superpixel maps of the same grid — deephex's prediction, interpolation of the spots, and the
true 8 µm counts (what a perfect 8 µm map would give a cell) — and, over the matched cells, the per-gene Pearson
correlation (across cells) of each cell's expected counts with its true counts (`truth/cell_counts.h5`), mean over
genes expressed in at least 1 % of the cells. Then the same with a platform's segmentation instead of detection
(`predict_cells(segmentation=...)`, as `deephex cells --segmentation`): the true cells as disks of their true diameter,
written as a GeoJSON of polygons and read back, every cell scored (`segmentation_*`).

Results (resumable: one JSON per cell under BENCH/cells) go to benchmarks/cells[-TAG].json and .md with the command.
"""
import argparse, json, sys, warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from deephex.benchmark import saved_predictions, _md
from deephex.cells import detect_nuclei, cells_from_nuclei, predict_cells
from deephex.image import HEImage
from result_cache import cached, provenance, write_report

MATCH_UM = 4.


def mutual_matches(a:np.ndarray, b:np.ndarray, max_d:float)->tuple:
    "Indices (i into a, j into b) of pairs that are each other's nearest neighbour within max_d."
    da, ja = cKDTree(b).query(a)
    _, ib = cKDTree(a).query(b)
    i = np.nonzero((ib[ja] == np.arange(len(a))) & (da <= max_d))[0]
    return i, ja[i]


def per_gene_pearson(P:np.ndarray, T:np.ndarray, min_share:float=0.01)->float:
    "Mean over genes (expressed in >= min_share of the cells) of the Pearson correlation across cells."
    keep = (T > 0).mean(0) >= min_share
    P, T = P[:, keep].astype(np.float64), T[:, keep].astype(np.float64)
    P, T = P - P.mean(0), T - T.mean(0)
    den = np.sqrt((P**2).sum(0)*(T**2).sum(0))
    r = np.where(den > 0, (P*T).sum(0)/np.where(den > 0, den, 1), np.nan)
    return float(np.nanmean(r)), int(keep.sum())


def measure(bench:Path, name:str)->dict:
    data = bench/'data'/name
    vh = data/'visium_hd'
    preds = saved_predictions(bench, name)
    deephex = ad.read_h5ad(preds['deephex'])
    upp = float(deephex.uns['deephex']['um_per_px'])
    img = HEImage.open(vh/'tissue_image.tif')
    nuclei, labels = detect_nuclei(img, upp, progress=False, return_labels=True)
    true_cells = pd.read_parquet(vh/'truth'/'cells.parquet')
    i, j = mutual_matches(nuclei[['x', 'y']].to_numpy(), true_cells[['x', 'y']].to_numpy(), MATCH_UM/upp)
    res = dict(n_detected=len(nuclei), n_true=len(true_cells), n_matched=len(i), precision=len(i)/max(len(nuclei), 1), recall=len(i)/max(len(true_cells), 1))
    import scanpy as sc
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        counts = sc.read_10x_h5(vh/'truth'/'cell_counts.h5')                        # the simulator's per-cell counts (10x HDF5)
    truth_map = ad.read_h5ad(data/'sample-300genes'/'truth.h5ad')
    maps = dict(deephex=deephex, interpolation=ad.read_h5ad(preds['interpolation']), truth_8um=truth_map)
    for k, m in maps.items():
        if k == 'deephex': continue
        m.uns['deephex'] = dict(deephex.uns['deephex'])                                # the same grid
        m._inplace_subset_var(list(deephex.var_names))
    true_ids = true_cells['cell_id'].to_numpy()[j]
    T = counts[true_ids, list(deephex.var_names)].X
    T = np.asarray(T.toarray() if hasattr(T, 'toarray') else T, np.float32)
    for k, m in maps.items():
        cells = cells_from_nuclei(m, labels, markers=False)
        P = cells.X[i]
        r, n_genes = per_gene_pearson(np.asarray(P.toarray() if hasattr(P, 'toarray') else P), T)
        res[f"pearson_{k}"] = r
    res['n_genes'] = n_genes
    res['cell_area_um2_median'] = float(cells.obs['area_um2'].median())
    # a platform's segmentation instead of detection: the true cells as disks of their diameter, written as GeoJSON and read back
    geo = true_cells_geojson(true_cells, upp, bench/'cells'/f"{name}-true-cells.geojson")
    for k, m in maps.items():
        cells = predict_cells(m, segmentation=geo, markers=False, progress=False)
        T = counts[list(cells.obs_names), list(deephex.var_names)].X
        T = np.asarray(T.toarray() if hasattr(T, 'toarray') else T, np.float32)
        res[f"segmentation_pearson_{k}"], _ = per_gene_pearson(np.asarray(cells.X), T)
    res['segmentation_n_cells'] = cells.n_obs
    return res


def true_cells_geojson(cells:pd.DataFrame, upp:float, path:Path, n_vertices:int=24)->Path:
    "The simulator's cells as polygons (disks of their diameter around their centres, H&E px) in a GeoJSON FeatureCollection, as a segmentation tool writes them."
    t = np.linspace(0, 2*np.pi, n_vertices, endpoint=False)
    feats = []
    for cid, x, y, d in zip(cells['cell_id'], cells['x'], cells['y'], cells['diameter_um']):
        r = d/2/upp
        ring = np.c_[x + r*np.cos(t), y + r*np.sin(t)]
        feats.append(dict(type='Feature', properties=dict(cell_id=str(cid)), geometry=dict(type='Polygon', coordinates=[np.r_[ring, ring[:1]].round(2).tolist()])))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(type='FeatureCollection', features=feats)))
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--bench', default='runs/benchmark')
    ap.add_argument('--datasets', nargs='+', default=['virtual-breast_tumour-s0-2x2mm', 'virtual-lymph_node-s0-2x2mm', 'virtual-colon-s0-2x2mm'])
    ap.add_argument('--tag', default='')
    a = ap.parse_args(argv)
    bench = Path(a.bench)
    prov = provenance('cells.py', sys.argv[1:] if argv is None else argv, {})
    results = {d: cached(bench/'cells', d, lambda d=d: measure(bench, d)) for d in a.datasets}
    df = pd.DataFrame([dict(dataset=d, **{k: v for k, v in r.items() if not isinstance(v, dict)}) for d, r in results.items()]).round(3)
    body = (f"Nuclei matched one-to-one to the true cell centres within {MATCH_UM:g} µm (mutual nearest neighbours). "
            "Pearson: per gene across the matched cells, each cell's expected counts (nucleus grown by 4 µm, fed from the "
            "superpixel map named) against its true counts; mean over the genes expressed in >= 1 % of those cells. "
            "`truth_8um` feeds the cells from the true 8 µm counts: the best an 8 µm map can give a cell. `segmentation_*`: the "
            "cells given as a segmentation instead (the true cells as disks of their diameter, a GeoJSON read by "
            "`predict_cells(segmentation=...)`, not grown), every cell scored.\n\n" + _md(df) + "\n")
    md = write_report('cells', a.tag, prov, results, 'Cells against the virtual truth', body)
    print(md)


if __name__ == '__main__':
    main()
