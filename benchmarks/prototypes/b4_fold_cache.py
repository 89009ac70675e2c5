"Per fold of B4 (cb0-3, block0-3), seed 0: the histology route trained as fit_deephex trains it; cache A (superpixels over all disks) and the held-out-spot arrays."
import sys, json, pickle, warnings, numpy as np, scipy.sparse as sp
sys.path.insert(0, 'benchmarks')
from pathlib import Path
import anndata as ad
from deephex.benchmark import default_legacy_st, prepare_legacy_st
from deephex.features import extract_features
from deephex.fusion import histology_summary, validation_spots, heldout_routes, _spot_mask
from deephex.enhance import enhance_spots
from deephex.train import tissue_superpixels, train_states, predict_anndata
from deephex.settings import TrainSettings
from deephex.pseudo_visium import disks_region
from fusion_ablation import folds
warnings.simplefilter('ignore')
import os; OUT = Path(os.environ.get('FOLDS', 'runs/prototypes/b4_folds')); OUT.mkdir(parents=True, exist_ok=True)   # FOLDS=..., VALF=0.2: another validation share
s, _ = prepare_legacy_st(default_legacy_st(), int(os.environ.get('GENES', 250)), 0.25, 0)   # GENES=1000: the CLI's default count
fm = extract_features(s, encoder='handcrafted', device='cpu', cache_dir=Path('runs/benchmark/legacy_st-B4/features/handcrafted'), progress=False)
s = s.replace(tissue_mask=fm.tissue); feats = np.asarray(fm.features, np.float32)
st = TrainSettings(model='deephex', val_fraction=float(os.environ.get('VALF', 0.1)))
summary = histology_summary(feats, tissue_superpixels(s, feats), s.geometry.window_size, seed=0)
for scheme in ('cb', 'block'):
    for i, held in enumerate(folds(s.spots, scheme)):
        f = OUT/f"{scheme}{i}.pkl"
        if f.exists(): continue
        train = s.replace(spots=s.spots[~held].copy())
        spots = _spot_mask(train)
        val = validation_spots(spots.obsm['spatial'], train.geometry.spot_pitch_um/train.um_per_px, st.val_fraction, st.seed, st.prior_sigma)
        fit_sample = train.replace(spots=spots[~val].copy())
        hd_fit = enhance_spots(fit_sample.spots, train.geometry, train.um_per_px)
        trained = train_states(fit_sample, feats, hd_fit, st.replace(model='bcaf'), device='cpu', progress=False)
        h = heldout_routes(trained, train, val, summary)
        hd = enhance_spots(spots, train.geometry, train.um_per_px)
        A = predict_anndata(trained, tokens=hd, progress=False, region=disks_region(s))
        A.uns = {}
        A.write_h5ad(OUT/f"{scheme}{i}-A.h5ad")
        pickle.dump(dict(held=held, val=val, A_val=h['A'], E_val=h['E'], Y_val=h['Y']), open(f, 'wb'))
        print(scheme, i, 'done', flush=True)
