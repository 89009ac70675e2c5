"""Variants of the niche-response test on the virtual tissues (issue 15: planted pairs vs decoys AUROC; session of 2026-12-07).

Run from the repository root after `benchmarks/biology.py` (or `deephex benchmark`) has saved its predictions in
runs/benchmark:

    .venv/bin/python benchmarks/prototypes/niche_probe.py [--perms 100] [--variants base r100 ...] > benchmarks/prototypes/niche_probe.log

For the nine virtual sections and two sources (deephex's prediction, the true counts), cell types as `deephex analyse`
calls them, then `deephex.communication.niche_response` and variants of it written here (the same test with one
thing changed): the receivers' neighbourhood radius, the receiver map (receptor x hard label, as the package does;
the receiver type's presence alone; receptor x soft type share), the sender set (hard label; superpixels whose
sender-type share passes a level, weighted). Scores as `benchmarks/biology.py`: AUROC of the z-score of the 8 planted
pairs against 40 decoys, share of each at FDR < 0.05, SPP1 -> CD44 found from macrophages to tumour cells.
"""
import argparse, time, warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy import ndimage, stats

from deephex.analysis import truth_labels, _units, _unit_matrix, superpixel_size_um
from deephex.benchmark import saved_predictions
from deephex.celltypes import cell_types
from deephex.communication import with_decoys, _neighbourhood, _top_types, _partial_corr_null, niche_response
from deephex.core import Key, superpixel_rc

warnings.simplefilter('ignore')

VARIANTS = {
    'package': None,                                                     # deephex.communication.niche_response at its defaults
    'package_before': ('package', dict(n_types=2, receiver_map='receptor')),  # ... with the defaults before this probe
    'base': dict(),                                                      # this file's copy of it (must equal 'package')
    'r25': dict(radius_um=25.), 'r100': dict(radius_um=100.), 'r150': dict(radius_um=150.),
    'presence': dict(receiver='presence'),
    'soft': dict(receiver='soft'),
    'soft_presence': dict(receiver='soft_presence'),
    'types1': dict(n_types=1), 'types3': dict(n_types=3),
    'soft_presence_r25': dict(receiver='soft_presence', radius_um=25.), 'soft_presence_r75': dict(receiver='soft_presence', radius_um=75.),
    'soft_presence_s03': dict(receiver='soft_presence', sender_share=0.3), 'soft_presence_s05': dict(receiver='soft_presence', sender_share=0.5),
    'soft_presence_types3': dict(receiver='soft_presence', n_types=3), 'soft_presence_types1': dict(receiver='soft_presence', n_types=1),
    'soft_presence_types1_s03': dict(receiver='soft_presence', n_types=1, sender_share=0.3),
    'presence_r25': dict(receiver='presence', radius_um=25.), 'presence_r100': dict(receiver='presence', radius_um=100.),
}


def soft_shares(S:np.ndarray)->np.ndarray:
    "Type shares from marker scores: the positive part of each score over their sum (the called type gets 1 where none is positive)."
    P = np.clip(S, 0, None); tot = P.sum(1, keepdims=True)
    hard = np.eye(S.shape[1])[S.argmax(1)]
    return np.where(tot > 0, P/np.where(tot > 0, tot, 1), hard)


def niche_variant(adata, radius_um=50., receiver='hard', sender_share=None, n_types=2, n_perms=200, min_count=30, seed=0, n_decoys=40):
    "niche_response with one option changed (receiver map: hard | presence | soft | soft_presence; senders: the hard label, or a type share of at least sender_share)."
    ck = Key.cell_type
    tested = with_decoys(adata, None, n_decoys, seed)
    types = list(adata.obs[ck].astype('category').cat.categories)
    lab = adata.obs[ck].astype('category').cat.codes.to_numpy()
    S = np.asarray(adata.obsm[ck + '_scores'], float)
    P = soft_shares(S)
    Z = np.c_[np.ones(len(S)), S]
    units, sub, _ = _units(adata, tested)
    U = _unit_matrix(adata, units, sub, None, True)
    col = {u: k for k, u in enumerate(units)}
    rc = superpixel_rc(adata); rc = rc - rc.min(0); H, W = rc.max(0) + 1
    on = np.zeros((H, W), np.float32); on[rc[:, 0], rc[:, 1]] = 1
    fp = _neighbourhood(radius_um/float(superpixel_size_um(adata)))
    den = np.maximum(ndimage.convolve(on, fp, mode='constant'), 1e-6)
    rng = np.random.default_rng(seed)
    min_shift = max(2, int(0.05*max(H, W)))
    rows = []
    for _, t in tested.iterrows():
        l, r = U[:, col[t['ligand']]], U[:, col[t['receptor']]]
        best = None
        senders, receivers = _top_types(l, lab, types, n_types, min_count), _top_types(r, lab, types, n_types, min_count)
        nmaps = {}
        for rt in receivers:
            k = types.index(rt)
            v = {'hard': r*(lab == k), 'presence': (lab == k).astype(float), 'soft': r*P[:, k], 'soft_presence': P[:, k]}[receiver]
            img = np.zeros((H, W), np.float32); img[rc[:, 0], rc[:, 1]] = v
            nmaps[rt] = ndimage.convolve(img, fp, mode='constant')/den
        for s in senders:
            sel = lab == types.index(s) if sender_share is None else P[:, types.index(s)] >= sender_share
            if sel.sum() < min_count: continue
            beta, *_ = np.linalg.lstsq(Z[sel], l[sel], rcond=None)
            x = l[sel] - Z[sel] @ beta
            for rt in receivers:
                if rt == s: continue
                obs, null = _partial_corr_null(x, nmaps[rt], rc[sel], on, n_perms, min_shift, rng)
                if not np.isfinite(obs): continue
                sd = null.std(ddof=1)
                z = (obs - null.mean())/sd if sd > 0 else 0.
                p = float(stats.norm.sf(z))
                if best is None or p < best[3] or (p == best[3] and z > best[4]): best = (s, rt, obs, p, z)
        n_tried = max(1, sum(rt != s for s in senders for rt in receivers))
        if best is None: rows.append(dict(ligand=t['ligand'], receptor=t['receptor'], source='', target='', zscore=np.nan, pvalue=1., decoy=t['decoy']))
        else: rows.append(dict(ligand=t['ligand'], receptor=t['receptor'], source=best[0], target=best[1], zscore=best[4],
                               pvalue=min(1., best[3]*n_tried), decoy=t['decoy']))
    df = pd.DataFrame(rows)
    df['fdr'] = stats.false_discovery_control(df['pvalue'], method='bh')
    return df


def scores(nr:pd.DataFrame, planted:set)->dict:
    from sklearn.metrics import roc_auc_score
    pl = np.array([(a, b) in planted for a, b in zip(nr['ligand'], nr['receptor'])])
    dec = nr['decoy'].to_numpy().astype(bool)
    z = nr['zscore'].to_numpy(float); z = np.where(np.isfinite(z), z, np.nanmin(z) - 1)
    spp1 = nr[(nr['ligand'] == 'SPP1') & (nr['receptor'] == 'CD44')]
    return dict(auroc=roc_auc_score(np.r_[np.ones(pl.sum()), np.zeros(dec.sum())], np.r_[z[pl], z[dec]]),
                planted_sig=float((nr['fdr'][pl] < 0.05).mean()), decoys_sig=float((nr['fdr'][dec] < 0.05).mean()),
                spp1=bool(len(spp1) and spp1['source'].iloc[0] == 'macrophage' and spp1['target'].iloc[0] == 'tumour' and spp1['fdr'].iloc[0] < 0.05))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bench', default='runs/benchmark')
    ap.add_argument('--perms', type=int, default=200)
    ap.add_argument('--variants', nargs='+', default=list(VARIANTS))
    ap.add_argument('--sources', nargs='+', default=['deephex', 'truth'])
    ap.add_argument('--tissues', nargs='+', default=['breast_tumour', 'lymph_node', 'colon'])
    ap.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    a = ap.parse_args()
    bench, rows = Path(a.bench), []
    for tissue in a.tissues:
        for seed in a.seeds:
            name = f'virtual-{tissue}-s{seed}-2x2mm'
            truth_dir = bench/'data'/name/'visium_hd'/'truth'
            planted = {(p['ligand'], p['receptor']) for p in pd.read_json(truth_dir/'genes.json', typ='series')['ligand_receptor_pairs']}
            paths = dict(deephex=saved_predictions(bench, name)['deephex'], truth=bench/'data'/name/'sample-300genes'/'truth.h5ad')
            for src in a.sources:
                x = ad.read_h5ad(paths[src]); x.uns.setdefault('superpixel_grid', dict(superpixel_um=8.))
                truth_labels(x, truth_dir); cell_types(x)
                for v in a.variants:
                    t0 = time.time()
                    opts = VARIANTS[v]
                    if opts is None or isinstance(opts, tuple): nr = niche_response(x, n_perms=a.perms, progress=False, **(opts[1] if opts else {}))
                    else: nr = niche_variant(x, n_perms=a.perms, **opts)
                    rows.append(dict(tissue=tissue, seed=seed, source=src, variant=v, **scores(nr, planted), seconds=time.time() - t0))
                    print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    pd.set_option('display.width', 250)
    print()
    print(df.groupby(['source', 'variant'], sort=False)[['auroc', 'planted_sig', 'decoys_sig', 'spp1', 'seconds']].mean().round(3).to_string())
    print()
    print(df.groupby(['source', 'variant', 'tissue'], sort=False)['auroc'].mean().round(3).unstack('tissue').to_string())


if __name__ == '__main__':
    main()
