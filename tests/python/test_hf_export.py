"""test_hf_export.py: `moescope export` directories load in the pinned transformers and compute
moescope's logits.

Each case trains a few steps with the built binary (MOESCOPE_BINARY), exports the run, loads the
directory with AutoModelForCausalLM.from_pretrained (no missing, unexpected or mis-shaped tensor)
and compares its fp32 logits with `moescope eval --run RUN --logits IDS` (max |diff| <= 1e-4 x
max(1, max |logit|)). Cases: the demo preset (a few steps, same architecture), a sigmoid-routed
DeepSeek-V3 run with every routing option switched on, a softmax DeepSeek-V2 run, the GQA
architectures (qwen3_moe, qwen2_moe, mixtral, olmoe), every fixture under tests/fixtures/hf after
`train --init`, and MoBE-compressed model directories and runs (exported with their experts
composed).
Settings no architecture expresses are refused by name, with nothing written. The exported char
and byte tokenizers load with AutoTokenizer and encode/decode as moescope does.
"""
import json
import os
import pathlib
import subprocess

import pytest
import torch

ROOT = pathlib.Path(os.environ.get("MOESCOPE_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
BINARY = os.environ.get("MOESCOPE_BINARY", str(ROOT / "build" / "moescope"))
FIXTURES = ROOT / "tests" / "fixtures" / "hf"
TOL = 1e-4
TEXT = "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs!\n"

# A few training steps: the architecture of the preset, the least work that writes a checkpoint.
SHORT = ["train.max_steps=2", "train.warmup_steps=1", "train.eval_every=2", "train.ckpt_every=2",
         "train.log_every=1", "train.eval_max_batches=1", "train.batch_size=2", "train.dtype=fp32",
         "train.device=cpu"]


def moescope(*args, check=True, input=None):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([BINARY, *map(str, args)], capture_output=True, text=True, env=env, input=input)
    if check and r.returncode != 0:
        raise AssertionError(f"moescope {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    # README text: some 100 KB of mixed prose, code and numbers, the same on every machine.
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text((ROOT / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    return path


def train(tmp_path, corpus, name, config="configs/tiny.toml", sets=(), init=None):
    run = tmp_path / name
    args = ["train", "--out", run, "--data", corpus]
    if init is not None:
        args += ["--init", init]
    if config is not None:
        args += ["--config", ROOT / config]
    for s in list(SHORT) + list(sets):
        args += ["--set", s]
    moescope(*args)
    return run


def moescope_logits(run_or_dir, ids, flag="--run"):
    out = moescope("eval", flag, run_or_dir, "--device", "cpu", "--logits", ",".join(map(str, ids)))
    j = json.loads(out.stdout)
    assert j["ids"] == list(ids)
    return torch.tensor(j["logits"], dtype=torch.float32)


def hf_logits(model_dir, ids):
    from transformers import AutoModelForCausalLM

    model, info = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32, output_loading_info=True)
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        assert not info.get(k), f"{model_dir}: {k}: {info[k]}"
    model.eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float(), model


def ids_for(model_dir, n=24, offset=3):
    vocab = json.loads((pathlib.Path(model_dir) / "config.json").read_text())["vocab_size"]
    return [(offset + 7 * i * i + 3 * i) % vocab for i in range(n)]


def assert_close(a, b, where):
    assert a.shape == b.shape, f"{where}: shapes {tuple(a.shape)} vs {tuple(b.shape)}"
    diff = (a - b).abs().max().item()
    scale = max(1.0, a.abs().max().item())
    assert diff <= TOL * scale, f"{where}: max |logit diff| {diff:.3g} > {TOL} x {scale:.3g}"


def export_and_compare(tmp_path, run, want_type, flag="--run"):
    out = tmp_path / (pathlib.Path(run).name + "-hf")
    moescope("export", "--run", run, "--out", out)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == want_type
    ids = ids_for(out)
    ours = moescope_logits(run, ids, flag)
    theirs, model = hf_logits(out, ids)
    assert_close(ours, theirs, f"{run} as {want_type}")
    return out, model


def test_demo_preset(tmp_path, corpus):
    run = train(tmp_path, corpus, "demo", "configs/demo.toml")
    export_and_compare(tmp_path, run, "deepseek_v3")


def test_sigmoid_routing_with_every_deepseek_v3_option(tmp_path, corpus):
    # Group-limited top-k, scaling factor, renormalisation off, a q LoRA, YaRN, tied embeddings,
    # a fused shared expert twice expert_hidden wide; the trained router bias is exported.
    run = train(tmp_path, corpus, "v3", sets=[
        "moe.score_func=sigmoid", "moe.n_routed=8", "moe.n_group=4", "moe.topk_group=2", "moe.top_k=3",
        "moe.routed_scaling_factor=2.5", "moe.norm_topk_prob=false", "moe.shared_hidden=32",
        "moe.bias_update_rate=0.05", "model.tie_embeddings=true", "attn.rope_scaling=yarn", "attn.yarn_factor=2",
        "attn.yarn_original_max_position=32", "attn.yarn_mscale=0.707", "attn.yarn_mscale_all_dim=0.707",
        "attn.yarn_softmax_mscale=true"])
    out, model = export_and_compare(tmp_path, run, "deepseek_v3")
    assert model.config.n_shared_experts == 2
    bias = model.model.layers[1].mlp.gate.e_score_correction_bias
    # the bias the run trained and logged (after its last step, the exported checkpoint's step),
    # not a non-zero value: two sign updates of +-0.05 can cancel to exactly 0 on some data
    trained = [r for r in map(json.loads, (pathlib.Path(run) / "metrics.jsonl").read_text().splitlines())
               if r["type"] == "train"]
    assert any(v != 0 for r in trained for v in r["moe"][0]["bias"]), "the router bias never moved"
    logged = torch.tensor(trained[-1]["moe"][0]["bias"], dtype=bias.dtype)
    assert torch.equal(bias, logged), f"the trained selection bias {logged} reached transformers as {bias}"


def test_softmax_routing_without_router_bias_is_deepseek_v2(tmp_path, corpus):
    run = train(tmp_path, corpus, "v2", sets=[
        "moe.bias_balance=false", "moe.norm_topk_prob=false", "moe.n_routed=8", "moe.n_group=4", "moe.topk_group=2",
        "moe.routed_scaling_factor=1.5", "moe.n_shared=2", "attn.q_lora_rank=0"])
    export_and_compare(tmp_path, run, "deepseek_v2")


MHA = ["attn.type=mha", "attn.n_heads=4", "attn.n_kv_heads=2", "moe.bias_balance=false"]


@pytest.mark.parametrize("want,sets", [
    ("qwen3_moe", ["attn.qk_norm=head", "moe.n_shared=0", "moe.norm_topk_prob=false"]),
    ("qwen2_moe", ["attn.qkv_bias=true", "moe.n_shared=1", "moe.shared_hidden=24", "moe.shared_expert_gate=true"]),
    ("mixtral", ["moe.n_shared=0", "moe.first_k_dense=0"]),
    ("olmoe", ["attn.qk_norm=full", "attn.clip_qkv=4", "moe.n_shared=0", "moe.first_k_dense=0", "moe.norm_topk_prob=false"]),
])
def test_gqa_architectures(tmp_path, corpus, want, sets):
    run = train(tmp_path, corpus, want, sets=MHA + sets)
    export_and_compare(tmp_path, run, want)


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.iterdir() if (p / "config.json").exists()))
def test_fixture_after_train_init(tmp_path, corpus, fixture):
    # Fine-tuned from the Hugging Face directory, exported back as its own architecture.
    src = FIXTURES / fixture
    want = json.loads((src / "config.json").read_text())["model_type"]
    run = train(tmp_path, corpus, fixture, config=None, init=src, sets=["train.seq_len=16", "train.lr=1e-3"])
    out, _ = export_and_compare(tmp_path, run, want)
    assert (out / "tokenizer.json").exists()


@pytest.mark.parametrize("sets,named", [
    (["moe.bias_balance=true", "moe.score_func=softmax"], "moe.bias_balance = true with moe.score_func = softmax"),
    (["moe.bias_balance=false", "moe.norm_topk_prob=true"], "moe.norm_topk_prob = true with moe.score_func = softmax"),
    (["moe.capacity_factor=1.25"], "moe.capacity_factor = 1.25"),
    (MHA + ["moe.score_func=sigmoid"], "moe.score_func = sigmoid with attn.type = mha"),
    (MHA + ["moe.n_shared=0", "moe.first_k_dense=1"], "every layer is MoE (attn.type = mha exports as mixtral)"),
])
def test_inexpressible_settings_are_refused_by_name(tmp_path, corpus, sets, named):
    run = train(tmp_path, corpus, "refused", sets=sets)
    out = tmp_path / "out"
    r = moescope("export", "--run", run, "--out", out, check=False)
    assert r.returncode != 0 and named in r.stderr, r.stderr
    assert not out.exists(), "nothing is written when refused"


def test_mobe_compressed_model_directory(tmp_path, corpus):
    # transformers has no Mixture-of-Basis-Experts layer: the directory itself is not a
    # transformers model, and export writes it with every expert composed from its bank.
    src = FIXTURES / "deepseek_v3"
    mobe = tmp_path / "mobe"
    moescope("compress", "--model", src, "--out", mobe, "--set", "compress.max_iters=5", "--set", "compress.n_bases=2",
             "--set", "compress.rank=4")
    assert "moescope_mobe" in json.loads((mobe / "config.json").read_text())
    from transformers import AutoModelForCausalLM
    try:  # what transformers makes of the directory itself: expert weights it does not find
        _, info = AutoModelForCausalLM.from_pretrained(str(mobe), dtype=torch.float32, output_loading_info=True)
        assert any(".experts." in k for k in info["missing_keys"]), info
    except (OSError, ValueError, KeyError, RuntimeError):
        pass  # or it refuses outright
    out, _ = export_and_compare(tmp_path, mobe, "deepseek_v3", flag="--model")
    assert "moescope_mobe" not in json.loads((out / "config.json").read_text())


def test_mobe_compressed_run(tmp_path, corpus):
    # A compressed run (compress --run) exports with its experts composed as well.
    run = train(tmp_path, corpus, "src", sets=["moe.score_func=sigmoid"])
    comp = tmp_path / "comp"
    moescope("compress", "--run", run, "--out", comp, "--set", "compress.max_iters=5", "--set", "compress.n_bases=2",
             "--set", "compress.rank=4")
    export_and_compare(tmp_path, comp, "deepseek_v3")


@pytest.mark.parametrize("kind", ["char", "byte"])
def test_exported_moescope_tokenizer_loads_in_transformers(tmp_path, corpus, kind):
    from transformers import AutoTokenizer

    run = train(tmp_path, corpus, kind, sets=["moe.score_func=sigmoid", f"data.tokenizer={kind}"])
    out = tmp_path / "out"
    moescope("export", "--run", run, "--out", out)
    assert (out / "moescope_tokenizer.json").exists()
    tok = AutoTokenizer.from_pretrained(str(out))
    texts = [TEXT.strip(), "naïve café — ünïcödé ✓ 日本語\ttabs  and  spaces", "{}[]<>|\\~`^ 0123456789"]
    enc = moescope("tokenize", "--tokenizer", run, input="\n".join(texts) + "\n")
    for text, line in zip(texts, enc.stdout.splitlines()):
        ours = json.loads(line)
        assert tok.encode(text, add_special_tokens=False) == ours, text
        if kind == "byte" or 0 not in ours:
            assert tok.decode(ours) == text


def test_exported_bpe_tokenizer_stays_moescope_only(tmp_path, corpus):
    # SentencePiece BPE: no tokenizer.json translation; moescope reads the export's own copy (its
    # model file renamed, so that transformers does not take it for a slow tokenizer).
    run = train(tmp_path, corpus, "bpe", sets=["moe.score_func=sigmoid", "data.tokenizer=bpe", "data.bpe_vocab_size=500"])
    out, _ = export_and_compare(tmp_path, run, "deepseek_v3")
    assert (out / "moescope_tokenizer.model").exists() and not (out / "tokenizer.json").exists()
    assert not (out / "tokenizer.model").exists()
    lines = TEXT.strip() + "\n" + "naïve café 0123\n"
    assert moescope("tokenize", "--tokenizer", out, input=lines).stdout == moescope("tokenize", "--tokenizer", run, input=lines).stdout
