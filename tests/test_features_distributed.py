"Feature extraction sharded over processes: `torchrun --nproc_per_node 2` (gloo, CPU) gives the single-process map."
import json, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import timm
import torch

from deephex.features import extract_features, load_feature_map, synthetic_domains, synthetic_he

ROOT = Path(__file__).resolve().parents[1]

WORKER = '''
import json, sys
from pathlib import Path
import numpy as np
from deephex.features import extract_features
image, weights, cache = sys.argv[1:4]
img = np.load(image, mmap_mode='r')
for enc, kw in (('timm:vit_tiny_patch16_224', dict(weights=weights, model_kwargs=dict(depth=2), batch_size=2)), ('handcrafted', {})):
    fm = extract_features(img, enc, device='cpu', cache_dir=cache, progress=False, **kw)
    (Path(cache)/f"stats_{fm.encoder}_{fm.stats['rank']}.json").write_text(json.dumps(dict(encoder=fm.encoder, **fm.stats)))
'''


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    "A 3 x 3-tile synthetic section (some glass) and a tiny 2-block ViT checkpoint."
    d = tmp_path_factory.mktemp('dist')
    dom = synthetic_domains((42, 42), seed=2)
    dom[:14, :14] = 0                                    # one tile of glass: skipped by every process
    np.save(d/'he.npy', synthetic_he(dom, seed=2))
    torch.manual_seed(0)
    torch.save(timm.create_model('vit_tiny_patch16_224', depth=2, num_classes=0).state_dict(), d/'vit.bin')
    (d/'worker.py').write_text(WORKER)
    return d


def test_torchrun_two_cpu_processes_match_one(inputs):
    d = inputs
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]), 'OMP_NUM_THREADS': '1'}
    env.pop('WORLD_SIZE', None)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
           str(d/'worker.py'), str(d/'he.npy'), str(d/'vit.bin'), str(d/'multi')]
    run = subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    stats = [json.loads(f.read_text()) for f in sorted((d/'multi').glob('stats_*.json'))]
    assert len(stats) == 4 and {s['world_size'] for s in stats} == {2} and {s['rank'] for s in stats} == {0, 1}

    img = np.load(d/'he.npy')
    single = extract_features(img, 'timm:vit_tiny_patch16_224', weights=d/'vit.bin', model_kwargs=dict(depth=2),
                              device='cpu', batch_size=2, cache_dir=d/'single', progress=False)
    vit = [s for s in stats if s['encoder'] == single.encoder]
    assert sum(s['tiles_computed'] for s in vit) == single.stats['tiles_tissue'] == 8   # every tissue tile exactly once ...
    assert all(s['tiles_computed'] > 0 for s in vit)                                    # ... shared by both processes
    multi = load_feature_map(d/'multi'/'features'/single.encoder, mmap=False)
    np.testing.assert_allclose(multi.features, single.features, rtol=1e-3, atol=1e-3)
    assert np.array_equal(multi.background, single.background) and multi.background[:14, :14].all()

    hc_single = extract_features(img, device='cpu', progress=False)
    hc_multi = load_feature_map(d/'multi'/'features'/'handcrafted', mmap=False)
    np.testing.assert_allclose(hc_multi.features, hc_single.features, rtol=2e-3, atol=2e-3)   # float16 on disk
