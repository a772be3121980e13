"""test_transformers.py: MoescopeCallback on transformers' Trainer with tiny random qwen3_moe and
deepseek_v3 models on the CPU: the logged counts equal a recomputation from the top-k ids
captured independently (gradient accumulation: every micro-batch once; evaluation forwards
kept out of the training counts and in an eval record); activation checkpointing counts once;
an induced collapse (router lr x100, no aux loss, top-1) is called `collapsed`, a healthy run on
the same model, data and steps (top-2, aux loss 0.1, router at the model's lr) raises no
critical alert; loss-free bias balancing moves deepseek_v3's e_score_correction_bias."""
import json
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
from transformers import Trainer, TrainingArguments  # noqa: E402

import moescope  # noqa: E402
from moescope.integrations.transformers import MoescopeCallback  # noqa: E402

from conftest import IdCapture, tiny_deepseek_v3, tiny_qwen3_moe, token_batches  # noqa: E402


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n, seq=16, seed=1):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randint(0, 64, (n, seq), generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"input_ids": self.x[i], "labels": self.x[i]}


def args(tmp, steps, accum=1, ckpt=False, lr=1e-3, logging=5, **kw):
    return TrainingArguments(output_dir=str(tmp / "hf"), max_steps=steps, per_device_train_batch_size=4,
                             gradient_accumulation_steps=accum, learning_rate=lr, logging_steps=logging,
                             report_to=[], use_cpu=True, save_strategy="no", dataloader_num_workers=0,
                             gradient_checkpointing=ckpt, seed=0, disable_tqdm=True, **kw)


def records(run, kind="train"):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        return [r for r in map(json.loads, f) if r["type"] == kind]


def check_counts(run, cap, model, E):
    recs = records(run)
    assert recs, "no train record"
    names = {l.name: l.layer for l in model._moescope.layers.values()}
    for name, layer in names.items():
        logged = [0] * E
        for r in recs:
            entry = next(l for l in r["moe"] if l["layer"] == layer)
            logged = [a + b for a, b in zip(logged, entry["counts"])]
        assert logged == cap.counts(name, E), name


@pytest.mark.parametrize("make", [tiny_qwen3_moe, tiny_deepseek_v3], ids=["qwen3_moe", "deepseek_v3"])
def test_trainer_counts_equal_independent_capture(tmp_path, make):
    model = make()
    cap = IdCapture(model)
    run = str(tmp_path / "run")
    cb = MoescopeCallback(run, log_every=2)
    tr = Trainer(model=model, args=args(tmp_path, 6, accum=2, eval_strategy="steps", eval_steps=3),
                 train_dataset=Tokens(64), eval_dataset=Tokens(8, seed=5), callbacks=[cb])
    tr.train()
    model._moescope = cb.watcher
    assert [r["step"] for r in records(run)] == [2, 4, 6]
    check_counts(run, cap, model, 8)
    evals = records(run, "eval")
    assert [e["step"] for e in evals] == [3, 6]
    assert all("maxvio_global" in l for e in evals for l in e["moe"])
    # every routed token counted: 6 steps x 2 micro-batches x 4 sequences x 16 tokens x top-2
    assert sum(records(run)[-1]["moe"][0]["counts"]) == 2 * 2 * 4 * 16 * 2
    # the step loss as the Trainer logs it (ln 64 = 4.16 for an untrained model over 64 tokens)
    assert all(3.5 < r["loss"] < 5.0 for r in records(run)), [r.get("loss") for r in records(run)]
    snap = json.load(open(os.path.join(run, "watch.json")))
    assert snap["framework"] == "transformers" and snap["model_class"] == type(model).__name__
    assert any(k.startswith("moe/") for h in tr.state.log_history for k in h)


def test_activation_checkpointing_counts_once(tmp_path):
    model = tiny_qwen3_moe()
    cap = IdCapture(model)
    calls = []  # every router forward, recomputed ones included
    for m in model.modules():
        if type(m).__name__.endswith("Router"):
            m.register_forward_hook(lambda mod, a, out: calls.append(out[2].shape[0]))
    run = str(tmp_path / "run")
    cb = MoescopeCallback(run, log_every=2)
    Trainer(model=model, args=args(tmp_path, 4, ckpt=True, gradient_checkpointing_kwargs={"use_reentrant": False}),
            train_dataset=Tokens(32), callbacks=[cb]).train()
    model._moescope = cb.watcher
    assert len(calls) == 2 * 2 * 4  # 2 layers x (forward + recomputed forward) x 4 steps: it did recompute
    check_counts(run, cap, model, 8)
    # each step's 4 x 16 tokens x top-2 once per layer, whatever the recomputation
    for r in records(run):
        for l in r["moe"]:
            assert sum(l["counts"]) == 2 * 4 * 16 * 2


class Shakespeare(torch.utils.data.Dataset):
    """Character-level TinyShakespeare (the project's corpus, ../shared/data): consecutive windows
    of `seq` characters from the text's start, ids = the characters' ranks among its distinct
    characters. Real text with structure, the same for the induced and the healthy run."""

    def __init__(self, n, seq=32):
        path = os.path.join(os.environ.get("MOESCOPE_SOURCE_DIR", "."), "..", "shared", "data", "tinyshakespeare.txt")
        with open(path, "rb") as f:
            text = f.read()
        chars = sorted(set(text))
        self.vocab = len(chars)
        rank = {c: i for i, c in enumerate(chars)}
        self.ids = torch.tensor([rank[c] for c in text[:n * seq]])
        assert len(self.ids) == n * seq, "tinyshakespeare.txt is shorter than the test needs"
        self.n, self.seq = n, seq

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = self.ids[i * self.seq:(i + 1) * self.seq]
        return {"input_ids": x, "labels": x}


STEPS, LOG_EVERY = 80, 8  # 10 records of 8 steps x 4 windows x 32 characters


def train_run(tmp_path, name, top_k, aux, router_mult):
    """The same model (qwen3_moe, hidden 64, 8 experts), data (Shakespeare, same order) and steps
    for both runs; only the router's lr multiplier, the aux loss and top-k differ."""
    data = Shakespeare(STEPS * 4)
    model = tiny_qwen3_moe(top_k=top_k, aux=aux, vocab=data.vocab, hidden=64)
    routers = [p for n, p in model.named_parameters() if n.endswith("gate.weight")]
    rest = [p for n, p in model.named_parameters() if not n.endswith("gate.weight")]
    lr = 1e-3
    opt = torch.optim.AdamW([{"params": rest, "lr": lr}, {"params": routers, "lr": lr * router_mult}])
    alerts = []
    run = str(tmp_path / name)
    cb = MoescopeCallback(run, log_every=LOG_EVERY, on_alert=alerts.append)
    Trainer(model=model, args=args(tmp_path, STEPS, lr=lr, lr_scheduler_type="constant"), train_dataset=data,
            callbacks=[cb], optimizers=(opt, None)).train()
    return alerts, run


def test_induced_collapse_is_called_collapsed(tmp_path):
    # router lr x100, no aux loss, top-1
    alerts, run = train_run(tmp_path, "collapse", top_k=1, aux=0.0, router_mult=100)
    assert any(l["status"] == "collapsed" for l in records(run)[-1]["moe"]), records(run)[-1]["moe"]
    assert any(a["severity"] == "critical" for a in alerts)
    with open(os.path.join(run, "alerts.jsonl")) as f:
        assert len(f.readlines()) == len(alerts)


def test_healthy_run_raises_no_critical_alert(tmp_path):
    # the same model, data and steps; top-2, the aux loss on (0.1), the router at the model's lr
    alerts, run = train_run(tmp_path, "healthy", top_k=2, aux=0.1, router_mult=1)
    assert not [a for a in alerts if a["severity"] == "critical"], alerts
    assert all(l["status"] != "collapsed" for r in records(run) for l in r["moe"])


def test_bias_balancing_uses_the_trainers_rule(tmp_path):
    model = tiny_deepseek_v3()
    run = str(tmp_path / "run")
    w = moescope.watch(model, run, log_every=2, balance_bias=True, bias_update_rate=0.01)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gates = [m for m in model.modules() if hasattr(m, "e_score_correction_bias")]
    for x in token_batches(4):
        before = [g.e_score_correction_bias.clone() for g in gates]
        cap = IdCapture(model)
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        w.step(loss=loss)
        for name, g, b in zip([n for n, m in model.named_modules() if hasattr(m, "e_score_correction_bias")], gates, before):
            c = torch.tensor(cap.counts(name, 8), dtype=torch.float32)
            assert torch.allclose(g.e_score_correction_bias, b + 0.01 * torch.sign(c.mean() - c))
        for h in cap.handles:
            h.remove()
    rec = records(run)[-1]["moe"][0]
    assert "bias" in rec and len(rec["bias"]) == 8
