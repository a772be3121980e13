"""variants.py: the one-change-at-a-time ablations of the seed's model (issue 29), applied at
runtime to the imported seed model (github:abi2024/DeepSeek-V3-Architecture-Implementation,
src/model.py), never a copy of it. Each variant changes exactly one modelling or training choice
of the seed towards what moescope's C++ trainer does (or, for `prop_bias`, towards a gentler
balancing rule); `base` changes nothing.

Router variants replace DeepSeekRouter.forward on the instance with a function that keeps the
seed's steps (raw logits = gate(x) [T, E], optional additive jitter, bias, top-k, the per-batch
sign update of the bias) and changes one of them. Model variants change the module tree or the
initial weights; training variants change the optimizer or the lr schedule (harness.py reads
them from TRAINING).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# name -> one line (the README's ablation table uses these)
VARIANTS = {
    "base": "the seed's model and training as they are (scaled)",
    "bias_select_only": "expert bias used for the top-k selection only; the output weights are the unbiased softmax, "
                        "renormalised over the selected experts (DeepSeek-V3, moescope's default)",
    "no_renorm": "top-k weights are the softmax over all experts, not renormalised over the selected ones "
                 "(norm_topk_prob = false)",
    "bias_on_scores": "expert bias added to the softmax scores instead of the logits, for the selection and the "
                      "output weights (moescope's router with moe.bias_in_weights, as configs/seed-iter1.toml)",
    "prop_bias": "bias update proportional to the load error (u * E * (mean load - load)) instead of its sign",
    "zero_center_bias": "each sign update of the bias made zero-mean (moe.bias_zero_center)",
    "dense_first": "layer 0 a dense SwiGLU FFN as wide as a MoE layer's active experts (3 x intermediate), "
                   "as moescope's first_k_dense = 1",
    "scaled_init": "moescope's scaled_normal initialisation: every Linear/Embedding N(0, 0.02^2), o_proj and w2 "
                   "N(0, (0.02 / sqrt(2 n_layers))^2), embeddings still tied",
    "untied": "separate output head (default nn.Linear init) instead of the tied N(0, 1) embedding",
    "cosine_lr": "moescope's schedule: 100 warmup steps, cosine decay to 0.1 x lr (the seed: constant lr)",
    "wd_0.1": "AdamW weight decay 0.1 (moescope's configs) instead of PyTorch's default 0.01",
}

TRAINING = {"cosine_lr", "wd_0.1"}


def router_forward(router, variant: str):
    """A forward for one seed DeepSeekRouter instance implementing `variant` (None for the
    variants that leave the router alone). Returns (top_k_weights [T, K], top_k_indices [T, K],
    probs [T, E]) as the seed's router does."""
    if variant not in ("bias_select_only", "bias_on_scores", "no_renorm", "prop_bias", "zero_center_bias"):
        return None

    def forward(x, training=True):
        flat_x = x.view(-1, x.shape[-1])                 # [T, D]
        logits = router.gate(flat_x)                     # [T, E]
        if training and router.jitter_noise > 0:
            logits = logits + torch.randn_like(logits) * router.jitter_noise
        biased = logits + router.expert_bias             # [T, E]
        probs = F.softmax(biased, dim=-1)
        _, idx = torch.topk(biased, router.top_k, dim=-1)  # same choice as topk(probs)
        if variant == "bias_on_scores":
            probs = F.softmax(logits, dim=-1)
            _, idx = torch.topk(probs + router.expert_bias, router.top_k, dim=-1)
            w = probs.gather(1, idx) + router.expert_bias[idx]
            w = w / (w.sum(dim=-1, keepdim=True) + 1e-20)
        elif variant == "bias_select_only":
            w = F.softmax(logits, dim=-1).gather(1, idx)
            w = w / w.sum(dim=-1, keepdim=True)
        else:
            w = probs.gather(1, idx)
            if variant != "no_renorm":
                w = w / w.sum(dim=-1, keepdim=True)
        if training:
            with torch.no_grad():
                E = router.num_experts
                mask = F.one_hot(idx, num_classes=E).sum(dim=1)
                load = mask.sum(0) / mask.sum()
                err = load - 1.0 / E
                if variant == "prop_bias":
                    router.expert_bias -= router.bias_update_rate * E * err
                else:
                    upd = torch.sign(err)
                    if variant == "zero_center_bias":
                        upd = upd - upd.mean()
                    router.expert_bias -= router.bias_update_rate * upd
        return w, idx, probs

    return forward


class DenseFFN(nn.Module):
    """A dense SwiGLU FFN in place of a MoE block: returns (out [B, L, D], None) like the seed's
    DeepSeekMoELayer returns (out, router probs)."""

    def __init__(self, hidden: int, inner: int):
        super().__init__()
        self.w1 = nn.Linear(hidden, inner, bias=False)
        self.w2 = nn.Linear(inner, hidden, bias=False)
        self.w3 = nn.Linear(hidden, inner, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x)), None


def apply_model_variant(model, cfg, variant: str):
    """Changes the model in place for the model variants; returns the indices of the layers
    that still have a MoE block."""
    moe_layers = list(range(len(model.layers)))
    if variant == "dense_first":
        model.layers[0].mlp = DenseFFN(cfg.hidden_size, 3 * cfg.intermediate_size)
        moe_layers = moe_layers[1:]
    elif variant == "scaled_init":
        std, out_std = 0.02, 0.02 / math.sqrt(2 * cfg.num_hidden_layers)
        with torch.no_grad():
            for name, mod in model.named_modules():
                if isinstance(mod, (nn.Linear, nn.Embedding)):
                    last = name.rsplit(".", 1)[-1]
                    mod.weight.normal_(0.0, out_std if last in ("o_proj", "w2") else std)
    elif variant == "untied":
        model.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
    return moe_layers


def lr_at(step: int, lr: float, steps: int, variant: str) -> float:
    """The learning rate of optimizer step `step` (0-based)."""
    if variant != "cosine_lr":
        return lr
    warm = 100
    if step < warm:
        return lr * (step + 1) / warm
    t = (step - warm) / max(1, steps - warm)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))
