#!/usr/bin/env python3
"""representation.py: why the seed's deep layers collapse (issue 29): how alike the router inputs
of a layer's tokens are. For each variant, trains the seed's model at the harness's scale
(iteration 1) and prints, every 50 steps, the mean cosine between each token's router input
(the post-attention RMSNorm output, [T, D]) and the batch mean of those inputs, per MoE layer.
Near 1 every token looks the same to the router, which then sends them all to the same expert.

    MOESCOPE_SEED_SRC=/path/to/seed-tree .venv/bin/python bench/seed/representation.py base untied
"""
from __future__ import annotations

import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as H  # noqa: E402
import variants as V  # noqa: E402


def main(argv):
    names = argv or ["base", "untied"]
    for v in names:
        if v not in V.VARIANTS:
            raise SystemExit(f"representation: unknown variant {v!r} (one of {', '.join(sorted(V.VARIANTS))})")
    a = H.parse_args(["--iter", "1", "--out", os.devnull])
    torch.set_num_threads(1)
    ProjectConfig, Model = H.import_seed(a.seed_src)
    data = H.CharData(a.data, a.seq, a.batch)
    for v in names:
        torch.manual_seed(a.seed)
        cfg = ProjectConfig(vocab_size=data.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers,
                            num_attention_heads=a.heads, intermediate_size=a.intermediate, max_seq_length=a.seq,
                            num_experts=a.experts, top_k=a.top_k, batch_size=a.batch, device="cpu",
                            use_gradient_checkpointing=False, **H.ITERATIONS[1])
        model = Model(cfg)
        moe = V.apply_model_variant(model, cfg, v)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate)
        cos = {}
        for li in moe:
            def hook(mod, args, out, li=li):
                x = args[0].detach().reshape(-1, args[0].shape[-1])  # [T, D]
                cos[li] = float(F.cosine_similarity(x, x.mean(0, keepdim=True)).mean())
            model.layers[li].mlp.router.register_forward_hook(hook)
        for step in range(201):
            x, y = data.get_batch()
            _, loss, _ = model(x, y)
            if step % 50 == 0:
                print(f"{v:12s} step {step:4d} loss {loss.item():7.2f}  router-input cosine to the mean: "
                      + " ".join(f"L{li} {cos[li]:.2f}" for li in moe), flush=True)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()


if __name__ == "__main__":
    main(sys.argv[1:])
