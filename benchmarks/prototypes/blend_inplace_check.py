"""Does the in-place `blend_routes` (7da60b4: float32 interpolation, 16 genes at a time, smaller lattice blocks) give what
the previous one gave? The previous body is kept here as the reference; both run on the 10b notebook's toy section.
Run from the repository root: `python benchmarks/prototypes/blend_inplace_check.py` (-> blend_inplace_check.log).
"""
import math, numpy as np
from scipy import ndimage
from deephex.fusion import blend_routes, route_lattice, lattice_axes, _bilinear, histology_summary, fit_expression_route
from deephex.train import toy_inputs, tissue_superpixels

def blend_routes_before(X, rc, route, w, sample, lattice_mb=256):
    "blend_routes as it was at 7c0b596."
    g = sample.geometry
    size = int(2*math.floor(g.spot_radius_sp) + 1)
    step = max(1, int(round(route.sigma*g.spot_pitch_um/g.superpixel_um/3)))
    rr, cc = lattice_axes(rc, step)
    Wi = _bilinear(rc, (rr[0], cc[0]), step, (len(rr), len(cc)))
    G = X.shape[1]
    block = max(1, (lattice_mb << 20)//(4*len(rr)*len(cc)))
    m = np.zeros(sample.grid.shape, np.float32); m[rc[:, 0], rc[:, 1]] = 1
    den = ndimage.uniform_filter(m, size)[rc[:, 0], rc[:, 1]]
    img = np.zeros((32,) + tuple(sample.grid.shape), np.float32)
    for g0 in range(0, G, block):
        E, _ = route_lattice(route, rc, sample.grid, step, chunk=16384, genes=None if block >= G else slice(g0, g0 + block))
        E = E.reshape(-1, E.shape[-1]); E /= float(g.disk_mask().sum())
        for b in range(g0, min(g0 + block, G), 32):
            A = np.ascontiguousarray(X[:, b:min(b + 32, g0 + block)]); k = A.shape[1]
            img[:k, rc[:, 0], rc[:, 1]] = A.T
            loc = ndimage.uniform_filter(img[:k], (1, size, size))[:, rc[:, 0], rc[:, 1]].T/np.maximum(den, 1e-6)[:, None]
            X[:, b:b+k] = (1 - w)*A + w*np.asarray(Wi @ E[:, b-g0:b-g0+k], np.float32)*A/np.maximum(loc, 1e-6)
    return X

sample, fmap, _, _ = toy_inputs(size_um=1344, n_genes=30, n_channels=16, seed=1)
tissue = tissue_superpixels(sample, fmap)
route = fit_expression_route(sample.spots, sample, histology_summary(fmap, tissue, sample.geometry.window_size))
rc = np.argwhere(tissue)
A = np.random.default_rng(0).gamma(2., 1., (len(rc), route.H.shape[1])).astype(np.float32)
for w in (0.3, 0.6, 1.0):
    old, new = blend_routes_before(A.copy(), rc, route, w, sample), blend_routes(A.copy(), rc, route, w, sample)
    print(f"w = {w}: max |new - old| = {np.abs(new - old).max():.3g}, relative to max |old| = {np.abs(new - old).max()/np.abs(old).max():.3g}")
