"""Why 10c's bit-for-bit bundle check pins torch's thread count: the same trained model predicting the same toy section
with 2 and with 1 intra-op threads (torch's default follows the machine's load, `deephex.runtime.default_threads`).
Run from the repository root: `python benchmarks/prototypes/thread_bits_check.py` (-> thread_bits_check.log).
"""
import tempfile, numpy as np
from deephex.train import toy_inputs
from deephex.fusion import fit_model
from deephex.enhance import enhance_spots
from deephex.bundle import load_bundle, predict_section
sample, fmap, _, _ = toy_inputs(size_um=1344, n_genes=30, n_channels=16, seed=1)
small = dict(epochs=30, lr=1e-3, embed_dim=16, n_heads=2, hidden=(32, 32))
with tempfile.TemporaryDirectory() as d:
    pred = fit_model(sample, fmap, enhance_spots(sample.spots, sample.geometry, sample.um_per_px), progress=False, bundle_dir=d, n_threads=2, **small)
    b = load_bundle(d)
    for n in (2, 1):
        again = predict_section(b, sample, fmap, progress=False, n_threads=n)
        print(f"run at 2 threads, bundle at {n}: bit for bit {np.array_equal(again.X, pred.X)}, max |difference| {np.abs(again.X - pred.X).max():.3g}")
