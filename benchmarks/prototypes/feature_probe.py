"""Which handcrafted histology channels carry expression on real tissue? (issue 13, session of 2026-12-07)

Ridge from each spot's disk-mean features (alone, and with log1p IDW of the neighbours: the benchmark's `ridge`
and `ridge_idw`) on the held-out spots of HER2ST B4's four checkerboard and four 3 x 3-block folds (250 HVGs),
for today's 58 handcrafted channels and for candidate extra channel groups computed from the same analysis image.
Run from the repository root: `python benchmarks/prototypes/feature_probe.py` (-> feature_probe.log).
"""
import sys, time, warnings, numpy as np
from pathlib import Path
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from sklearn.linear_model import RidgeCV
warnings.filterwarnings('ignore')
from deephex.benchmark import prepare_legacy_st
from deephex.features import read_window, extract_features, block_mean, hed_from_uint8, multiscale_features
from deephex.evaluate import spot_features, pearson_columns

B4 = Path(__file__).resolve().parents[3]/'shared'/'data'/'her2st'/'B4'
CACHE = Path('runs/prototypes/feature_probe')

def folds(spots, scheme):
    r, c = spots.obs['array_row'].to_numpy(), spots.obs['array_col'].to_numpy()
    b = 1 if scheme == 'cb' else 3
    cls = ((r - r.min())//b + 2*((c - c.min())//b)) % 4
    return [cls == i for i in range(4)]

def idw(xy, Y, held, k=6):
    tr = np.flatnonzero(~held)
    d, nn = cKDTree(xy[tr]).query(xy, k + 1)
    hit = tr[nn[:, 0]] == np.arange(len(xy))
    d = np.where(hit[:, None], d[:, 1:], d[:, :-1]); nn = np.where(hit[:, None], nn[:, 1:], nn[:, :-1])
    w = 1/np.maximum(d, 1e-9); w /= w.sum(1, keepdims=True)
    return np.einsum('nk,nkg->ng', w, Y[tr[nn]])

def ridge(F, Y, held):
    mu, sd = F[~held].mean(0), F[~held].std(0); sd[sd < 1e-12] = 1; Z = (F - mu)/sd
    return RidgeCV(alphas=np.logspace(-2, 5, 15), alpha_per_target=True).fit(Z[~held], Y[~held]).predict(Z[held])

def per_superpixel(fn, image, s=16, strip=512, margin=64):
    "Apply fn(window, margin) -> (rows/s, cols/s, k) in strips of image rows."
    R = image.shape[0]//s; out = []
    for r0 in range(0, R, strip//s):
        r1 = min(R, r0 + strip//s)
        win = read_window(image, r0*s - margin, -margin, (r1 - r0)*s + 2*margin, (image.shape[1]//s)*s + 2*margin)
        out.append(fn(win, margin))
    return np.concatenate(out, 0)

def nuclei_density(win, m, sigmas_um=(2., 3., 4.), um_per_px=0.5):
    "Count of hematoxylin blobs (local maxima of the scale-normalised LoG above a threshold) per superpixel, per scale."
    H = block_mean(hed_from_uint8(win)[..., 0], 2)                        # 1 um/px
    chans = []
    for sg in sigmas_um:
        L = -(sg**2)*ndi.gaussian_laplace(H, sg)
        peak = (L == ndi.maximum_filter(L, size=int(2*sg) + 1)) & (L > 0.02)
        chans.append(block_mean(peak[m//2:-m//2, m//2:-m//2].astype(np.float32), 8))
    return np.stack(chans, -1)

def hessian_texture(win, m, sigmas_um=(1., 2., 4., 8.)):
    "Gaussian gradient magnitude and Hessian eigenvalues (blob / ridge strength) of H and grey at several scales."
    hed = hed_from_uint8(win)
    g = block_mean(win.astype(np.float32).mean(-1)/255, 2); H = block_mean(hed[..., 0], 2); E = block_mean(hed[..., 1], 2)
    chans = []
    for img in (H, E, g):
        for sg in sigmas_um:
            gm = ndi.gaussian_gradient_magnitude(img, sg)*sg
            hrr = ndi.gaussian_filter(img, sg, order=(2, 0)); hcc = ndi.gaussian_filter(img, sg, order=(0, 2)); hrc = ndi.gaussian_filter(img, sg, order=(1, 1))
            tr, det = hrr + hcc, hrr*hcc - hrc**2
            disc = np.sqrt(np.maximum(tr**2/4 - det, 0))
            l1, l2 = (tr/2 + disc)*sg**2, (tr/2 - disc)*sg**2
            for a in (gm, np.abs(l1), np.abs(l2), np.abs(l1) - np.abs(l2)):
                chans.append(block_mean(a[m//2:-m//2, m//2:-m//2], 8))
    return np.stack(chans, -1)

NORM = None

def random_conv(win, m, n=24, seed=0):
    "Random features: n random 7x7 filters on the H, E, grey stack at 1 and 2 um/px, ReLU, mean per superpixel."
    rng = np.random.default_rng(seed)
    hed = hed_from_uint8(win); g = win.astype(np.float32).mean(-1)/255
    X0 = np.stack([hed[..., 0], hed[..., 1], g], -1)
    import torch
    chans = []
    for ds in (2, 4):
        X = (block_mean(X0, ds) - NORM[0])/NORM[1]
        W = torch.from_numpy(rng.standard_normal((n, 3, 7, 7)).astype(np.float32))
        with torch.no_grad():
            r = torch.relu(torch.nn.functional.conv2d(torch.from_numpy(np.ascontiguousarray(X.transpose(2, 0, 1)))[None], W, padding=3))[0]
        r = r.numpy().transpose(1, 2, 0)
        chans.append(block_mean(r[m//ds:-m//ds, m//ds:-m//ds], 16//ds))
    return np.concatenate(chans, -1)

def main():
    t0 = time.time()
    s, _ = prepare_legacy_st(B4, 250, 0.25, 0)
    fmap = extract_features(s, encoder='handcrafted', device='cpu', cache_dir=CACHE, progress=False)
    fm = np.asarray(fmap.features, np.float32)
    print(f'# B4 {s.spots.n_obs} spots, grid {fm.shape}, {time.time()-t0:.0f}s', flush=True)
    groups = {'v1 (58 channels)': fm}
    base13 = fm[..., :13]
    groups['base13 smoothed at 8, 16'] = multiscale_features(base13, (8, 16), (), ())[..., 13:]
    cache = CACHE/'extra.npz'
    if cache.exists(): extra = dict(np.load(cache))
    else:
        image = s.image.analysis_image(s.grid, progress=False)
        sub = image[::8, ::8]; hs = hed_from_uint8(sub)
        X0 = np.stack([hs[..., 0], hs[..., 1], sub.astype(np.float32).mean(-1)/255], -1).reshape(-1, 3)
        global NORM; NORM = (X0.mean(0), X0.std(0) + 1e-6)
        extra = {}
        for name, fn in (('nuclei', nuclei_density), ('hessian', hessian_texture), ('random', random_conv)):
            t = time.time(); extra[name] = per_superpixel(fn, image).astype(np.float32)
            print(f'# {name}: {extra[name].shape} {time.time()-t:.0f}s', flush=True)
        np.savez(cache, **extra)
    for name in ('nuclei', 'hessian', 'random'):
        x = extra[name][:fm.shape[0], :fm.shape[1]]
        groups[name] = multiscale_features(x, (1, 2, 4), (), ())
    Y = s.spots.X.toarray().astype(float); xy = s.spots.obsm['spatial']
    F = {k: spot_features(v, s.spots, s) for k, v in groups.items()}
    sets = {'v1': ['v1 (58 channels)'], 'v1+scales': ['v1 (58 channels)', 'base13 smoothed at 8, 16'],
            'v1+nuclei': ['v1 (58 channels)', 'nuclei'], 'v1+hessian': ['v1 (58 channels)', 'hessian'],
            'v1+random': ['v1 (58 channels)', 'random'], 'hessian alone': ['hessian'], 'random alone': ['random'],
            'all': list(groups)}
    for scheme in ('cb', 'block'):
        fl = folds(s.spots, scheme)
        for name, parts in sets.items():
            X = np.hstack([F[p] for p in parts])
            r, ri = [], []
            for held in fl:
                sc = lambda P: float(np.nanmean(pearson_columns(np.asarray(P), Y[held])))
                r.append(sc(ridge(X, Y, held))); ri.append(sc(ridge(np.hstack([X, np.log1p(idw(xy, Y, held))]), Y, held)))
            print(f'{scheme:5s} {name:16s} C={X.shape[1]:4d} ridge {np.mean(r):.3f} ridge_idw {np.mean(ri):.3f}  folds {np.round(ri, 3).tolist()}', flush=True)

if __name__ == '__main__': main()
