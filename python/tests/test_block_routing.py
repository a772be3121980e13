"""test_block_routing.py: moescope.watch on the two router layouts of transformers versions
before 2026's routing refactor, written here as small modules with the published interfaces
(not transformers' code):
- "block": deepseek_v3 in transformers 4.57 - 5.0: the router (DeepseekV3TopkRouter) returns the
  logits [T, E] only; the MoE block's `route_tokens_to_experts(router_logits) -> (indices,
  weights)` picks the experts (sigmoid scores + e_score_correction_bias for the choice,
  group-limited top-k, weights from the unbiased scores). The watcher must read that method's
  indices, never recompute them.
- "pair": deepseek_v3 in transformers 4.5x: the router returns (indices, weights).
The counts the watcher logs must equal the indices captured at the class level by the test
(every call, training forwards only); an eval forward goes to the eval record; unwatch restores
the block; a router returning bare logits in a block without `route_tokens_to_experts` raises.
transformers' own dbrx (5.25), which still routes in its block, is the outside check."""
import json
import os

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import moescope  # noqa: E402

E, K, H, GROUPS, TOPK_GROUPS = 8, 2, 16, 4, 2
CAPTURED = []  # indices returned by every training-mode top-k call (class-level capture)
EVAL_CAPTURED = []  # and by every eval-mode call


class DeepseekV3TopkRouter(torch.nn.Module):
    def __init__(self, pair: bool):
        super().__init__()
        self.pair = pair
        self.top_k = K
        self.weight = torch.nn.Parameter(torch.randn(E, H) * 0.5)
        self.register_buffer("e_score_correction_bias", torch.linspace(-0.1, 0.1, E))

    def forward(self, h_TH):
        logits_TE = F.linear(h_TH.float(), self.weight.float())
        if not self.pair:
            return logits_TE
        idx_TK, w_TK = choose(logits_TE, self.e_score_correction_bias)
        if self.training and torch._C._current_graph_task_id() == -1:
            CAPTURED.append(idx_TK.detach().clone())
        return idx_TK, w_TK


def choose(logits_TE, bias_E):
    """Group-limited top-k over sigmoid scores + bias; weights from the unbiased scores."""
    scores_TE = logits_TE.sigmoid()
    choice_TE = scores_TE.detach() + bias_E
    groups_TGn = choice_TE.view(-1, GROUPS, E // GROUPS)
    top_groups_TG = groups_TGn.topk(2, dim=-1).values.sum(-1).topk(TOPK_GROUPS, dim=-1).indices
    keep_TG = torch.zeros(choice_TE.shape[0], GROUPS, dtype=torch.bool).scatter_(1, top_groups_TG, True)
    choice_TE = choice_TE.masked_fill(~keep_TG.repeat_interleave(E // GROUPS, dim=1), float("-inf"))
    idx_TK = choice_TE.topk(K, dim=-1).indices
    w_TK = scores_TE.gather(1, idx_TK)
    return idx_TK, w_TK / w_TK.sum(-1, keepdim=True)


class DeepseekV3MoE(torch.nn.Module):
    def __init__(self, pair: bool):
        super().__init__()
        self.pair = pair
        self.gate = DeepseekV3TopkRouter(pair)
        self.experts = torch.nn.ModuleList(torch.nn.Linear(H, H, bias=False) for _ in range(E))

    def route_tokens_to_experts(self, router_logits):
        idx_TK, w_TK = choose(router_logits, self.gate.e_score_correction_bias)
        if torch._C._current_graph_task_id() == -1:
            (CAPTURED if self.training else EVAL_CAPTURED).append(idx_TK.detach().clone())
        return idx_TK, w_TK

    def forward(self, x_BSH):
        h_TH = x_BSH.reshape(-1, H)
        if self.pair:
            idx_TK, w_TK = self.gate(h_TH)
        else:
            idx_TK, w_TK = self.route_tokens_to_experts(self.gate(h_TH))
        out_TH = torch.zeros_like(h_TH)
        for e in range(E):
            t, k = torch.where(idx_TK == e)
            if t.numel():
                out_TH.index_add_(0, t, self.experts[e](h_TH[t]) * w_TK[t, k, None])
        return x_BSH + out_TH.view_as(x_BSH)


class Block(torch.nn.Module):
    def __init__(self, pair):
        super().__init__()
        self.mlp = DeepseekV3MoE(pair)


class Tiny(torch.nn.Module):
    def __init__(self, pair=False, layers=2):
        super().__init__()
        self.emb = torch.nn.Embedding(32, H)
        self.layers = torch.nn.ModuleList(Block(pair) for _ in range(layers))
        self.head = torch.nn.Linear(H, 32)

    def forward(self, x):
        h = self.emb(x)
        for b in self.layers:
            h = b.mlp(h)
        return self.head(h)


def train(model, w, steps, ckpt=False):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x = torch.randint(0, 32, (4, 8), generator=g)
        if ckpt:
            h = model.emb(x)
            for b in model.layers:
                h = torch.utils.checkpoint.checkpoint(b.mlp, h, use_reentrant=False)
            logits = model.head(h)
        else:
            logits = model(x)
        loss = F.cross_entropy(logits.view(-1, 32), x.view(-1))
        loss.backward()
        opt.step()
        opt.zero_grad()
        w.step(loss=loss)


def logged_counts(run):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        recs = [r for r in map(json.loads, f) if r["type"] == "train"]
    total = {}
    for r in recs:
        for l in r["moe"]:
            total[l["layer"]] = [a + b for a, b in zip(total.get(l["layer"], [0] * E), l["counts"])]
    return total


@pytest.mark.parametrize("pair", [False, True], ids=["block_route", "router_pair"])
@pytest.mark.parametrize("ckpt", [False, True], ids=["plain", "checkpointed"])
def test_counts_equal_the_indices_the_model_used(tmp_path, pair, ckpt):
    torch.manual_seed(0)
    model = Tiny(pair)
    run = str(tmp_path / "run")
    w = moescope.watch(model, run, log_every=3)
    assert len(w.layers) == 2
    CAPTURED.clear()
    train(model, w, 6, ckpt=ckpt)
    assert len(CAPTURED) == 12  # 6 steps x 2 layers: the checkpointed recomputation is not a training call
    want = {0: [0] * E, 1: [0] * E}
    for i, ids in enumerate(CAPTURED):
        c = torch.bincount(ids.reshape(-1), minlength=E).tolist()
        want[i % 2] = [a + b for a, b in zip(want[i % 2], c)]
    assert logged_counts(run) == want
    rec = w.records[-1]
    for l in rec["moe"]:
        assert len(l["counts"]) == E and sum(l["counts"]) == 3 * 4 * 8 * K  # 3 steps of 4 x 8 tokens
        if not pair:  # the block path was given the router logits: router entropy is logged
            assert 0 < l["router_entropy"] <= 1


def test_eval_forward_goes_to_the_eval_record_and_unwatch_restores(tmp_path):
    torch.manual_seed(0)
    model = Tiny(pair=False)
    run = str(tmp_path / "run")
    w = moescope.watch(model, run, log_every=2)
    block = model.layers[0].mlp
    assert "route_tokens_to_experts" in vars(block)
    train(model, w, 2)
    model.eval()
    EVAL_CAPTURED.clear()
    with torch.no_grad():
        model(torch.randint(0, 32, (2, 8)))
    ev = w.log_eval(val_loss=1.0)
    assert len(EVAL_CAPTURED) == 2
    for l, ids in zip(ev["moe"], EVAL_CAPTURED):
        want = (torch.bincount(ids.reshape(-1), minlength=E).double() / ids.numel()).tolist()
        assert l["load"] == pytest.approx(want, abs=1e-12)
    assert sum(sum(c) for c in logged_counts(run).values()) == 2 * 2 * (4 * 8 * K)
    moescope.unwatch(w)
    assert "route_tokens_to_experts" not in vars(block)
    assert block.route_tokens_to_experts.__func__ is DeepseekV3MoE.route_tokens_to_experts


def test_bare_logits_without_a_block_method_is_refused(tmp_path):
    class Bare(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gate = DeepseekV3TopkRouter(pair=False)

        def forward(self, x):
            return self.gate(x)

    m = Bare()
    moescope.watch(m, str(tmp_path / "r"))
    with pytest.raises(TypeError, match=r"gate \(DeepseekV3TopkRouter\) returned only router logits"):
        m(torch.randn(3, H))


def test_dbrx_from_transformers_is_read_at_its_block(tmp_path, monkeypatch):
    """transformers' own dbrx (5.25): DbrxRouter (an nn.Linear child, no top_k) returns logits and
    DbrxFFN.route_tokens_to_experts returns (weights, indices). The ids the model used are captured
    at the class level, independently of moescope; the logged counts must equal them."""
    transformers = pytest.importorskip("transformers")
    from transformers.models.dbrx import modeling_dbrx

    torch.manual_seed(0)
    # (5.25's DbrxAttentionConfig defaults fail to build a model: no rope_theta; clip_qkv None
    # reaches clamp(min=None, max=None); both given here)
    cfg = transformers.DbrxConfig(d_model=32, n_heads=2, n_layers=2, max_seq_len=32, vocab_size=64,
                                  attn_config={"kv_n_heads": 1, "rope_theta": 10000.0, "clip_qkv": 8.0},
                                  ffn_config={"ffn_hidden_size": 16, "moe_num_experts": 8, "moe_top_k": 2})
    model = transformers.DbrxForCausalLM(cfg)
    used = []
    original = modeling_dbrx.DbrxFFN.route_tokens_to_experts

    def capture(self, router_logits):
        out = original(self, router_logits)
        if self.training and torch._C._current_graph_task_id() == -1:
            used.append(out[1].detach().clone())
        return out

    monkeypatch.setattr(modeling_dbrx.DbrxFFN, "route_tokens_to_experts", capture)
    run = str(tmp_path / "run")
    w = moescope.watch(model, run, log_every=2)
    assert [(L.layer, L.E, L.K) for L in w.layers.values()] == [(0, 8, 2), (1, 8, 2)]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(4):
        x = torch.randint(0, 64, (2, 16), generator=g)
        model(input_ids=x, labels=x).loss.backward()
        opt.step()
        opt.zero_grad()
        w.step()
    assert len(used) == 8
    want = {0: [0] * 8, 1: [0] * 8}
    for i, ids in enumerate(used):
        want[i % 2] = [a + b for a, b in zip(want[i % 2], torch.bincount(ids.reshape(-1), minlength=8).tolist())]
    assert logged_counts(run) == want
    assert all(0 < l["router_entropy"] <= 1 for l in w.records[-1]["moe"])
