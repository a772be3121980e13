#!/usr/bin/env python3
"""make_hf_fixtures.py: the tiny Hugging Face MoE fixtures, made and measured by transformers itself.

    .venv/bin/python scripts/make_hf_fixtures.py tests/fixtures/hf

Runs on the CPU with the pinned environment (python/requirements.lock: torch, transformers,
tokenizers, safetensors). For each fixture it builds the architecture from a config with
transformers, draws seeded random weights (routers scaled so that routing is decisive), writes
the directory with save_pretrained exactly as the pinned transformers writes it (sharded with
max_shard_size where asked, bf16 where asked), adds a byte-level BPE tokenizer.json, then
reloads the directory with from_pretrained in fp32 and records in expected.json what that model
computes on the CPU:

  logits        at two input lengths (12 and 40 tokens);
  routing       per MoE layer, the top-k expert ids and weights that transformers' router
                modules return (forward hooks on the gate modules), for both inputs, and the
                smallest selection margin (how far routing is from a tie);
  greedy        16 new tokens from model.generate (do_sample=False, KV cache, no EOS stop);
  one_step      loss and gradient norms per parameter group of one training forward/backward
                on a fixed batch (model.train(), labels = inputs, shifted by transformers);
  adamw         the losses of 5 AdamW steps on one fixed 17-token window, with the settings of
                `moescope train --init` that reproduce them (`train_text` is a corpus whose
                train split is exactly that window; `moescope_set` the --set overrides);
  versions      torch and transformers.

deepseek_v3_fp8 is the one fixture that save_pretrained cannot write: transformers builds and
saves it like the others, then this script quantises its projection weights to DeepSeek-V3's
block FP8 (float8_e4m3fn, one float32 weight_scale_inv per 128x128 block, as the published
checkpoints store them), adds a multi-token-prediction layer and the quantization_config; its expected numbers are transformers'
forward on the dequantised weights (what the FP8 checkpoint means).

Everything is seeded and runs single-threaded: a second run writes byte-identical files.
"""
import json
import math
import os
import re
import shutil
import sys

import torch
import transformers
from safetensors import safe_open
from safetensors.torch import save_file
from tokenizers import Tokenizer

VOCAB = 272
PROMPT = "The theory"
INPUT_A = [261, 84, 257, 258, 259, 121, 32, 97, 110, 100, 46, 270]
LEN_B = 40
GREEDY_TOKENS = 16
STEP_BATCH, STEP_LEN = 2, 16     # one_step: 2 sequences of 16 + 1 tokens
ADAMW_LEN = 16                   # adamw: one window of 16 + 1 tokens
ADAMW = dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, grad_clip=1.0, steps=5)
MIN_MARGIN = 1e-4                # routing closer than this to a tie stops the script
TRAIN_TEXT = ("The theory of the other order, as the author wrote, the tether held; ever the worker "
              "thought of the north. Other theories were tested there, and the")


def base(model_type):
    return dict(model_type=model_type, vocab_size=VOCAB, hidden_act="silu", initializer_range=0.02, use_cache=True,
                bos_token_id=261, eos_token_id=262, tie_word_embeddings=False, rms_norm_eps=1e-6,
                max_position_embeddings=128, attention_dropout=0.0)


# name -> (model_type, config, storage dtype, max_shard_size or None)
FIXTURES = {
    # n_group 4 > topk_group 2, first_k_dense_replace 1, routed_scaling_factor 2.5, norm_topk_prob,
    # e_score_correction_bias (selection only), YaRN with mscale/mscale_all_dim; two shards.
    "deepseek_v3": ("deepseek_v3", dict(
        hidden_size=64, intermediate_size=160, moe_intermediate_size=32, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=4, n_shared_experts=1, n_routed_experts=8, routed_scaling_factor=2.5, kv_lora_rank=16,
        q_lora_rank=32, qk_rope_head_dim=8, v_head_dim=16, qk_nope_head_dim=16, n_group=4, topk_group=2,
        num_experts_per_tok=2, first_k_dense_replace=1, norm_topk_prob=True, topk_method="noaux_tc",
        scoring_func="sigmoid", rope_interleave=True,
        rope_parameters=dict(rope_type="yarn", rope_theta=10000.0, factor=4.0, original_max_position_embeddings=32,
                             beta_fast=32, beta_slow=1, mscale=1.0, mscale_all_dim=0.8)), "float32", "400KB"),
    # norm_topk_prob false, n_group 2 > topk_group 1, two dense layers first, no q LoRA, plain RoPE,
    # tied embeddings; stored as block FP8 with an MTP layer (see above).
    "deepseek_v3_fp8": ("deepseek_v3", dict(
        hidden_size=64, intermediate_size=160, moe_intermediate_size=32, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=4, n_shared_experts=2, n_routed_experts=8, routed_scaling_factor=1.5, kv_lora_rank=16,
        q_lora_rank=None, qk_rope_head_dim=8, v_head_dim=16, qk_nope_head_dim=16, n_group=2, topk_group=1,
        num_experts_per_tok=3, first_k_dense_replace=2, norm_topk_prob=False, topk_method="noaux_tc",
        scoring_func="sigmoid", rope_interleave=True, tie_word_embeddings=True,
        rope_parameters=dict(rope_type="default", rope_theta=10000.0)), "float32", None),
    "deepseek_v2": ("deepseek_v2", dict(
        hidden_size=64, intermediate_size=96, moe_intermediate_size=24, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, n_shared_experts=2, n_routed_experts=8, routed_scaling_factor=1.5, kv_lora_rank=16,
        q_lora_rank=None, qk_rope_head_dim=8, v_head_dim=16, qk_nope_head_dim=16, n_group=4, topk_group=2,
        num_experts_per_tok=3, first_k_dense_replace=1, norm_topk_prob=False, topk_method="group_limited_greedy",
        rope_parameters=dict(rope_type="yarn", rope_theta=10000.0, factor=2.0, original_max_position_embeddings=64,
                             beta_fast=32, beta_slow=1, mscale=0.707, mscale_all_dim=0.707)), "float32", None),
    # the sigmoid shared_expert_gate, a dense layer among MoE layers (mlp_only_layers), q/k/v biases; bf16.
    "qwen2_moe": ("qwen2_moe", dict(
        hidden_size=48, intermediate_size=64, moe_intermediate_size=20, shared_expert_intermediate_size=40,
        num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, num_experts=6, num_experts_per_tok=2,
        decoder_sparse_step=1, mlp_only_layers=[1], norm_topk_prob=False,
        rope_parameters=dict(rope_type="default", rope_theta=1000000.0), use_sliding_window=False), "bfloat16", None),
    # q/k RMSNorm per head, decoder_sparse_step 2, norm_topk_prob, tied embeddings; three shards.
    "qwen3_moe": ("qwen3_moe", dict(
        hidden_size=48, intermediate_size=64, moe_intermediate_size=24, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, num_experts=8, num_experts_per_tok=2, decoder_sparse_step=2,
        mlp_only_layers=[], norm_topk_prob=True, rope_parameters=dict(rope_type="default", rope_theta=1000000.0),
        use_sliding_window=False, attention_bias=False, tie_word_embeddings=True), "float32", "150KB"),
    "mixtral": ("mixtral", dict(
        hidden_size=48, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
        num_local_experts=4, num_experts_per_tok=2, rope_parameters=dict(rope_type="default", rope_theta=1000000.0),
        sliding_window=None, rms_norm_eps=1e-5), "float32", None),
    # Mixtral saved in transformers 5's fused expert layout (save_original_format=False):
    # mlp.experts.gate_up_proj [E, 2h, d] / down_proj [E, d, h], the router as mlp.gate.
    "mixtral_fused": ("mixtral", dict(
        hidden_size=48, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        num_local_experts=6, num_experts_per_tok=2, rope_parameters=dict(rope_type="default", rope_theta=10000.0),
        sliding_window=None, rms_norm_eps=1e-5), "float32", None),
    # q/k RMSNorm over the whole projection, clip_qkv, norm_topk_prob false.
    "olmoe": ("olmoe", dict(
        hidden_size=48, intermediate_size=16, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
        num_experts=8, num_experts_per_tok=2, norm_topk_prob=False, clip_qkv=1.5,
        rope_parameters=dict(rope_type="default", rope_theta=10000.0), rms_norm_eps=1e-5, pad_token_id=1),
        "float32", None),
}


def byte_char_table():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenizer_json():
    t = byte_char_table()
    vocab = {t[b]: b for b in range(256)}
    g = t[ord(" ")]
    merges = [(g, "t"), ("h", "e"), (g + "t", "he"), ("o", "r"), ("e", "r")]
    for i, (x, y) in enumerate(merges):
        vocab[x + y] = 256 + i
    added = [dict(id=261, content="<|begin|>", single_word=False, lstrip=False, rstrip=False, normalized=False, special=True),
             dict(id=262, content="<|end|>", single_word=False, lstrip=False, rstrip=False, normalized=False, special=True)]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": " ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+"},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": [x + " " + y for x, y in merges]},
    }


@torch.no_grad()
def randomise(model, seed):
    """N(0,1)/sqrt(fan_in) projections, norms near 1, biases 0.3, routers x4 (decisive routing)."""
    g = torch.Generator().manual_seed(seed)
    tied = model.config.tie_word_embeddings
    for name, p in model.named_parameters():
        if name.endswith("embed_tokens.weight"):
            p.copy_(torch.randn(p.shape, generator=g) * (0.3 if tied else 1.0))
        elif "norm" in name:
            p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
        elif name.endswith(".bias"):
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
        else:
            gain = 4.0 if re.search(r"\.gate\.weight$", name) else (2.0 if name == "lm_head.weight" else 1.0)
            p.copy_(torch.randn(p.shape, generator=g) * gain / p.shape[-1] ** 0.5)
    for name, b in model.named_buffers():
        if name.endswith("e_score_correction_bias"):  # large enough to change some selections
            b.copy_(0.3 * torch.randn(b.shape, generator=g))


def r32(x):
    """A float32 value as the shortest decimal that reads back to it (stable text, exact value)."""
    if isinstance(x, list):
        return [r32(v) for v in x]
    return float(f"{float(x):.9g}")


def tensor_names(d):
    names = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            with safe_open(os.path.join(d, f), "pt") as st:
                for k in st.keys():
                    names[k] = f
    return names


# ---- FP8 (DeepSeek-V3 block quantisation) ---------------------------------------------------
FP8_BLOCK = 128
FP8_RE = re.compile(r"\.(self_attn\.(q_proj|q_a_proj|q_b_proj|kv_a_proj_with_mqa|kv_b_proj|o_proj)|"
                    r"mlp\.(gate_proj|up_proj|down_proj|shared_experts\.\w+_proj|experts\.\d+\.\w+_proj))\.weight$")


def fp8_quantise(w):
    """w [r, c] fp32 -> (q float8_e4m3fn [r, c], scale_inv fp32 [ceil(r/128), ceil(c/128)], dequantised w)."""
    r, c = w.shape
    br, bc = math.ceil(r / FP8_BLOCK), math.ceil(c / FP8_BLOCK)
    s = torch.empty(br, bc, dtype=torch.float32)
    q = torch.empty(r, c, dtype=torch.float8_e4m3fn)
    deq = torch.empty(r, c, dtype=torch.float32)
    for i in range(br):
        for j in range(bc):
            blk = w[i * FP8_BLOCK:(i + 1) * FP8_BLOCK, j * FP8_BLOCK:(j + 1) * FP8_BLOCK]
            scale = (blk.abs().max() / 448.0).clamp(min=1e-12).float()
            qb = (blk / scale).to(torch.float8_e4m3fn)
            s[i, j] = scale
            q[i * FP8_BLOCK:(i + 1) * FP8_BLOCK, j * FP8_BLOCK:(j + 1) * FP8_BLOCK] = qb
            deq[i * FP8_BLOCK:(i + 1) * FP8_BLOCK, j * FP8_BLOCK:(j + 1) * FP8_BLOCK] = qb.float() * scale
    return q, s, deq


def to_fp8_dir(d):
    """Rewrites the single-file directory d as block FP8 and returns transformers' model of the
    dequantised weights (from_pretrained of a float32 copy of d, deleted afterwards)."""
    path = os.path.join(d, "model.safetensors")
    with safe_open(path, "pt") as st:
        tensors = {k: st.get_tensor(k) for k in st.keys()}
    out, deq = {}, {}
    for k in sorted(tensors):
        t = tensors[k]
        if FP8_RE.search(k) and t.dim() == 2:
            q, s, w = fp8_quantise(t.float())
            out[k], out[k.replace(".weight", ".weight_scale_inv")], deq[k] = q, s, w
        else:
            out[k] = deq[k] = t
    # A multi-token-prediction layer after the last one, as DeepSeek-V3 publishes it (a decoder
    # layer plus enorm, hnorm, eh_proj): not part of next-token logits; transformers and moescope skip it.
    cfg_path = os.path.join(d, "config.json")
    cfg = json.load(open(cfg_path))
    n, h = cfg["num_hidden_layers"], cfg["hidden_size"]
    g = torch.Generator().manual_seed(5)
    last = f"model.layers.{n - 1}."
    for k in sorted(out):
        if k.startswith(last):
            out[f"model.layers.{n}." + k[len(last):]] = out[k].clone()
    out[f"model.layers.{n}.enorm.weight"] = torch.ones(h)
    out[f"model.layers.{n}.hnorm.weight"] = torch.ones(h)
    q, s, _ = fp8_quantise(torch.randn(h, 2 * h, generator=g) / (2 * h) ** 0.5)
    out[f"model.layers.{n}.eh_proj.weight"], out[f"model.layers.{n}.eh_proj.weight_scale_inv"] = q, s
    cfg["num_nextn_predict_layers"] = 1
    plain = d + ".dequantised"
    shutil.copytree(d, plain)
    save_file(deq, os.path.join(plain, "model.safetensors"), metadata={"format": "pt"})
    model = transformers.AutoModelForCausalLM.from_pretrained(plain, dtype=torch.float32)
    shutil.rmtree(plain)
    save_file(out, path, metadata={"format": "pt"})
    cfg["quantization_config"] = dict(activation_scheme="dynamic", fmt="e4m3", quant_method="fp8",
                                      weight_block_size=[FP8_BLOCK, FP8_BLOCK])
    with open(cfg_path, "w") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    return model


# ---- measurements ---------------------------------------------------------------------------
def gate_modules(model):
    """(layer index, router module) of every MoE layer: the module that returns (logits, weights, ids)."""
    out = []
    for name, m in model.named_modules():
        mm = re.fullmatch(r"model\.layers\.(\d+)\.(mlp|block_sparse_moe)\.gate", name)
        if mm:
            out.append((int(mm.group(1)), m))
    return sorted(out, key=lambda x: x[0])


def selection_margin(model_type, cfg, logits, bias):
    """Smallest gap, over tokens, between the last chosen and the first rejected selection score
    (and, with groups, between the last chosen and the first rejected group): sigmoid scores plus
    bias for deepseek_v3, log-probabilities for the softmax routers."""
    logits = logits.double()
    k = cfg.num_experts_per_tok
    if model_type == "deepseek_v3":
        s = logits.sigmoid() + bias.double()
        G, TG = cfg.n_group, cfg.topk_group
        gs = s.view(s.shape[0], G, -1).topk(2, dim=-1)[0].sum(-1)
    else:  # softmax is monotonic: compare log-probabilities (fp32 noise is relative to the probability)
        s = logits.log_softmax(-1)
        G, TG = (cfg.n_group, cfg.topk_group) if (model_type == "deepseek_v2" and cfg.topk_method == "group_limited_greedy") else (1, 1)
        gs = s.view(s.shape[0], G, -1).max(-1)[0]
    margin = float("inf")
    if G > 1:
        top = gs.sort(-1, descending=True)[0]
        margin = min(margin, float((top[:, TG - 1] - top[:, TG]).min()))
        keep = torch.zeros_like(gs).scatter_(1, gs.topk(TG, -1)[1], 1).bool()
        s = s.masked_fill(~keep.repeat_interleave(s.shape[1] // G, dim=1), float("-inf"))
    top = s.sort(-1, descending=True)[0]
    margin = min(margin, float((top[:, k - 1] - top[:, k]).min()))
    return margin


class NearTie(Exception):
    pass


def input_b():
    return torch.randint(0, 261, (LEN_B,), generator=torch.Generator().manual_seed(99)).tolist()


def capture_routing(model, model_type, ids):
    rec, hooks = {}, []
    for layer, gate in gate_modules(model):
        def hook(mod, inp, out, layer=layer):
            rec[layer] = out
        hooks.append(gate.register_forward_hook(hook))
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    for h in hooks:
        h.remove()
    layers = []
    for layer, gate in gate_modules(model):
        router_logits, weights, idx = rec[layer]
        bias = getattr(gate, "e_score_correction_bias", torch.zeros(router_logits.shape[-1]))
        # Transformers' DeepSeek routers return top-k unsorted: order each token's picks by id.
        order = idx.argsort(-1)
        idx, weights = idx.gather(-1, order), weights.float().gather(-1, order)
        margin = selection_margin(model_type, model.config, router_logits, bias)
        if margin < MIN_MARGIN:
            raise NearTie(f"{model_type} layer {layer}: routing margin {margin:.3g} < {MIN_MARGIN}")
        layers.append(dict(layer=layer, ids=idx.tolist(), weights=r32(weights.tolist()), min_margin=float(f"{margin:.4g}")))
    return logits, layers


PARAM_GROUPS = [  # (group, regex over the Hugging Face tensor name); first match wins
    ("embed", r"^model\.embed_tokens\."), ("lm_head", r"^lm_head\."), ("final_norm", r"^model\.norm\."),
    ("attn", r"\.self_attn\."), ("norms", r"layernorm\.weight$"), ("router", r"\.gate\.weight$"),
    ("shared", r"\.shared_experts?(_gate)?\."), ("experts", r"\.experts\."), ("dense_mlp", r"\.mlp\.")]


def param_group(name):
    m = re.match(r"^model\.layers\.(\d+)\.", name)
    for g, rx in PARAM_GROUPS:
        if re.search(rx, name):
            return f"layers.{m.group(1)}.{g}" if m else g
    raise SystemExit(f"no parameter group for {name}")


def grad_norms(model):
    sq = {}
    for n, p in model.named_parameters():
        if p.grad is None:
            continue
        g = param_group(n)
        sq[g] = sq.get(g, 0.0) + float(p.grad.double().pow(2).sum())
    return {g: float(f"{math.sqrt(v):.9g}") for g, v in sorted(sq.items())}


def adamw_groups(model):
    """moescope's rule (train/adamw.h): no decay on 1-d weights, biases and embeddings."""
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.dim() < 2 or n.endswith(".bias") or "embed_tokens" in n else decay).append(p)
    return [dict(params=decay, weight_decay=ADAMW["weight_decay"]), dict(params=no_decay, weight_decay=0.0)]


def train_window(tok):
    """A corpus of >= 1000 bytes (moescope's minimum) and the data.val_fraction whose train split is
    exactly its first ADAMW_LEN + 1 tokens: every batch moescope draws is that window."""
    text = " ".join([TRAIN_TEXT] * 9)
    ids = tok.encode(text).ids
    assert len(text.encode()) >= 1000 and tok.decode(ids) == text
    n = len(ids)
    val_fraction = float(f"{(n - ADAMW_LEN - 0.5) / n:.12g}")  # floor(n * v) = n - (ADAMW_LEN + 1)
    assert n - math.floor(n * val_fraction) == ADAMW_LEN + 1
    return text, ids[:ADAMW_LEN + 1], val_fraction


def measure(model, model_type, tok, train_text_ids):
    model.eval()
    g = torch.Generator().manual_seed(7)
    ids_b = input_b()
    logits_a, routing_a = capture_routing(model, model_type, INPUT_A)
    logits_b, routing_b = capture_routing(model, model_type, ids_b)

    prompt_ids = tok.encode(PROMPT).ids
    gen_cfg = transformers.GenerationConfig(do_sample=False, max_new_tokens=GREEDY_TOKENS, eos_token_id=None,
                                            pad_token_id=None, bos_token_id=None, use_cache=True)
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt_ids]), attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
                             generation_config=gen_cfg)
    greedy = out[0, len(prompt_ids):].tolist()
    assert len(greedy) == GREEDY_TOKENS

    step_ids = torch.randint(0, 261, (STEP_BATCH, STEP_LEN + 1), generator=g)
    model.train()
    model.zero_grad()
    loss = model(input_ids=step_ids, labels=step_ids).loss
    loss.backward()
    one_step = dict(input_ids=step_ids.tolist(), loss=float(f"{loss.item():.9g}"), grad_norms=grad_norms(model))
    model.zero_grad()

    state = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW(adamw_groups(model), lr=ADAMW["lr"], betas=ADAMW["betas"], eps=ADAMW["eps"])
    window = torch.tensor([train_text_ids])
    losses = []
    for _ in range(ADAMW["steps"]):
        opt.zero_grad()
        loss = model(input_ids=window, labels=window).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), ADAMW["grad_clip"])
        opt.step()
        losses.append(float(f"{loss.item():.9g}"))
    model.load_state_dict(state)
    model.eval()
    return dict(prompt=PROMPT, prompt_ids=prompt_ids,
                inputs=[dict(input_ids=INPUT_A, logits=r32(logits_a.tolist()), routing=routing_a),
                        dict(input_ids=ids_b, logits=r32(logits_b.tolist()), routing=routing_b)],
                greedy_new_ids=greedy, one_step=one_step, adamw_losses=losses)


def moescope_set(val_fraction):
    """The train --init overrides under which moescope's trainer is transformers' AdamW loop above."""
    return {"train.device": "cpu", "train.dtype": "fp32", "train.batch_size": 1, "train.seq_len": ADAMW_LEN,
            "train.grad_accum": 1, "train.max_steps": ADAMW["steps"], "train.lr": ADAMW["lr"], "train.warmup_steps": 0,
            "train.min_lr_ratio": 1.0, "train.weight_decay": ADAMW["weight_decay"], "train.decay_embeddings": False,
            "train.beta1": ADAMW["betas"][0], "train.beta2": ADAMW["betas"][1], "train.adam_eps": ADAMW["eps"],
            "train.grad_clip": ADAMW["grad_clip"], "train.router_lr_mult": 1.0, "train.log_every": 1,
            "data.val_fraction": val_fraction, "moe.bias_update_rate": 0.0}


def make(name, out, tok_json):
    model_type, extra, dtype, shard = FIXTURES[name]
    cfg = base(model_type)
    cfg.update(extra)
    config = transformers.AutoConfig.for_model(**cfg)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.eval()
    for seed in range(1234, 1334):  # the first seed whose routing is decisive on both inputs
        randomise(model, seed)
        try:
            capture_routing(model, model_type, INPUT_A)
            capture_routing(model, model_type, input_b())
            break
        except NearTie as ex:
            print(f"{name}: seed {seed}: {ex}; next seed")
    d = os.path.join(out, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    save = model.to(torch.bfloat16) if dtype == "bfloat16" else model
    fused = name.endswith("_fused")
    save.save_pretrained(d, max_shard_size=shard or "50GB", save_original_format=not fused)
    names = tensor_names(d)
    if fused:
        layout = r"mlp\.experts\.gate_up_proj$"
    elif model_type == "mixtral":
        layout = r"block_sparse_moe\.experts\.\d+\.w[123]\.weight"
    else:
        layout = r"mlp\.experts\.\d+\.(gate|up|down)_proj\.weight"
    if not any(re.search(layout, n) for n in names):
        sys.exit(f"{name}: transformers {transformers.__version__} did not save the expected expert layout "
                 f"({layout}); first names: {sorted(names)[:6]}")
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tok_json, f, ensure_ascii=False, sort_keys=True)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(dict(bos_token="<|begin|>", eos_token="<|end|>", add_bos_token=False, add_eos_token=False,
                       clean_up_tokenization_spaces=False, model_max_length=128), f, sort_keys=True)
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    if name == "deepseek_v3_fp8":
        model = to_fp8_dir(d)
        source = "transformers' forward on the dequantised FP8 weights (the directory is written by this script)"
    else:
        # What transformers computes from the directory itself (bf16 weights read back as fp32).
        model = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
        source = "transformers' forward on the directory, loaded with from_pretrained(dtype=float32)"
    text, ids, val_fraction = train_window(tok)
    e = dict(versions=dict(torch=torch.__version__, transformers=transformers.__version__),
             source=source + ", fp32 on the CPU", seed=seed, storage=dtype, sharded=bool(shard),
             expert_layout="fused" if fused else "per expert")
    e.update(measure(model, model_type, tok, ids))
    e.update(train_text=text, train_window_ids=ids,
             adamw=dict(lr=ADAMW["lr"], betas=list(ADAMW["betas"]), eps=ADAMW["eps"],
                        weight_decay=ADAMW["weight_decay"], grad_clip=ADAMW["grad_clip"], steps=ADAMW["steps"]),
             moescope_set=moescope_set(val_fraction))
    with open(os.path.join(d, "expected.json"), "w") as f:
        f.write(json.dumps(e, sort_keys=True) + "\n")
    print("wrote", d, "(" + ", ".join(sorted(os.listdir(d))) + ")")


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    out = sys.argv[1]
    only = sys.argv[2].split(",") if len(sys.argv) == 3 else list(FIXTURES)
    tok_json = tokenizer_json()
    for name in only:
        make(name, out, tok_json)


if __name__ == "__main__":
    main()
