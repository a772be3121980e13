"""test_observe.py: moescope.observe in a plain PyTorch training loop on a tiny MoE: the logged
counts equal a recomputation from the top-k ids captured in the test; every metric equals a
naive recomputation (docs/metrics.md) from those counts; the run directory reads in the C++
CLI (`scope --run`); bad input raises a clear exception naming the layer."""
import json
import math
import os
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import moescope  # noqa: E402

E, K, D = 8, 2, 16


class TinyMoE(torch.nn.Module):
    def __init__(self, layers=2):
        super().__init__()
        self.emb = torch.nn.Embedding(32, D)
        self.routers = torch.nn.ModuleList(torch.nn.Linear(D, E, bias=False) for _ in range(layers))
        self.experts = torch.nn.ModuleList(torch.nn.ModuleList(torch.nn.Linear(D, D) for _ in range(E)) for _ in range(layers))
        self.head = torch.nn.Linear(D, 32)
        self.captured = []  # (layer, ids) as the model used them

    def forward(self, x):
        h = self.emb(x).reshape(-1, D)
        for i, (r, ex) in enumerate(zip(self.routers, self.experts)):
            probs = r(h).softmax(-1)
            w, ids = probs.topk(K, dim=-1)
            moescope.observe(i, ids, probs=probs)
            if self.training:
                self.captured.append((i, ids.detach().clone(), probs.detach().double().clone()))
            out = torch.zeros_like(h)
            for k in range(K):
                for e in range(E):
                    m = ids[:, k] == e
                    if m.any():
                        out[m] += w[m, k:k + 1] * ex[e](h[m])
            h = h + out
        return self.head(h)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def naive(counts, K):
    c = np.asarray(counts, dtype=np.float64)
    load = c / c.sum()
    h = -sum(p * math.log(p) for p in load if p > 0)
    return {"entropy_norm": h / math.log(len(c)), "n_eff": math.exp(h), "max_token_share": load.max() * K}


def maxvio(c):
    c = np.asarray(c, dtype=np.float64)
    return (c.max() - c.mean()) / c.mean() if c.sum() > 0 else 0.0


def test_plain_loop_counts_and_metrics(tmp_path):
    torch.manual_seed(0)
    model = TinyMoE()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    run = str(tmp_path / "run")
    w = moescope.Watcher(run, log_every=5, coact_every=1)
    g = torch.Generator().manual_seed(3)
    steps_ids = []
    for step in range(10):
        model.captured = []
        for micro in range(2):  # gradient accumulation: two micro-batches per step
            x = torch.randint(0, 32, (4, 8), generator=g)
            loss = torch.nn.functional.cross_entropy(model(x), x.reshape(-1)) / 2
            loss.backward()
        opt.step()
        opt.zero_grad()
        steps_ids.append(list(model.captured))
        with torch.no_grad():  # an evaluation forward: not in the training counts
            model.eval()
            model(torch.randint(0, 32, (2, 8), generator=g))
            model.train()
        moescope.step(loss=loss.item() * 2, lr=1e-2)
    recs = [r for r in read_jsonl(os.path.join(run, "metrics.jsonl")) if r["type"] == "train"]
    assert [r["step"] for r in recs] == [5, 10]
    for iv, rec in enumerate(recs):
        window = steps_ids[5 * iv:5 * iv + 5]
        for layer_rec in rec["moe"]:
            L = layer_rec["layer"]
            ids = [i for st in window for (l, i, _) in st if l == L]
            probs = torch.cat([p for st in window for (l, _, p) in st if l == L])
            allids = torch.cat([i.reshape(-1) for i in ids])
            want = torch.bincount(allids, minlength=E).tolist()
            assert layer_rec["counts"] == want
            ref = naive(want, K)
            for k, v in ref.items():
                assert layer_rec[k] == pytest.approx(v, rel=1e-12, abs=1e-12), k
            per_step = [torch.bincount(torch.cat([i.reshape(-1) for (l, i, _) in st if l == L]), minlength=E).tolist()
                        for st in window]
            assert layer_rec["maxvio_batch"] == pytest.approx(np.mean([maxvio(c) for c in per_step]), rel=1e-12)
            ent = (-(probs * probs.clamp_min(1e-300).log()).sum(-1) / math.log(E)).mean().item()
            assert layer_rec["router_entropy"] == pytest.approx(ent, rel=1e-6)  # float32 element-wise
            assert layer_rec["top1_score"] == pytest.approx(probs.max(-1).values.mean().item(), rel=1e-6)
            # co-activation: tokens that chose both experts (diagonal: tokens that chose it)
            co = np.zeros((E, E), dtype=np.int64)
            for i in ids:
                for row in i.tolist():
                    for a in row:
                        for b in row:
                            co[a, b] += 1
            assert np.array_equal(np.asarray(layer_rec["coactivation"]), co)
            assert layer_rec["drop_rate"] == 0.0
            assert "logit_rms" not in layer_rec  # no logits given: absent, not a made-up value
            assert layer_rec["status"] in ("ok", "warning", "imbalanced", "dropping", "collapsed")
        # the pooled summary and the C++ library's own metrics of the same counts
        for layer_rec in rec["moe"]:
            lm = moescope.load_metrics(layer_rec["counts"], K)
            assert lm["entropy_norm"] == layer_rec["entropy_norm"]
            assert lm["tokens_per_expert"] == layer_rec["tokens_per_expert"]
    w.session = None  # closes the TensorBoard writer (flushes its events)
    import gc
    gc.collect()
    assert any(f.startswith("events.out.tfevents") and os.path.getsize(os.path.join(run, "tb", f)) > 0
               for f in os.listdir(os.path.join(run, "tb")))
    snap = json.load(open(os.path.join(run, "watch.json")))
    assert snap["framework"] == "pytorch" and snap["layers"][0]["experts"] == E


def test_run_directory_reads_in_the_cli(tmp_path, moescope_binary):
    binary = moescope_binary
    torch.manual_seed(0)
    model = TinyMoE()
    run = str(tmp_path / "run")
    w = moescope.Watcher(run, log_every=2)
    for _ in range(4):
        model(torch.randint(0, 32, (2, 8)))
        w.step()
    out = subprocess.run([binary, "scope", "--run", run, "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    last = [r for r in read_jsonl(os.path.join(run, "metrics.jsonl")) if r["type"] == "train"][-1]
    assert str(last["moe"][0]["counts"][0]) in out.stdout
    table = subprocess.run([binary, "scope", "--run", run], capture_output=True, text=True)
    assert table.returncode == 0, table.stderr
    assert "layer" in table.stdout.lower()


def test_bad_input_names_the_layer(tmp_path):
    w = moescope.Watcher(str(tmp_path / "r"), log_every=1)
    w.add_layer("gate3", 3, E, K)
    with pytest.raises(ValueError, match=r"layer 3 .*expert id 8 is not in \[0, 8\)"):
        w.observe("gate3", torch.tensor([[0, 8]]))
    with pytest.raises(TypeError, match="layer 3.*integer expert ids"):
        w.observe("gate3", torch.tensor([[0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"layer 3.*top_k = 2"):
        w.observe("gate3", torch.tensor([[0, 1, 2]]))
    with pytest.raises(ValueError, match=r"layer 3.*probs must be \[tokens = 1, n_experts = 8\]"):
        w.observe("gate3", torch.tensor([[0, 1]]), probs=torch.rand(1, 7))
    with pytest.raises(ValueError, match="top_k 9 must be in"):
        w.add_layer("x", 0, E, 9)
    with pytest.raises(ValueError, match="unknown scope setting"):
        moescope.Watcher(str(tmp_path / "r2"), scope={"windw": 3})
    with pytest.raises(ValueError, match="scope.window"):
        moescope.Watcher(str(tmp_path / "r3"), scope={"window": 0})


def test_no_router_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no recognisable MoE router"):
        moescope.watch(torch.nn.Linear(4, 4), str(tmp_path / "r"))


def test_kept_slots_give_the_drop_rate(tmp_path):
    w = moescope.Watcher(str(tmp_path / "r"), log_every=1)
    w.add_layer("g", 0, 4, 2)
    ids = torch.tensor([[0, 1], [0, 2], [0, 3], [1, 2]])
    mask = torch.tensor([[True, True], [True, True], [False, True], [True, False]])  # 2 of 8 slots dropped
    w.observe("g", ids, kept=mask)
    rec = w.step()
    layer = rec["moe"][0]
    assert layer["counts"] == [3, 2, 2, 1]
    assert layer["drop_rate"] == pytest.approx(2 / 8)
    w.observe("g", ids, kept=torch.tensor([3, 2, 2, 1]))  # per-expert kept counts: nothing dropped
    assert w.step()["moe"][0]["drop_rate"] == 0.0


def test_logit_statistics_of_softmax_routers(tmp_path):
    """Logits given (a softmax router, as watch's hook passes them): router entropy, top-1 score,
    logit RMS and max over every layer and micro-batch of an interval equal a naive float64
    recomputation; their statistics are batched across layers at the step's end."""
    run = str(tmp_path / "run")
    w = moescope.Watcher(run, log_every=2)
    g = torch.Generator().manual_seed(7)
    seen = {0: [], 1: []}
    for step in range(2):
        for micro in range(3):
            for layer, T in ((0, 5), (1, 9)):  # different token counts per layer
                lg = torch.randn(T, E, generator=g) * (layer + 1)
                w.observe(layer, lg.topk(K).indices, logits=lg)
                seen[layer].append(lg.double())
        w.step()
    rec = w.records[-1]
    for lr in rec["moe"]:
        X = torch.cat(seen[lr["layer"]])
        p = X.softmax(-1)
        assert lr["router_entropy"] == pytest.approx((-(p * p.log()).sum(-1) / math.log(E)).mean().item(), rel=1e-5)
        assert lr["top1_score"] == pytest.approx(p.max(-1).values.mean().item(), rel=1e-5)
        assert lr["logit_rms"] == pytest.approx(X.square().mean().sqrt().item(), rel=1e-5)
        assert lr["logit_max"] == pytest.approx(X.max().item(), rel=1e-6)
        assert sum(lr["counts"]) == X.shape[0] * K
