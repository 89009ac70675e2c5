"""Prototype: DeepHEx fusion with an expression route (scratch; ported to nbs/07, 08 when it works)."""
import math, time, json, warnings, hashlib
import numpy as np, scipy.sparse as sp, torch, torch.nn as nn, torch.nn.functional as F
from pathlib import Path
from scipy.spatial import cKDTree
from deephex.train import (tissue_superpixels, feature_stats, gather_windows, window_offsets, nearest_expression,
                           leave_spot_out_neighbours, _enhancement_of, window_centres, blend_weights, _dense)
from deephex.enhance import enhance_spots, enhancement_weights
from deephex.model import token_mlp

class Fusion(nn.Module):
    def __init__(self, n_features, n_genes, tok_um, embed_dim=256, n_heads=8, hidden=(512,512,512), pitch_um=100.,
                 gene_residual=True, additive=False, learned_prior=True, pos=True, negative_slope=0.1, dropout=0., mix=False, shape=False, shape_sigma=None, rk=False, rk_hidden=(256, 256)):
        super().__init__()
        D = embed_dim
        self.register_buffer('tok_um', torch.as_tensor(tok_um, dtype=torch.float32))   # (N, 2) offsets of window tokens, µm
        self.pitch = float(pitch_um)
        self.histology_proj = nn.Linear(n_features, D); self.gene_proj = nn.Linear(n_genes, D)
        self.pos = pos
        if pos: self.pos_proj = nn.Sequential(nn.Linear(2, 64), nn.GELU(), nn.Linear(64, D))
        mha = lambda: nn.MultiheadAttention(D, n_heads, dropout=dropout, batch_first=True)
        self.img_guided, self.gene_guided, self.match_guided = mha(), mha(), mha()
        self.residual = nn.Linear(D, D)
        self.gene_residual = gene_residual
        self.mlp = token_mlp(D + n_features, hidden, dropout, negative_slope)
        self.mod = nn.Linear(hidden[-1], n_genes); nn.init.zeros_(self.mod.weight); nn.init.zeros_(self.mod.bias)
        self.additive = additive
        if additive: self.add = nn.Linear(hidden[-1], n_genes); nn.init.zeros_(self.add.weight); nn.init.constant_(self.add.bias, -4.)
        self.log_sigma = nn.Parameter(torch.tensor(math.log(0.5)))      # prior bandwidth, in spot pitches
        self.learned_prior = learned_prior
        if learned_prior:
            self.pq = nn.Linear(D, 32); self.pk = nn.Linear(D, 32); nn.init.zeros_(self.pq.weight); nn.init.zeros_(self.pq.bias)
        self.negative_slope = negative_slope
        self.use_mix = mix
        self.rk = rk
        if rk:
            from deephex.model import GeneHead
            self.h_mlp = token_mlp(n_features, rk_hidden, dropout, negative_slope); self.h_head = GeneHead(rk_hidden[-1], n_genes)
            self.rk_a = nn.Parameter(torch.ones(n_genes)); self.rk_b = nn.Parameter(torch.ones(n_genes))
            self.rk_c = nn.Parameter(torch.ones(n_genes)); self.rk_d = nn.Parameter(torch.zeros(n_genes))
        self.shape = shape
        if shape:
            from deephex.model import GeneHead
            self.hist_head = GeneHead(hidden[-1], n_genes)
            self.shape_sigma = shape_sigma
        if mix:
            self.mix = nn.Linear(n_genes, n_genes)
            with torch.no_grad(): self.mix.weight.copy_(torch.eye(n_genes)); self.mix.bias.zero_()
            self.mix.requires_grad_(False)
    def raw_prior(self, genes, gene_um, tok, h2=None, s2=None):
        d2 = ((tok[None, :, None, :] - gene_um[:, None, :, :])**2).sum(-1)/self.pitch**2
        logits = -d2/(2*torch.exp(2*self.log_sigma))
        if self.learned_prior and h2 is not None: logits = logits + torch.einsum('bnd,bkd->bnk', self.pq(h2), self.pk(s2))/math.sqrt(32)
        return torch.einsum('bnk,bkg->bng', torch.softmax(logits, -1), genes)
    def fused(self, hist, genes, gene_um):
        "BCAF's three cross-attentions (with token positions when `pos`): projected histology h, gene tokens s, and [fused, hist]."
        h = self.histology_proj(hist); s = self.gene_proj(genes)
        if self.pos:
            h = h + self.pos_proj(self.tok_um/self.pitch)[None]
            s = s + self.pos_proj(gene_um/self.pitch)
        c = self.img_guided(h, s, s, need_weights=False)[0]
        e = self.gene_guided(s, h, h, need_weights=False)[0]
        f = self.match_guided(c, e, e, need_weights=False)[0]
        f = f + F.leaky_relu(self.residual(f), self.negative_slope)
        if self.gene_residual: f = f + c
        return h, s, torch.cat([f, hist], -1)
    def forward(self, hist, genes, gene_um, tokens=None, tok_feat=None):
        if self.rk: return self.forward_rk(hist, genes, gene_um, tokens, tok_feat)
        B, N, _ = hist.shape
        h, s, x = self.fused(hist, genes, gene_um)
        tok = self.tok_um
        if self.shape:
            z_all = self.mlp(x)
            hh = self.hist_head(z_all)                                            # (B, N, G) BCAF's own prediction
            if self.shape_sigma:
                d2 = ((self.tok_um[:, None] - self.tok_um[None])**2).sum(-1)
                K = torch.exp(-d2/(2*self.shape_sigma**2)); K = K/K.sum(1, keepdim=True)
                loc = torch.einsum('nk,bkg->bng', K, hh)
            else: loc = hh.mean(1, keepdim=True)
            sh = hh/loc
            if tokens is not None: z, sh, hh = z_all[:, tokens], sh[:, tokens], hh[:, tokens]
            else: z = z_all
            if tokens is not None: tok, h2, s2 = tok[tokens], h[:, tokens], s
            else: h2, s2 = h, s
        else:
            if tokens is not None: x, tok, h2, s2 = x[:, tokens], tok[tokens], h[:, tokens], s
            else: h2, s2 = h, s
            z = self.mlp(x)
        prior = self.raw_prior(genes, gene_um, tok, h2, s2)
        if self.use_mix: prior = F.softplus(self.mix(torch.log1p(prior)), beta=10)
        pred = (prior + 1e-3)*torch.exp(self.mod(z).clamp(max=10))
        if self.shape: pred = pred*sh; self._hist = hh
        if self.additive: pred = pred + F.softplus(self.add(z))
        return pred, z

class Data:
    "Prepared inputs; scaling by per-gene sd (scale only)."
    def __init__(self, sample, feature_map, genes=None, k=6, scale='sd'):
        spots = sample.spots
        if 'in_tissue' in spots.obs: spots = spots[np.asarray(spots.obs['in_tissue']).astype(bool)]
        self.sample, self.spots, self.k = sample, spots, k
        self.genes = list(spots.var_names) if genes is None else genes
        self.fm = np.ascontiguousarray(feature_map)
        self.tissue = tissue_superpixels(sample, feature_map)
        self.mean, self.std = feature_stats(feature_map, self.tissue)
        self.offsets, self.in_disk = window_offsets(sample.geometry)
        g = sample.geometry
        self.um_per_fullres = sample.um_per_px
        self.tok_um = self.offsets.astype(np.float32)*g.superpixel_um
        Y = _dense(spots[:, self.genes].X).astype(np.float64)
        self.s = Y.std(0) if scale == 'sd' else Y.max(0)
        self.s[self.s <= 0] = 1
        self.Y = torch.from_numpy((Y/self.s).astype(np.float32))
        self.hd = enhance_spots(spots[:, self.genes], g, sample.um_per_px)
        self.hd_xy = np.asarray(self.hd.obsm['spatial'], float)
        self.hd_scaled = torch.from_numpy((_dense(self.hd.X)/self.s).astype(np.float32))
        self.spot_xy = np.asarray(spots.obsm['spatial'], float)
        self.spot_rc = sample.grid.to_superpixel(self.spot_xy)
        self.W = _enhancement_of(spots, sample, self.hd_xy)
        self.lso = leave_spot_out_neighbours(self.hd_xy, self.W, self.spot_xy, k)
        self.full = nearest_expression(self.hd_xy, self.spot_xy, k)
        self.tree = cKDTree(self.hd_xy)
        self.pitch_um = g.spot_pitch_um
    @property
    def n_disk(self): return int(self.in_disk.sum())
    def hist(self, rc): return gather_windows(self.fm, rc, self.offsets, self.mean, self.std)
    def tokens(self, nbrs, centre_xy):
        g = self.hd_scaled[torch.from_numpy(np.asarray(nbrs))]
        rel = (self.hd_xy[nbrs] - centre_xy[:, None, :])*self.um_per_fullres
        return g, torch.from_numpy(rel.astype(np.float32))
    def tok_feat(self, nbrs):
        if not hasattr(self, '_hd_feat'):
            rc = self.sample.grid.to_superpixel(self.hd_xy, clip=True)
            self._hd_feat = gather_windows(self.fm, rc, np.array([[0, 0]]), self.mean, self.std)[:, 0]
        return self._hd_feat[torch.from_numpy(np.asarray(nbrs))]

def train(data, model, epochs=200, lr=1e-3, bs=None, seed=0, es=20, val_frac=0.1, wd=0., mask='lso', log=False, mix=0.5):
    rng = np.random.default_rng(seed)
    n = len(data.spot_rc)
    order = rng.permutation(n)
    n_val = max(1, round(val_frac*n)) if es else 0
    val, tr = np.sort(order[:n_val]), np.sort(order[n_val:])
    if getattr(model, 'use_mix', False): fit_mix(model, data, tr)
    bs = bs or min(32, max(1, len(tr)//16))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    disk = torch.from_numpy(np.nonzero(data.in_disk)[0])
    def loss_of(idx, nb):
        h = data.hist(data.spot_rc[idx]); g, rel = data.tokens(nb[idx], data.spot_xy[idx])
        p, _ = model(h, g, rel, disk, tok_feat=data.tok_feat(nb[idx]))
        l = F.mse_loss(p.mean(1), data.Y[idx])
        if (getattr(model, 'shape', False) or getattr(model, 'rk', False)) and model.training: l = l + F.mse_loss(model._hist.mean(1), data.Y[idx])
        return l
    best, best_val, bad, hist = None, None, 0, []
    ep = -1
    for ep in range(epochs):
        model.train(); perm = tr[rng.permutation(len(tr))]; tot = 0
        for b in range(0, len(perm), bs):
            idx = perm[b:b+bs]
            nb = data.lso if mask == 'lso' else (data.full if mask == 'none' else np.where(rng.random(len(data.lso))[:, None] < mix, data.lso, data.full))
            l = loss_of(idx, nb)
            opt.zero_grad(); l.backward(); opt.step(); tot += l.item()*len(idx)
        if n_val:
            model.eval()
            with torch.no_grad(): vl = loss_of(val, data.lso).item()
            hist.append((tot/len(tr), vl))
            if best_val is None or vl < best_val: best_val, bad, best = vl, 0, {k: v.clone() for k, v in model.state_dict().items()}
            else: bad += 1
            if bad >= es: break
        else: hist.append((tot/len(tr),))
    if best is not None: model.load_state_dict(best)
    return model.eval(), dict(epochs=ep+1, hist=hist, best_val=best_val)

@torch.no_grad()
def predict(data, models, region=None, stride=None):
    W = data.sample.geometry.window_size
    stride = stride or W//2 + 1
    target = data.tissue if region is None else data.tissue & region
    centres = window_centres(target, W, stride, 'tent')
    w = torch.from_numpy(blend_weights(data.offsets, stride, 'tent'))
    rc = np.argwhere(target)
    index = np.full(target.shape, -1, np.int64); index[rc[:, 0], rc[:, 1]] = np.arange(len(rc))
    n, G = len(rc), len(data.genes)
    X = torch.zeros(n, G); ws = torch.zeros(n, dtype=torch.float64)
    grid = data.sample.grid
    for b in range(0, len(centres), 256):
        cen = centres[b:b+256]
        pos = cen[:, None] + data.offsets[None]
        inside = (pos >= 0).all(-1) & (pos[..., 0] < index.shape[0]) & (pos[..., 1] < index.shape[1])
        idx = np.where(inside, index[pos[..., 0].clip(0, index.shape[0]-1), pos[..., 1].clip(0, index.shape[1]-1)], -1)
        sel = torch.from_numpy(np.nonzero((idx >= 0).ravel())[0])
        if len(sel) == 0: continue
        cxy = grid.superpixel_centres(cen)
        nb = nearest_expression(data.hd_xy, cxy, data.k, data.tree)
        h = data.hist(cen); g, rel = data.tokens(nb, cxy)
        P = torch.stack([m(h, g, rel, tok_feat=data.tok_feat(nb))[0] for m in models]).median(0).values.reshape(-1, G)[sel]
        tgt = torch.from_numpy(idx.ravel())[sel]; wt = w.repeat(len(cen))[sel]
        X.index_add_(0, tgt, P*wt[:, None]); ws.index_add_(0, tgt, wt.double())
    X = (X/ws[:, None].float()).numpy()*(data.s/data.n_disk).astype(np.float32)
    return rc, X


def _forward_rk(self, hist, genes, gene_um, tokens, tok_feat):
    h, s, x = self.fused(hist, genes, gene_um)
    tok = self.tok_um; hist_sel = hist
    if tokens is not None: x, tok, h, hist_sel = x[:, tokens], tok[tokens], h[:, tokens], hist[:, tokens]
    z = self.mlp(x)
    hi = self.h_head(self.h_mlp(hist_sel))                                  # histology-only expression at each superpixel
    hj = self.h_head(self.h_mlp(tok_feat))                                  # ... and at each gene token
    d2 = ((tok[None, :, None, :] - gene_um[:, None, :, :])**2).sum(-1)/self.pitch**2
    logits = -d2/(2*torch.exp(2*self.log_sigma))
    if self.learned_prior: logits = logits + torch.einsum('bnd,bkd->bnk', self.pq(h), self.pk(s))/math.sqrt(32)
    a = torch.softmax(logits, -1)
    P = torch.einsum('bnk,bkg->bng', a, genes)
    if self.use_mix: P = F.softplus(self.mix(torch.log1p(P)), beta=10)
    H = torch.einsum('bnk,bkg->bng', a, hj)
    eps = 1e-2
    logp = self.rk_a*torch.log(hi + eps) + self.rk_b*torch.log(P + eps) - self.rk_c*torch.log(H + eps) + self.rk_d + self.mod(z)
    self._hist = hi
    return torch.exp(logp.clamp(max=10)), z
Fusion.forward_rk = _forward_rk

@torch.no_grad()
def fit_mix(model, data, idx):
    "Closed-form expression route: ridge (per-gene alpha by LOO) from log1p(leave-spot-out prior) to the spot targets."
    from sklearn.linear_model import RidgeCV
    disk = torch.from_numpy(np.nonzero(data.in_disk)[0])
    g, rel = data.tokens(data.lso[idx], data.spot_xy[idx])
    P = model.raw_prior(g, rel, model.tok_um[disk]).mean(1).numpy().astype(np.float64)
    X = np.log1p(P); Y = data.Y[idx].numpy().astype(np.float64)
    mu, sd = X.mean(0), X.std(0); sd[sd < 1e-9] = 1
    r = RidgeCV(alphas=np.logspace(-2, 5, 15), alpha_per_target=True).fit((X - mu)/sd, Y)
    W = r.coef_/sd[None, :]; b = r.intercept_ - W @ mu
    model.mix.weight.copy_(torch.from_numpy(W.astype(np.float32))); model.mix.bias.copy_(torch.from_numpy(b.astype(np.float32)))
