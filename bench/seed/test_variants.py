"""test_variants.py: the seed-harness ablations (variants.py) against naive per-token references,
on a stand-in router with the seed DeepSeekRouter's attributes (no seed code needed).

    .venv/bin/python -m pytest bench/seed/test_variants.py
"""
import math
import os
import sys

import pytest
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import variants as V  # noqa: E402

E, K, D, T = 6, 2, 5, 40


class StandIn(nn.Module):
    """The attributes router_forward reads from a seed DeepSeekRouter."""

    def __init__(self, rate=0.01):
        super().__init__()
        self.num_experts, self.top_k, self.jitter_noise, self.bias_update_rate = E, K, 0.0, rate
        self.gate = nn.Linear(D, E, bias=False)
        self.register_buffer("expert_bias", torch.linspace(-0.3, 0.4, E))


def naive(router, x, variant):
    """Per token, by hand: the experts with the largest logit + bias, their weights, the update."""
    b = router.expert_bias.clone()
    ws, ids = [], []
    counts = [0] * E
    for t in range(x.shape[0]):
        lg = [float(v) for v in router.gate.weight.detach() @ x[t]]
        biased = [math.exp(lg[i] + float(b[i])) for i in range(E)]
        plain = [math.exp(v) for v in lg]
        if variant == "bias_on_scores":
            p = [v / sum(plain) for v in plain]
            sel = sorted(range(E), key=lambda i: -(p[i] + float(b[i])))[:K]
        else:
            sel = sorted(range(E), key=lambda i: -(lg[i] + float(b[i])))[:K]
        if variant == "bias_on_scores":
            w = [(p[i] + float(b[i])) / sum(p[j] + float(b[j]) for j in sel) for i in sel]
        elif variant == "bias_select_only":
            w = [plain[i] / sum(plain[j] for j in sel) for i in sel]
        elif variant == "no_renorm":
            w = [biased[i] / sum(biased) for i in sel]
        else:
            w = [biased[i] / sum(biased[j] for j in sel) for i in sel]
        ws.append(w)
        ids.append(sel)
        for i in sel:
            counts[i] += 1
    err = [c / (K * x.shape[0]) - 1 / E for c in counts]
    if variant == "prop_bias":
        upd = [router.bias_update_rate * E * e for e in err]
    else:
        s = [float((e > 0) - (e < 0)) for e in err]
        if variant == "zero_center_bias":
            s = [v - sum(s) / E for v in s]
        upd = [router.bias_update_rate * v for v in s]
    return torch.tensor(ws), torch.tensor(ids), b - torch.tensor(upd, dtype=b.dtype)


@pytest.mark.parametrize("variant", ["bias_select_only", "bias_on_scores", "no_renorm", "prop_bias", "zero_center_bias"])
def test_router_variant_matches_naive(variant):
    torch.manual_seed(3)
    r = StandIn()
    x = torch.randn(T, D)
    w_ref, ids_ref, bias_ref = naive(r, x, variant)
    with torch.no_grad():
        w, ids, probs = V.router_forward(r, variant)(x.view(4, T // 4, D), True)
    assert torch.equal(ids, ids_ref)
    assert torch.allclose(w.double(), w_ref.double(), atol=1e-6)
    assert torch.allclose(probs.sum(-1), torch.ones(T), atol=1e-6)
    assert torch.allclose(r.expert_bias, bias_ref, atol=1e-7)
    if variant == "zero_center_bias":
        assert abs(float((r.expert_bias - torch.linspace(-0.3, 0.4, E)).sum())) < 1e-6


def test_no_update_outside_training():
    r = StandIn()
    before = r.expert_bias.clone()
    with torch.no_grad():
        V.router_forward(r, "prop_bias")(torch.randn(T, D), False)
    assert torch.equal(r.expert_bias, before)


def test_model_and_training_variants():
    assert V.router_forward(StandIn(), "untied") is None
    assert V.lr_at(5, 1e-3, 1000, "base") == 1e-3
    assert V.lr_at(0, 1e-3, 1000, "cosine_lr") == pytest.approx(1e-5)
    assert V.lr_at(99, 1e-3, 1000, "cosine_lr") == pytest.approx(1e-3)
    assert V.lr_at(1000, 1e-3, 1000, "cosine_lr") == pytest.approx(1e-4)
    assert set(V.TRAINING) <= set(V.VARIANTS)
