"RSS around each function of the model step: python benchmarks/prototypes/memory_profile_model.py run --input visium_hd:DATA --out COPY_OF_A_RUN --genes 1000 --quiet --no-figures (a copy of a finished run without prediction.h5ad and model/bundle.json, so training resumes and only the model step reruns). RSS in GB of 1e9 bytes (the scaling benchmark reports GiB)."
import threading, time, psutil, sys, functools
proc = psutil.Process(); peaks = []            # the peak of each function call in progress (nested calls: innermost last)
def sampler():
    while True:
        rss = proc.memory_info().rss/1e9
        try:
            for i in range(len(peaks)): peaks[i] = max(peaks[i], rss)
        except IndexError: pass                                                   # a call returned meanwhile
        time.sleep(0.05)
threading.Thread(target=sampler, daemon=True).start()
import deephex.fusion as fu, deephex.pipeline as pl
def wrap(mod, name):
    f = getattr(mod, name)
    @functools.wraps(f)
    def g(*a, **k):
        before = proc.memory_info().rss/1e9; peaks.append(before); t = time.time()
        out = f(*a, **k)
        peak = max(peaks.pop(), proc.memory_info().rss/1e9)
        if peaks: peaks[-1] = max(peaks[-1], peak)                              # the caller's peak includes this call's
        print(f"{name:24s} rss in {before:.2f} peak {peak:.2f} out {proc.memory_info().rss/1e9:.2f} GB, {time.time()-t:.0f} s", flush=True)
        return out
    setattr(mod, name, g)
for n in ('train_states', 'heldout_routes', 'histology_summary', 'fit_expression_route', 'predict_anndata', 'blend_routes', 'calibrate_to_spots', 'fuse', 'save_bundle'): wrap(fu, n)
for n in ('fit_model', 'write_prediction', 'enhance_spots'): wrap(pl, n)
from deephex.cli import main
main(sys.argv[1:])
