"""test_export.py: moescope.watch on a directory written by `moescope export` (a sigmoid-routed
tiny run of moescope's own trainer, exported as a Hugging Face deepseek_v3 directory), loaded
with AutoModelForCausalLM.from_pretrained and trained a few steps in a plain loop: the watcher
finds its router, and the logged counts equal a recomputation from the top-k ids captured
independently (conftest.IdCapture)."""
import json
import os
import subprocess

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
from transformers import AutoModelForCausalLM  # noqa: E402

import moescope  # noqa: E402

from conftest import IdCapture  # noqa: E402


def test_watch_an_exported_directory(tmp_path, moescope_binary):
    binary = moescope_binary
    src = os.environ.get("MOESCOPE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    text = tmp_path / "text.txt"
    text.write_text("".join(f"line {i}: the quick brown fox jumps over the lazy dog {i * 7 % 13}\n" for i in range(400)))
    run, hf = str(tmp_path / "run"), str(tmp_path / "hf")
    tr = subprocess.run([binary, "train", "--config", os.path.join(src, "configs", "tiny.toml"), "--data", str(text),
                         "--out", run, "--set", "train.max_steps=3", "--set", "moe.score_func=sigmoid",
                         "--set", "train.eval_every=3", "--set", "train.ckpt_every=3"], capture_output=True, text=True)
    assert tr.returncode == 0, tr.stderr
    ex = subprocess.run([binary, "export", "--run", run, "--out", hf], capture_output=True, text=True)
    assert ex.returncode == 0, ex.stderr

    model = AutoModelForCausalLM.from_pretrained(hf)
    assert model.config.model_type == "deepseek_v3"
    E = model.config.n_routed_experts
    routers = moescope.find_routers(model)
    assert [(l, n_e, k) for _, _, l, n_e, k in routers] == [(1, E, model.config.num_experts_per_tok)]  # tiny: layer 0 dense
    cap = IdCapture(model)
    model.train()
    watch_run = str(tmp_path / "watched")
    w = moescope.watch(model, watch_run, log_every=2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    V = model.config.vocab_size
    for _ in range(4):
        x = torch.randint(0, V, (2, 16), generator=g)
        model(input_ids=x, labels=x).loss.backward()
        opt.step()
        opt.zero_grad()
        w.step()
    with open(os.path.join(watch_run, "metrics.jsonl")) as f:
        recs = [r for r in map(json.loads, f) if r["type"] == "train"]
    assert [r["step"] for r in recs] == [2, 4]
    name = routers[0][0]
    logged = [sum(r["moe"][0]["counts"][e] for r in recs) for e in range(E)]
    assert logged == cap.counts(name, E)
    assert sum(logged) == 4 * 2 * 16 * model.config.num_experts_per_tok
    # a sigmoid router (e_score_correction_bias): its probabilities normalised per token, as in the C++ path
    assert all(0.0 <= r["moe"][0]["router_entropy"] <= 1.0 for r in recs)
