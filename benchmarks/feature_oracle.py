"""How much 8 µm detail the offline histology features can carry at all: a histology model trained on the *true*
8 µm bins (full supervision, which no real method has) on one half of each virtual tissue, scored on the other half,
beside what the benchmark's methods reach on that same half with weak supervision from spots.

Run from the repository root (after `make setup`, and after `deephex benchmark` when its predictions should be compared):

    .venv/bin/python benchmarks/feature_oracle.py [--benchmark runs/benchmark] [--tissues breast_tumour lymph_node colon] [--seed 0]

Per tissue: the prepared virtual tissue of the benchmark (2 x 2 mm, 300 HVGs, `handcrafted` features), superpixels
split at the median column; an MLP (two hidden layers of 256, Poisson loss, 15 epochs) from the features of each
superpixel's 3 x 3 neighbourhood (and, in a second model, also log1p of the interpolated spot expression there) to
the true counts of the left half; mean per-gene Pearson on the right half. Writes benchmarks/feature_oracle.{json,md}.
"""
import argparse, json, sys, time, warnings
from pathlib import Path

import numpy as np
import torch

from deephex.benchmark import VirtualTissue, git_commit, machine_info, method_dir, prepare_virtual, _md
from deephex.evaluate import pearson_columns, predict_interpolation, read_prediction, superpixel_rc
from deephex.features import extract_features
from deephex.runtime import torch_threads, write_json
from deephex.train import feature_stats, gather_windows

def _align(pred, rc):
    "Rows of a superpixel prediction at superpixels `rc` (zeros where it has none)."
    prc = superpixel_rc(pred); key = {(int(a), int(b)): i for i, (a, b) in enumerate(prc)}
    sel = np.array([key.get((int(a), int(b)), -1) for a, b in rc])
    X = np.asarray(pred.X.toarray() if hasattr(pred.X, 'toarray') else pred.X, np.float32)[np.clip(sel, 0, None)]
    X[sel < 0] = 0
    return X

def oracle(X, Y, left, seed=0, epochs=15):
    "MLP trained on the left half's true counts, scored (mean per-gene Pearson) on the right half."
    torch.manual_seed(seed); rng = np.random.default_rng(seed)
    sc = Y.std(0) + 1e-6
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y/sc)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, Y.shape[1]), torch.nn.Softplus())
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    idx = np.flatnonzero(left)
    for _ in range(epochs):
        perm = rng.permutation(idx)
        for b in range(0, len(perm), 512):
            i = perm[b:b+512]
            loss = torch.nn.functional.poisson_nll_loss(net(Xt[i]), Yt[i], log_input=False)
            opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad(): P = net(Xt[~left]).numpy()
    return float(np.nanmean(pearson_columns(P, Y[~left])))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--benchmark', default='runs/benchmark'); ap.add_argument('--tissues', nargs='+', default=['breast_tumour', 'lymph_node', 'colon'])
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args(); warnings.filterwarnings('ignore')
    t0, rows = time.time(), []
    for t in a.tissues:
        vt = VirtualTissue(t, a.seed)
        s = prepare_virtual(vt, Path(a.benchmark)/'data'/vt.name, 300, progress=False)
        fm = np.ascontiguousarray(np.asarray(extract_features(s, encoder='handcrafted', device='cpu', cache_dir=Path(a.benchmark)/vt.name, progress=False).features, np.float32))
        T = s.truth; rc = superpixel_rc(T); Y = np.asarray(T.X.toarray(), np.float32)
        mean, std = feature_stats(fm, s.tissue_mask)
        off = np.array([[dr, dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)])
        F = gather_windows(fm, rc, off, mean, std).reshape(len(rc), -1).numpy()
        I = _align(predict_interpolation(s.spots, s, s.tissue_mask), rc)
        left = rc[:, 1] < np.median(rc[:, 1])
        score = lambda P: float(np.nanmean(pearson_columns(P[~left], Y[~left])))
        with torch_threads():
            row = dict(tissue=t, seed=a.seed, **{'oracle: features (true 8 µm bins)': oracle(F, Y, left, a.seed),
                       'oracle: features + interpolation': oracle(np.hstack([F, np.log1p(I)]).astype(np.float32), Y, left, a.seed),
                       'interpolation': score(I)})
        for m, enc in (('bcaf+cal', 'handcrafted'), ('istar+cal', 'handcrafted'), ('deephex', 'handcrafted')):
            f = method_dir(a.benchmark, vt.name, m, enc)/'prediction.h5ad'
            if f.is_file(): row[m] = score(_align(read_prediction(f), rc))
        rows.append(row); print(json.dumps(row), flush=True)
    import pandas as pd
    cmd = 'python benchmarks/feature_oracle.py ' + ' '.join(sys.argv[1:])
    write_json('benchmarks/feature_oracle.json', dict(command=cmd, git=git_commit(), machine=machine_info(), seconds=time.time() - t0, rows=rows))
    Path('benchmarks/feature_oracle.md').write_text(
        f"# How much the handcrafted features can carry at 8 µm\n\nCommand: `{cmd}`  \nCommit: {git_commit().get('commit')}; {time.time() - t0:.0f} s\n\n"
        "Mean per-gene Pearson at 8 µm on the right half of each virtual tissue. The oracles are trained on the true 8 µm bins of the "
        "left half (full supervision, which no method has: the methods learn from spots only, over the whole section).\n\n"
        + _md(pd.DataFrame(rows)) + "\n")
    print(Path('benchmarks/feature_oracle.md').read_text())

if __name__ == '__main__': main()
