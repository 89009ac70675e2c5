"""Do extra handcrafted channels raise what histology can carry at 8 µm on a virtual tissue? (session of 2026-12-07)

The oracle of `benchmarks/feature_oracle.py` (an MLP trained on the true 8 µm bins of the left half, scored on the right
half) fed today's 58 channels, then the same plus the candidate groups of `feature_probe.py` (nuclei counts, Hessian
texture, random convolutions, each at 3 smoothing scales). Run from the repository root:
`python benchmarks/prototypes/feature_oracle_probe.py breast_tumour` (-> feature_oracle_probe.log).
"""
import sys, json, time, warnings, numpy as np, torch
from pathlib import Path
sys.path.insert(0, 'benchmarks'); sys.path.insert(0, 'benchmarks/prototypes')
warnings.filterwarnings('ignore')
from feature_oracle import oracle
import feature_probe as fp
from deephex.benchmark import VirtualTissue, prepare_virtual
from deephex.evaluate import superpixel_rc
from deephex.features import extract_features, multiscale_features, hed_from_uint8
from deephex.train import feature_stats, gather_windows
from deephex.runtime import torch_threads
t = sys.argv[1] if len(sys.argv) > 1 else 'breast_tumour'
vt = VirtualTissue(t, 0); D = Path('runs/prototypes/oracle')/vt.name
s = prepare_virtual(vt, D/'data', 300, progress=False)
fm = np.asarray(extract_features(s, encoder='handcrafted', device='cpu', cache_dir=D, progress=False).features, np.float32)
image = s.image.analysis_image(s.grid, progress=False)
sub = image[::8, ::8]; hs = hed_from_uint8(sub)
X0 = np.stack([hs[..., 0], hs[..., 1], sub.astype(np.float32).mean(-1)/255], -1).reshape(-1, 3)
fp.NORM = (X0.mean(0), X0.std(0) + 1e-6)
groups = {'v1': fm}
for name, fn in (('nuclei', fp.nuclei_density), ('hessian', fp.hessian_texture), ('random', fp.random_conv)):
    t0 = time.time(); x = fp.per_superpixel(fn, image)[:fm.shape[0], :fm.shape[1]]
    groups[name] = multiscale_features(x, (1, 2, 4), (), ())
    print(name, x.shape, round(time.time() - t0), flush=True)
T = s.truth; rc = superpixel_rc(T); Y = np.asarray(T.X.toarray(), np.float32)
left = rc[:, 1] < np.median(rc[:, 1])
off = np.array([[dr, dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)])
def F_of(parts):
    f = np.ascontiguousarray(np.concatenate([groups[p] for p in parts], -1))
    mean, std = feature_stats(f, s.tissue_mask)
    return gather_windows(f, rc, off, mean, std).reshape(len(rc), -1).numpy()
with torch_threads():
    for parts in (['v1'], ['v1', 'nuclei'], ['v1', 'hessian'], ['v1', 'random'], ['v1', 'nuclei', 'hessian', 'random']):
        t0 = time.time(); print(t, '+'.join(parts), round(oracle(F_of(parts), Y, left), 4), round(time.time() - t0), flush=True)
