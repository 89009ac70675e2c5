"""Throughput of `deephex.features` on this machine.

Measures
1. ViT-L/16 with UNI's exact architecture (random weights: nothing is downloaded), fp32 vs bf16 autocast,
   seconds per 224 px tile, and how close bf16 features are to fp32 (cosine similarity);
2. the pipeline's end-to-end tiles/s (`extract_features`: reading windows, normalising, the model, cropping,
   stitching, and with a cache the float16 memmap writes) against the bare model forward on the same tiles;
3. the handcrafted encoder on a full 6.5 mm capture (13,216 x 13,216 px analysis image, 826 x 826 superpixels):
   wall time and peak memory, in a fresh process;
4. the projected time of a full capture with UNI on this CPU.

Run from the repository root (writes benchmarks/features_throughput.json and .md):

    python benchmarks/features_throughput.py
    python benchmarks/features_throughput.py --quick     # small sizes, a smoke test (does not overwrite the results)
"""
import argparse, json, os, platform, resource, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from deephex.core import Geometry
from deephex.features import (TileEncoder, extract_features, load_encoder, read_window, synthetic_domains, synthetic_he,
                              uni_architecture)


def machine()->dict:
    "CPU, cores, memory, library versions."
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    mem = next((int(l.split()[1])/2**20 for l in open('/proc/meminfo') if l.startswith('MemTotal')), None)
    import timm, scipy, skimage
    return dict(cpu=cpu, cores=os.cpu_count(), memory_gb=round(mem, 1) if mem else None, torch_threads=torch.get_num_threads(),
                python=platform.python_version(), torch=torch.__version__, timm=timm.__version__, numpy=np.__version__,
                scipy=scipy.__version__, skimage=skimage.__version__, cuda=torch.cuda.is_available(), platform=platform.platform())


def loadavg()->list: return [round(v, 2) for v in os.getloadavg()]


def tissue_image(tiles:int, seed:int=0)->np.ndarray:
    "A synthetic H&E analysis image of tiles x tiles 224 px tiles, tissue everywhere (no glass)."
    return synthetic_he(synthetic_domains((14*tiles, 14*tiles), n_domains=4, seed=seed) + 1, seed=seed)


def tile_batches(image, n, batch_size):
    "The first n tiles of an image as uint8 tensors in batches."
    T = 224
    idx = [(i, j) for i in range(image.shape[0]//T) for j in range(image.shape[1]//T)][:n]
    x = torch.from_numpy(np.stack([read_window(image, i*T, j*T, T, T) for i,j in idx]))
    return [x[k:k+batch_size] for k in range(0, len(x), batch_size)]


def forward_seconds(enc, batches, precision)->float:
    "Wall time of the bare model forward over the batches (inference mode, autocast for bf16)."
    t = time.perf_counter()
    with torch.inference_mode(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=precision == 'bf16'):
        for x in batches: enc(x)
    return time.perf_counter() - t


def bench_vit_l(n_tiles:int, batch_size:int, repeats:int=3)->dict:
    "UNI's ViT-L/16, random weights: seconds per tile in fp32 and bf16 (interleaved, best of `repeats`), bf16-vs-fp32 cosine."
    t = time.perf_counter(); enc = TileEncoder(uni_architecture(), 'uni').eval(); build = time.perf_counter() - t
    batches = tile_batches(tissue_image(2), n_tiles, batch_size)
    out = dict(model='vit_large_patch16_224 + UNI kwargs (init_values=1e-5, dynamic_img_size=True), random weights',
               params_M=round(sum(p.numel() for p in enc.parameters())/1e6, 1), build_s=round(build, 2), tiles=n_tiles, batch_size=batch_size, repeats=repeats)
    for prec in ('fp32', 'bf16'): forward_seconds(enc, batches[:1], prec)      # warm-up
    times = dict(fp32=[], bf16=[]); loads = []
    for _ in range(repeats):                                                # interleaved: the machine's load drifts
        for prec in ('fp32', 'bf16'): times[prec].append(forward_seconds(enc, batches, prec)/n_tiles)
        loads.append(loadavg())
    for prec in ('fp32', 'bf16'): out[f's_per_tile_{prec}'] = round(min(times[prec]), 3)
    feats = {}
    for prec in ('fp32', 'bf16'):
        with torch.inference_mode(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=prec == 'bf16'):
            feats[prec] = enc(batches[0]).float().reshape(-1, enc.n_features)
    cos = torch.nn.functional.cosine_similarity(feats['fp32'], feats['bf16'], dim=-1)
    out.update(bf16_speedup=round(out['s_per_tile_fp32']/out['s_per_tile_bf16'], 2), bf16_cosine_min=round(float(cos.min()), 5),
               bf16_cosine_mean=round(float(cos.mean()), 5), s_per_tile_all={k: [round(x, 3) for x in v] for k,v in times.items()}, loadavg=loads)
    return out


def bench_overhead(spec:str, tiles:int, batch_size:int, repeats:int=3)->dict:
    "End-to-end extract_features vs the bare forward of the same model on the same tiles (fp32), interleaved, best of `repeats`."
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); enc = load_encoder(spec)
    t = time.perf_counter(); enc.digest; digest_s = time.perf_counter() - t      # weights sha256: once per run, cached on the encoder
    img = tissue_image(tiles, seed=1)
    n = tiles*tiles
    everywhere = np.ones((14*tiles, 14*tiles), bool)
    batches = tile_batches(img, n, batch_size)
    forward_seconds(enc, batches[:1], 'fp32')                           # warm-up
    def e2e(cache):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            fm = extract_features(img, enc, device='cpu', batch_size=batch_size, precision='fp32', tissue=everywhere,
                                  cache_dir=d if cache else None, progress=False)
            dt = time.perf_counter() - t
            assert fm.stats['tiles_computed'] == n
        return dt
    times = dict(bare=[], memory=[], cached=[])
    for _ in range(repeats):                                            # interleaved: the machine's load drifts
        times['bare'].append(forward_seconds(enc, batches, 'fp32')); times['memory'].append(e2e(False)); times['cached'].append(e2e(True))
    bare, mem, cached = (min(times[k]) for k in ('bare', 'memory', 'cached'))
    return dict(model=spec + ' (random weights)', tiles=n, batch_size=batch_size, repeats=repeats, bare_forward_tiles_per_s=round(n/bare, 2),
                pipeline_tiles_per_s=round(n/mem, 2), pipeline_cached_tiles_per_s=round(n/cached, 2),
                overhead_pct=paired_overhead(times['memory'], times['bare']), overhead_cached_pct=paired_overhead(times['cached'], times['bare']),
                weights_sha256_s=round(digest_s, 2), seconds={k: [round(x, 2) for x in v] for k,v in times.items()}, loadavg=loadavg())


def paired_overhead(pipeline:list, bare:list)->float:
    "Median over repeats of pipeline time / bare time, minus 1, in %: each pair ran back to back, so slow phases of the shared machine cancel."
    return round(100*(float(np.median(np.array(pipeline)/np.array(bare))) - 1), 1)


HANDCRAFTED_CHILD = r'''
import json, sys, time, tempfile
import numpy as np
sys.path.insert(0, sys.argv[2])
from deephex.features import extract_features
def rss():   # peak resident memory of this process, GB (VmHWM: unlike ru_maxrss it does not inherit the parent's peak)
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))/2**20
before = rss()
img = np.load(sys.argv[1])
loaded = rss()
with tempfile.TemporaryDirectory() as d:
    t = time.perf_counter()
    fm = extract_features(img, 'handcrafted', cache_dir=d, progress=False)
    dt = time.perf_counter() - t
print(json.dumps(dict(seconds=round(dt, 1), shape=list(fm.shape), peak_rss_gb=round(rss(), 2), rss_after_imports_gb=round(before, 2),
                      rss_after_image_gb=round(loaded, 2), peak_above_image_gb=round(rss() - loaded, 2),
                      tissue_superpixels=int(fm.tissue.sum()))))
'''


def bench_handcrafted(tiles:int, repeats:int=2)->dict:
    "Handcrafted features of a tiles x tiles-tile image, in a fresh process (time includes the tissue mask and the cache)."
    with tempfile.TemporaryDirectory() as d:
        path = Path(d)/'he.npy'
        t = time.perf_counter(); img = tissue_image(tiles, seed=2); gen = time.perf_counter() - t
        np.save(path, img); shape = img.shape; del img
        runs = []
        for _ in range(repeats):
            r = subprocess.run([sys.executable, '-c', HANDCRAFTED_CHILD, str(path), str(ROOT)], capture_output=True, text=True, check=True)
            runs.append(dict(json.loads(r.stdout.strip().splitlines()[-1]), loadavg=loadavg()))
    best = min(runs, key=lambda r: r['seconds'])
    return dict(image_px=list(shape[:2]), image_gb=round(float(np.prod(shape))/2**30, 2), superpixels=int(np.prod(shape[:2])//256),
                generate_s=round(gen, 1), runs=runs, seconds=best['seconds'], peak_rss_gb=best['peak_rss_gb'],
                peak_above_image_gb=best['peak_above_image_gb'])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='small sizes for a smoke test; results are not written')
    ap.add_argument('--out', default=str(ROOT/'benchmarks'/'features_throughput'), help='output path without suffix')
    a = ap.parse_args()
    q = a.quick
    res = dict(command='python benchmarks/features_throughput.py' + (' --quick' if q else ''), date=time.strftime('%Y-%m-%d %H:%M:%S'),
               machine=machine(), loadavg_start=loadavg())
    print('machine', res['machine'], 'load', res['loadavg_start'], flush=True)
    res['vit_l'] = bench_vit_l(n_tiles=2 if q else 4, batch_size=2 if q else 4, repeats=1 if q else 6); print('vit_l', res['vit_l'], flush=True)
    res['overhead_vit_small'] = bench_overhead('timm:vit_small_patch16_224', tiles=2 if q else 4, batch_size=8, repeats=2 if q else 3); print('overhead', res['overhead_vit_small'], flush=True)
    res['overhead_vit_l'] = bench_overhead('timm:vit_large_patch16_224', tiles=1 if q else 2, batch_size=4, repeats=1 if q else 4); print('overhead ViT-L', res['overhead_vit_l'], flush=True)
    full = 59                                                           # 13,216 px = 59 tiles of 224 px: a 6.5 mm capture at 0.5 µm/px
    res['handcrafted'] = bench_handcrafted(8 if q else full); print('handcrafted', res['handcrafted'], flush=True)
    v = res['vit_l']
    best = min(v['s_per_tile_fp32'], v['s_per_tile_bf16'])
    oh = max(res['overhead_vit_l']['overhead_cached_pct'], 0)/100
    n = full*full
    hours = lambda frac, s: round(frac*n*s*(1 + oh)/3600, 2)
    res['projection_uni_full_capture'] = dict(tiles_full_capture=n, s_per_tile_fp32=v['s_per_tile_fp32'], s_per_tile_bf16=v['s_per_tile_bf16'],
        pipeline_overhead_pct=round(100*oh, 1), hours_fp32_all_tissue=hours(1, v['s_per_tile_fp32']), hours_bf16_all_tissue=hours(1, v['s_per_tile_bf16']),
        hours_best_60pct_tissue=hours(0.6, best), hours_fp32_all_tissue_slowest_repeat=hours(1, max(v['s_per_tile_all']['fp32'])), note='tiles x s/tile x (1 + measured ViT-L pipeline overhead, if positive); glass tiles are skipped')
    res['loadavg_end'] = loadavg()
    print(json.dumps(res['projection_uni_full_capture']), flush=True)
    if q: return print(json.dumps(res, indent=1))
    Path(a.out + '.json').write_text(json.dumps(res, indent=1) + '\n')
    Path(a.out + '.md').write_text(report(res))
    print('wrote', a.out + '.json', a.out + '.md')


def report(r:dict)->str:
    m, v, o, ol, h, p = r['machine'], r['vit_l'], r['overhead_vit_small'], r['overhead_vit_l'], r['handcrafted'], r['projection_uni_full_capture']
    return f"""# Feature extraction throughput

Produced by `{r['command']}` (from the repository root) on {r['date']}.

Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM, no GPU; torch {m['torch']} ({m['torch_threads']} threads), timm {m['timm']},
numpy {m['numpy']}, Python {m['python']}. The machine was shared with other engineers' jobs while this ran: load average
{r['loadavg_start']} at the start, {r['loadavg_end']} at the end (per-measurement loads in the .json), so timings are noisy
(each number is the best of the repeats).

## ViT-L/16 (UNI architecture, random weights), CPU

| precision | s / tile (224 px) | tiles / s |
|---|---|---|
| fp32 | {v['s_per_tile_fp32']} | {1/v['s_per_tile_fp32']:.2f} |
| bf16 autocast | {v['s_per_tile_bf16']} | {1/v['s_per_tile_bf16']:.2f} |

{v['tiles']} tiles in batches of {v['batch_size']}, fp32 and bf16 interleaved, best of {v['repeats']} (every repeat in the .json: the spread is the
machine's load, not the model). bf16 / fp32 speed ratio: {v['bf16_speedup']}x (this EPYC has AVX-512 BF16). bf16 features agree with fp32:
cosine similarity per superpixel min {v['bf16_cosine_min']}, mean {v['bf16_cosine_mean']}. Building the 303M-parameter model with
random init took {v['build_s']} s (loading local weights skips the init: the model is built on the meta device).
{'bf16 is the faster here; ' if v['bf16_speedup'] > 1.1 else 'bf16 brings no reliable gain here; '}`precision='auto'` means fp32 on CPUs (portable: CPUs without bf16 units emulate it slowly) and bf16 on CUDA GPUs;
pass `precision='bf16'` to use it on a CPU with AVX-512 BF16 / AMX.

## Pipeline overhead (tiling, reading, stitching, cache writes) vs the bare forward

| model | tiles | batch | bare forward tiles/s | `extract_features` tiles/s | overhead | with cache (float16 memmap) | overhead |
|---|---|---|---|---|---|---|---|
| {o['model']} | {o['tiles']} | {o['batch_size']} | {o['bare_forward_tiles_per_s']} | {o['pipeline_tiles_per_s']} | {o['overhead_pct']} % | {o['pipeline_cached_tiles_per_s']} | {o['overhead_cached_pct']} % |
| {ol['model']} | {ol['tiles']} | {ol['batch_size']} | {ol['bare_forward_tiles_per_s']} | {ol['pipeline_tiles_per_s']} | {ol['overhead_pct']} % | {ol['pipeline_cached_tiles_per_s']} | {ol['overhead_cached_pct']} % |

Both fp32, tissue everywhere. The three timings run back to back in each repeat; tiles/s are the best repeat, and the
overhead is the median over repeats of (pipeline time / bare time of the same repeat) - 1, which cancels the slow and fast
phases of the shared machine (all timings in the .json).
ViT-S/16 (22M parameters, ~14x less compute per tile than ViT-L) makes the fixed per-tile costs visible; with ViT-L they
vanish in the noise. The pipeline time includes the image identity hash (sha1 of the pixels) and, with a cache, creating
the memmap files and loading the finished map back as float32. Negative overhead = within timing noise (the bare forward is
timed on pre-read batches; the pipeline reads the next batch in a background thread while the model runs). Not included:
the sha256 of the weights for the cache key, once per run and cached on the encoder ({ol['weights_sha256_s']} s for ViT-L's 1.2 GB).

## Handcrafted encoder on a full 6.5 mm capture

Analysis image {h['image_px'][0]} x {h['image_px'][1]} px ({h['image_gb']} GB uint8, {h['superpixels']:,} superpixels, synthetic H&E, tissue
everywhere), `extract_features(image, 'handcrafted', cache_dir=...)` in a fresh process, including the tissue mask, the
image hash and writing the float16 cache:

- wall time: **{h['seconds']} s** (best of {len(h['runs'])}: {', '.join(str(x['seconds']) for x in h['runs'])} s)
- peak memory: **{h['peak_rss_gb']} GB** resident in all: {h['runs'][0]['rss_after_imports_gb']} GB for Python with numpy/torch/timm/scipy imported,
  {h['runs'][0]['rss_after_image_gb']} GB once the image is loaded, and **{h['peak_above_image_gb']} GB** above that for the extraction (strip
  temporaries, the float32 map, the float16 cache pages).

## Projected full capture with UNI on this CPU

{p['tiles_full_capture']} tiles of 224 px (59 x 59) for a 6.5 mm capture, all tissue:
**{p['hours_fp32_all_tissue']} h** in fp32 ({p['hours_fp32_all_tissue_slowest_repeat']} h at the slowest repeat), **{p['hours_bf16_all_tissue']} h** in bf16; a section covering 60 % of the capture area
(glass tiles are skipped), faster precision: **{p['hours_best_60pct_tissue']} h**. ({p['note']}.) These numbers hold for a
quiet machine: during this session, runs of the same script while other engineers' jobs loaded the two cores (load average
4-6) measured 2.6-4.5 s per tile in fp32 and 1.4-2.6 s in bf16, i.e. 2.5-4.5 h for a full capture; even at the same load
average, back-to-back repeats differ up to 3x (contention the load average does not show), hence the best of many repeats. The handcrafted encoder
(seconds, no weights) stays the offline default; UNI on a whole capture belongs on a GPU or on several processes (`torchrun`).
"""


if __name__ == '__main__': main()
