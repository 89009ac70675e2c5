"""Where a training step of the histology route goes at HER2ST B4's shapes (session of 2026-12-07).

One AdamW step of BCAF (legacy ST widths: embed 128, hidden 256 x 3; 13 x 13 window, 6 gene tokens, 1000 genes,
batch 14 = the default batch for ~225 training spots), decoding the 121 disk tokens as training does, then only 40 or
24 of them, with bf16 autocast, and with the attention on PyTorch's math kernel; then a profile of 10 steps.
Run from the repository root: `python benchmarks/prototypes/training_step_probe.py` (-> training_step_probe.log).
"""
import time, torch
from torch.nn.attention import sdpa_kernel, SDPBackend
from torch.profiler import profile, ProfilerActivity
from deephex.model import BCAF
torch.set_num_threads(2); torch.manual_seed(0)
B, N, C, G, K = 14, 169, 58, 1000, 6
m = BCAF(C, G, embed_dim=128, hidden=(256, 256, 256))
opt = torch.optim.AdamW(m.parameters(), 1e-4)
h, g, y = torch.randn(B, N, C), torch.rand(B, K, G), torch.rand(B, G)
disk = torch.arange(121)
def step(tok, bf16=False):
    with torch.autocast('cpu', torch.bfloat16, enabled=bf16): p, _ = m(h, g, tok)
    loss = torch.nn.functional.mse_loss(p.float().mean(1), y)
    opt.zero_grad(); loss.backward(); opt.step()
def timed(name, tok, bf16=False, n=40):
    for _ in range(5): step(tok, bf16)
    t = time.perf_counter()
    for _ in range(n): step(tok, bf16)
    print(f'{name:28s} {1000*(time.perf_counter() - t)/n:.1f} ms/step', flush=True)
timed('121 disk tokens (training)', disk)
timed('40 disk tokens', disk[:40])
timed('24 disk tokens', disk[:24])
timed('121, bf16 autocast', disk, True)
with sdpa_kernel(SDPBackend.MATH):
    timed('121, math attention', disk)
with profile(activities=[ProfilerActivity.CPU]) as prof:
    for _ in range(10): step(disk)
print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=10))
