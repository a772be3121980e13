#!/usr/bin/env python3
"""harness.py: the seed project's own DeepSeek-V3-style model (issue 29) trained on TinyShakespeare
at its iteration-1 or iteration-2 settings, scaled to this CPU, and watched by moescope's Python
package on the real top-k ids of every router.

The seed (github:abi2024/DeepSeek-V3-Architecture-Implementation) is imported from a directory
outside this repository (--seed-src or $MOESCOPE_SEED_SRC: its tree, with src/model.py and
src/config.py), never copied. Each DeepSeekRouter's forward is wrapped at runtime: the ids it
returns (the experts its MoE layer really uses) go to moescope.observe with its probabilities
(softmax of logits + jitter + bias) and its raw gate logits; its expert_bias is the layer's bias
source. A variant (variants.py) changes one thing at a time.

Training follows the seed's train.py: random windows of the training text, AdamW (PyTorch's
defaults but the lr), grad clip 1.0, constant lr, fp32 (the seed's autocast is CUDA-only).
Tokenizer: characters (the seed's SmolLM2 tokenizer needs the hub). Validation: the last 10% of
the text, held out, fixed windows, every --eval-every steps (Watcher.log_eval).

    MOESCOPE_SEED_SRC=/work/seed-src PYTHONPATH=build/python .venv/bin/python \
        bench/seed/harness.py --iter 1 --steps 2000 --out runs/seed-i1

Writes RUN/metrics.jsonl, alerts.jsonl, watch.json (moescope's watcher), RUN/harness.json (the
scale and settings) and RUN/seed_view.jsonl (the seed's own monitor's view per log interval:
the share of tokens whose top-1 expert is each expert, and its mean per-token entropy in nats).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import variants as V  # noqa: E402

ITERATIONS = {  # the seed's documented settings (ANALYSIS.md, CHANGELOG.md)
    1: {"expert_bias_update_rate": 0.001, "router_jitter_noise": 0.0, "learning_rate": 3e-4},
    2: {"expert_bias_update_rate": 0.05, "router_jitter_noise": 0.02, "learning_rate": 2e-4},
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed-src", default=os.environ.get("MOESCOPE_SEED_SRC"),
                   help="the seed repository's tree (default $MOESCOPE_SEED_SRC)")
    p.add_argument("--iter", type=int, choices=(1, 2), required=True)
    p.add_argument("--variant", default="base", choices=sorted(V.VARIANTS))
    p.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "shared", "data", "tinyshakespeare.txt"))
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--intermediate", type=int, default=128)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--experts", type=int, default=8)
    p.add_argument("--top-k", type=int, default=2)
    p.add_argument("--lr", type=float, default=None, help="override the iteration's lr")
    p.add_argument("--bias-rate", type=float, default=None, help="override the iteration's bias rate")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--eval-batches", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def import_seed(path):
    if not path:
        raise SystemExit("harness: give the seed's tree with --seed-src or MOESCOPE_SEED_SRC")
    if not os.path.isfile(os.path.join(path, "src", "model.py")):
        raise SystemExit(f"harness: {path} has no src/model.py (the seed repository's tree)")
    sys.path.insert(0, os.path.abspath(path))
    from src.config import ProjectConfig  # noqa: E402  (the seed's)
    from src.model import DeepSeekForCausalLM  # noqa: E402

    return ProjectConfig, DeepSeekForCausalLM


class CharData:
    """Characters of the text as ids; the last 10% held out for validation."""

    def __init__(self, path, seq, batch):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if len(text) < 20 * (seq + 1):
            raise SystemExit(f"harness: {path} is too short for --seq {seq}")
        chars = sorted(set(text))
        self.vocab = len(chars)
        idx = {c: i for i, c in enumerate(chars)}
        data = torch.tensor([idx[c] for c in text], dtype=torch.long)
        n = int(0.9 * len(data))
        self.train, self.val = data[:n], data[n:]
        self.seq, self.batch = seq, batch

    def get_batch(self):  # the seed's get_batch: random windows
        ix = torch.randint(len(self.train) - self.seq - 1, (self.batch,))
        x = torch.stack([self.train[i:i + self.seq] for i in ix])
        y = torch.stack([self.train[i + 1:i + self.seq + 1] for i in ix])
        return x, y

    def val_batches(self, n):
        step = max(1, (len(self.val) - self.seq - 1) // (n * self.batch))
        starts = list(range(0, len(self.val) - self.seq - 1, step))[:n * self.batch]
        for b in range(0, len(starts), self.batch):
            s = starts[b:b + self.batch]
            yield (torch.stack([self.val[i:i + self.seq] for i in s]),
                   torch.stack([self.val[i + 1:i + self.seq + 1] for i in s]))


def watch_routers(model, moe_layers, watcher, E, K, view):
    """Wraps each MoE layer's router: observe the real top-k ids (and probs, raw logits)."""
    import moescope

    for li in moe_layers:
        router = model.layers[li].mlp.router
        inner = V.router_forward(router, view["variant"]) or router.forward
        raw = {}
        router.gate.register_forward_hook(lambda m, a, out, raw=raw: raw.__setitem__("logits", out))
        watcher.add_layer(li, li, E, K, name=f"layers.{li}.mlp.router", bias=lambda r=router: r.expert_bias)

        def forward(x, training=True, inner=inner, raw=raw, li=li):
            w, idx, probs = inner(x, training)
            moescope.observe(li, idx, probs=probs, logits=raw.pop("logits", None), watcher=watcher)
            if training and torch.is_grad_enabled():
                with torch.no_grad():  # the seed's own monitor: argmax of probs, mean entropy
                    v = view["layers"].setdefault(li, {"top1": torch.zeros(E), "ent": 0.0, "n": 0})
                    v["top1"] += torch.bincount(idx[:, 0], minlength=E).float()
                    v["ent"] += float(-(probs * torch.log(probs + 1e-10)).sum(-1).sum())
                    v["n"] += probs.shape[0]
            return w, idx, probs

        router.forward = forward


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    ProjectConfig, Model = import_seed(a.seed_src)
    import moescope

    data = CharData(a.data, a.seq, a.batch)
    it = dict(ITERATIONS[a.iter])
    if a.lr is not None:
        it["learning_rate"] = a.lr
    if a.bias_rate is not None:
        it["expert_bias_update_rate"] = a.bias_rate
    cfg = ProjectConfig(vocab_size=data.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers,
                        num_attention_heads=a.heads, intermediate_size=a.intermediate, max_seq_length=a.seq,
                        num_experts=a.experts, top_k=a.top_k, batch_size=a.batch, device="cpu",
                        dtype=torch.float32, use_gradient_checkpointing=False, **it)
    model = Model(cfg)
    moe_layers = V.apply_model_variant(model, cfg, a.variant)
    wd = 0.1 if a.variant == "wd_0.1" else 0.01
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=wd)

    os.makedirs(a.out, exist_ok=True)
    settings = {"harness_version": 1, "seed_src": os.path.abspath(a.seed_src), "iteration": a.iter,
                "variant": a.variant, "variant_text": V.VARIANTS[a.variant], "tokenizer": "char",
                "vocab": data.vocab, "hidden": a.hidden, "layers": a.layers, "heads": a.heads,
                "intermediate": a.intermediate, "experts": a.experts, "shared_experts": cfg.num_shared_experts,
                "top_k": a.top_k, "seq": a.seq, "batch": a.batch, "steps": a.steps, "weight_decay": wd,
                "threads": a.threads, "torch_seed": a.seed, "params": sum(p.numel() for p in model.parameters()),
                "moe_layers": moe_layers, **it}
    with open(os.path.join(a.out, "harness.json"), "w") as f:
        json.dump(settings, f, indent=1)
    watcher = moescope.Watcher(a.out, log_every=a.log_every, model_class="seed DeepSeekForCausalLM",
                               framework="pytorch")
    view = {"variant": a.variant, "layers": {}}
    watch_routers(model, moe_layers, watcher, a.experts, a.top_k, view)
    vf = open(os.path.join(a.out, "seed_view.jsonl"), "w")

    def evaluate(step):
        model.eval()
        tot, n = 0.0, 0
        with torch.no_grad():
            for x, y in data.val_batches(a.eval_batches):
                _, loss, _ = model(x, y)
                tot, n = tot + float(loss) * y.numel(), n + y.numel()
        model.train()
        watcher.log_eval(step=step, val_loss=tot / n)
        return tot / n

    t0 = time.time()
    model.train()
    for step in range(a.steps):
        lr = V.lr_at(step, cfg.learning_rate, a.steps, a.variant)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = data.get_batch()
        opt.zero_grad(set_to_none=True)
        _, loss, _ = model(x, y)
        if not torch.isfinite(loss):
            raise SystemExit(f"harness: non-finite loss at step {step + 1}")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        rec = watcher.step(loss=loss.item(), lr=lr)
        if rec is not None:
            row = {"step": rec["step"], "layers": {}}
            for li, v in sorted(view["layers"].items()):
                row["layers"][li] = {"top1_share": (v["top1"] / max(1, v["n"])).tolist(),
                                     "entropy_nats": v["ent"] / max(1, v["n"])}
            view["layers"].clear()
            vf.write(json.dumps(row) + "\n")
            vf.flush()
            st = " ".join(f"{l['layer']}:{l['entropy_norm']:.2f}/{l['max_token_share']:.2f}/{l['status'][0]}"
                          for l in rec["moe"])
            print(f"step {rec['step']:5d} loss {rec['loss']:.4f} {time.time() - t0:6.0f}s  "
                  f"ent/maxshare/status {st}", flush=True)
        if (step + 1) % a.eval_every == 0 or step + 1 == a.steps:
            print(f"step {step + 1:5d} val_loss {evaluate(step + 1):.4f}", flush=True)
    vf.close()
    with open(os.path.join(a.out, "done"), "w") as f:
        f.write(f"{time.time() - t0:.1f}\n")


if __name__ == "__main__":
    main()
