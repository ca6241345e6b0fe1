"""PyTorch's train step on the shapes of `pixel bench train-step`, for the comparison issue 22 asks for.

The same model as Pixel's generated graphs (Llama: RMSNorm, rotary embedding in the rotate-half
layout, grouped-query attention, SwiGLU, untied LM head), the same step (cross-entropy over every
token, backward, global-norm clipping at 1.0, AdamW with weight decay 0.01 on matrices only) and
the same LoRA (rank, alpha, target projections), in float32 eager mode on `--threads` threads.
Reads the shapes as JSON on the command line; prints one JSON line: the median step time per mode.

Run by `pixel bench train-step --pytorch PYTHON` (a Python with torch installed).
"""

import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F


class RMSNorm(torch.nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Linear(torch.nn.Module):
    """x @ W^T with an optional low-rank adapter path scale * (x A^T) B^T beside a frozen W."""

    def __init__(self, inp, out, rank=0, alpha=0.0):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(out, inp) / math.sqrt(inp))
        self.rank = rank
        if rank:
            self.weight.requires_grad_(False)
            self.a = torch.nn.Parameter(torch.randn(rank, inp) * 0.02)
            self.b = torch.nn.Parameter(torch.zeros(out, rank))
            self.scale = alpha / rank

    def forward(self, x):
        y = x @ self.weight.t()
        if self.rank:
            y = y + (x @ self.a.t()) @ self.b.t() * self.scale
        return y


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Layer(torch.nn.Module):
    def __init__(self, c, lora):
        super().__init__()
        h, hd = c["hidden"], c["headDim"]
        r, al, t = lora["rank"], lora["alpha"], set(lora["targets"])
        lin = lambda name, i, o: Linear(i, o, r if name in t else 0, al)  # noqa: E731
        self.c = c
        self.input_layernorm = RMSNorm(h, c["eps"])
        self.q_proj = lin("q_proj", h, c["heads"] * hd)
        self.k_proj = lin("k_proj", h, c["kvHeads"] * hd)
        self.v_proj = lin("v_proj", h, c["kvHeads"] * hd)
        self.o_proj = lin("o_proj", c["heads"] * hd, h)
        self.post_attention_layernorm = RMSNorm(h, c["eps"])
        self.gate_proj = lin("gate_proj", h, c["intermediate"])
        self.up_proj = lin("up_proj", h, c["intermediate"])
        self.down_proj = lin("down_proj", c["intermediate"], h)

    def forward(self, h, cos, sin, mask):
        c = self.c
        b, s, _ = h.shape
        x = self.input_layernorm(h)
        q = self.q_proj(x).view(b, s, c["heads"], c["headDim"]).transpose(1, 2)
        k = self.k_proj(x).view(b, s, c["kvHeads"], c["headDim"]).transpose(1, 2)
        v = self.v_proj(x).view(b, s, c["kvHeads"], c["headDim"]).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = c["heads"] // c["kvHeads"]
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(c["headDim"]) + mask
        attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, -1)
        h = h + self.o_proj(attended)
        y = self.post_attention_layernorm(h)
        return h + self.down_proj(F.silu(self.gate_proj(y)) * self.up_proj(y))


class Llama(torch.nn.Module):
    def __init__(self, c, lora):
        super().__init__()
        self.c = c
        self.embed_tokens = torch.nn.Parameter(torch.randn(c["vocab"], c["hidden"]) * 0.02)
        self.layers = torch.nn.ModuleList(Layer(c, lora) for _ in range(c["layers"]))
        self.norm = RMSNorm(c["hidden"], c["eps"])
        self.lm_head = torch.nn.Parameter(torch.randn(c["vocab"], c["hidden"]) / math.sqrt(c["hidden"]))
        if lora["rank"]:
            self.embed_tokens.requires_grad_(False)
            self.lm_head.requires_grad_(False)

    def forward(self, ids):
        c = self.c
        s = ids.shape[1]
        inv = 1.0 / (c["ropeTheta"] ** (torch.arange(0, c["headDim"], 2, dtype=torch.float32) / c["headDim"]))
        angles = torch.outer(torch.arange(s, dtype=torch.float32), inv)
        angles = torch.cat((angles, angles), dim=-1)
        cos, sin = angles.cos(), angles.sin()
        mask = torch.full((s, s), -1e9).triu(1)
        h = self.embed_tokens[ids]
        for layer in self.layers:
            h = layer(h, cos, sin, mask)
        return self.norm(h) @ self.lm_head.t()


def step_ms(c, batch, seq, lora, steps):
    torch.manual_seed(0)
    model = Llama(c, lora)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    ids = (torch.arange(batch * seq) * 7919 % c["vocab"]).view(batch, seq)
    targets = (ids + 1) % c["vocab"]
    times = []
    for i in range(steps + 2):
        t = time.perf_counter()
        logits = model(ids)
        loss = F.cross_entropy(logits.view(-1, c["vocab"]), targets.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if i >= 2:
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main():
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(spec["threads"])
    out = {"torch": torch.__version__, "threads": spec["threads"], "results": []}
    for m in spec["models"]:
        for mode in ("full", "lora"):
            lora = spec["lora"] if mode == "lora" else {"rank": 0, "alpha": 0, "targets": []}
            ms = step_ms(m["dims"], spec["batch"], spec["seq"], lora, spec["steps"])
            out["results"].append({"model": m["label"], "mode": mode, "stepMs": round(ms, 1)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
