"""Training speed on a shared CPU: seconds per epoch alone and beside a competing CPU-bound process, for the OpenMP
wait policy and thread counts deephex could use.

Run from the repository root on an otherwise quiet machine (after `make setup`):

    .venv/bin/python benchmarks/contention.py [--epochs 20] [--repeats 2]

Each measurement is a fresh process training BCAF (deephex's default widths for a Visium window) by weak supervision
on the toy section of `deephex.train.toy_inputs` (126 spots, 30 genes) for `--epochs` epochs; the competitor is a
Python busy loop pinned to nothing (it takes a core). Writes benchmarks/contention.{json,md}.
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

CHILD = r'''
import os, sys, time, json, warnings
warnings.filterwarnings('ignore')
import torch
from deephex.runtime import torch_threads, usable_cores
from deephex.train import toy_inputs, prepare_training, train_state
sample, fmap, hd, _ = toy_inputs(size_um=1344, n_genes=30, n_channels=16, seed=1)
data = prepare_training(sample, fmap, hd)
n = int(os.environ.get('DEEPHEX_THREADS') or 0) or None
with torch_threads(n):
    threads = torch.get_num_threads()
    t = time.perf_counter()
    train_state(data, epochs=int(sys.argv[1]), progress=False, leave_spot_out=False, model='bcaf', embed_dim=256, hidden=(512, 512, 512))
    print(json.dumps(dict(seconds_per_epoch=(time.perf_counter() - t)/int(sys.argv[1]), torch_threads=threads)))
'''

def measure(epochs:int, env_extra:dict, competitor:bool)->dict:
    env = {**os.environ, **env_extra}
    comp = subprocess.Popen([sys.executable, '-c', 'while True: pass']) if competitor else None
    try:
        time.sleep(0.5 if competitor else 0)
        out = subprocess.run([sys.executable, '-c', CHILD, str(epochs)], env=env, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        if comp: comp.kill(); comp.wait()

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--epochs', type=int, default=20); ap.add_argument('--repeats', type=int, default=2)
    a = ap.parse_args()
    variants = {
        'default (threads = the usable cores other processes leave free, OpenMP default wait policy)': {},
        'OMP_WAIT_POLICY=PASSIVE': {'OMP_WAIT_POLICY': 'PASSIVE'},
        'OMP_NUM_THREADS=1': {'OMP_NUM_THREADS': '1', 'DEEPHEX_THREADS': '1'},
        'OMP_NUM_THREADS=1, OMP_WAIT_POLICY=PASSIVE': {'OMP_NUM_THREADS': '1', 'DEEPHEX_THREADS': '1', 'OMP_WAIT_POLICY': 'PASSIVE'},
    }
    rows = []
    for name, env in variants.items():
        for competitor in (False, True):
            r = [measure(a.epochs, env, competitor) for _ in range(a.repeats)]
            spe = min(x['seconds_per_epoch'] for x in r)
            rows.append(dict(variant=name, competitor=competitor, seconds_per_epoch=round(spe, 3), torch_threads=r[0]['torch_threads']))
            print(json.dumps(rows[-1]), flush=True)
    quiet = {r['variant']: r['seconds_per_epoch'] for r in rows if not r['competitor']}
    base = quiet['default (threads = the usable cores other processes leave free, OpenMP default wait policy)']
    for r in rows: r['slowdown vs quiet default'] = round(r['seconds_per_epoch']/base, 2)
    cmd = 'python benchmarks/contention.py ' + ' '.join(sys.argv[1:])
    from deephex.benchmark import git_commit, machine_info, _md
    from deephex.runtime import write_json
    import pandas as pd
    write_json('benchmarks/contention.json', dict(command=cmd, git=git_commit(), machine=machine_info(), rows=rows))
    Path('benchmarks/contention.md').write_text(
        f"# Training on a shared CPU\n\nCommand: `{cmd}`  \nCommit: {git_commit().get('commit')}; {time.strftime('%Y-%m-%dT%H:%M:%S')}; "
        f"{os.cpu_count()} cores\n\nSeconds per epoch (the best of {a.repeats} fresh processes), alone and beside one competing CPU-bound process.\n\n"
        + _md(pd.DataFrame(rows)) + "\n")
    print(Path('benchmarks/contention.md').read_text())

if __name__ == '__main__': main()
