"RSS around each function of the model step: python benchmarks/prototypes/memory_profile_model.py run --input visium_hd:DATA --out COPY_OF_A_RUN --genes 1000 --quiet --no-figures (a copy of a finished run without prediction.h5ad and model/bundle.json, so training resumes and only the model step reruns)."
import threading, time, psutil, sys, functools
proc = psutil.Process(); st = {'max': 0}
def sampler():
    while True: st['max'] = max(st['max'], proc.memory_info().rss/1e9); time.sleep(0.05)
threading.Thread(target=sampler, daemon=True).start()
import deephex.fusion as fu, deephex.pipeline as pl, deephex.train as tr
def wrap(mod, name):
    f = getattr(mod, name)
    @functools.wraps(f)
    def g(*a, **k):
        before = proc.memory_info().rss/1e9; st['max'] = before; t = time.time()
        out = f(*a, **k)
        print(f"{name:24s} rss in {before:.2f} peak {st['max']:.2f} out {proc.memory_info().rss/1e9:.2f} GB, {time.time()-t:.0f} s", flush=True)
        st['max'] = max(st['max'], proc.memory_info().rss/1e9)
        return out
    setattr(mod, name, g)
for n in ('train_states', 'heldout_routes', 'histology_summary', 'fit_expression_route', 'predict_anndata', 'blend_routes', 'calibrate_to_spots', 'fuse', 'save_bundle'): wrap(fu, n)
for n in ('fit_model', 'write_prediction', 'enhance_spots'): wrap(pl, n)
from deephex.cli import main
main(sys.argv[1:])
