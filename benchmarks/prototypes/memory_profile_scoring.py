"Peak RSS of each phase of the scoring step of a finished run: python benchmarks/prototypes/memory_profile_scoring.py RUN_DIR (e.g. runs/scaling-fused/run-6.5mm)."
import threading, time, psutil, sys, os
proc = psutil.Process(); peak = {'phase': 'start', 'max': {}}
def sampler():
    while True:
        r = proc.memory_info().rss/1e9; ph = peak['phase']
        peak['max'][ph] = max(peak['max'].get(ph, 0), r); time.sleep(0.1)
threading.Thread(target=sampler, daemon=True).start()
def mark(p): print(f"{time.strftime('%X')} {peak['phase']}: peak {peak['max'].get(peak['phase'],0):.2f} GB -> {p}", flush=True); peak['phase'] = p
from deephex.pipeline import load_sample
from deephex.evaluate import evaluate, read_prediction, predict_spot_broadcast, predict_interpolation
run = sys.argv[1]
mark('load_sample'); s = load_sample(f'{run}/sample')
mark('read_prediction'); P = read_prediction(f'{run}/prediction.h5ad')
cache = {}
mark('evaluate deephex'); m = evaluate(P, s, progress=False, _cache=cache); P = None
mark('broadcast'); B = predict_spot_broadcast(s.spots, s, s.tissue_mask)
mark('evaluate broadcast'); evaluate(B, s, progress=False, _cache=cache); B = None
mark('interpolation'); B = predict_interpolation(s.spots, s, s.tissue_mask)
mark('evaluate interpolation'); evaluate(B, s, progress=False, _cache=cache); B = None
mark('end'); time.sleep(0.3); print(peak['max'])
