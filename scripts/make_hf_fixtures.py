#!/usr/bin/env python3
"""make_hf_fixtures.py: regenerate the tiny Hugging Face MoE fixtures with transformers itself.

    python3 scripts/make_hf_fixtures.py OUT_DIR        # e.g. ../shared/fixtures/hf

Needs torch and transformers (not available on the CPU build machines; run it where they are,
e.g. the GPU machine with PyTorch 2.11 and transformers 5.x). For each architecture it builds
the same config.json as tests/train/hf_fixture_writer.cpp, random weights of the same kind
(N(0,1)/sqrt(fan_in) projections, norms near 1, decisive routers), saves them with
save_pretrained in float32, writes the same byte-level tokenizer, and records in expected.json
the logits of the same fixed input and greedy ids computed by transformers' own forward pass
(fp64 on the CPU). hf_model_test.cpp uses OUT_DIR when it is ../shared/fixtures/hf.

Differences from the committed fixtures (made by moescope's own reference): no FP8 weights and
no MTP layer for deepseek_v3 (transformers does not write them), single-file float32 storage.
The script checks that the saved tensor names follow each architecture's published layout and
stops if a transformers version writes another one (e.g. fused expert tensors).
"""
import json
import os
import re
import sys

import torch
import transformers

VOCAB = 272
PROMPT = "The theory"
LOGITS_INPUT = [261, 84, 257, 258, 259, 121, 32, 97, 110, 100, 46, 270]
GREEDY_TOKENS = 6


def base(model_type):
    return dict(model_type=model_type, vocab_size=VOCAB, hidden_act="silu", initializer_range=0.02, use_cache=True,
                bos_token_id=261, eos_token_id=262, tie_word_embeddings=False, rms_norm_eps=1e-6,
                max_position_embeddings=128, attention_dropout=0.0)


CONFIGS = {
    "deepseek_v3": dict(hidden_size=64, intermediate_size=160, moe_intermediate_size=32, num_hidden_layers=3,
                        num_attention_heads=4, num_key_value_heads=4, n_shared_experts=1, n_routed_experts=8,
                        routed_scaling_factor=2.5, kv_lora_rank=16, q_lora_rank=32, qk_rope_head_dim=8, v_head_dim=16,
                        qk_nope_head_dim=16, n_group=4, topk_group=2, num_experts_per_tok=2, first_k_dense_replace=1,
                        norm_topk_prob=True, topk_method="noaux_tc", scoring_func="sigmoid", rope_theta=10000.0,
                        rope_scaling=dict(type="yarn", factor=4.0, original_max_position_embeddings=32, beta_fast=32,
                                          beta_slow=1, mscale=1.0, mscale_all_dim=0.8)),
    "deepseek_v2": dict(hidden_size=64, intermediate_size=96, moe_intermediate_size=24, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=4, n_shared_experts=2, n_routed_experts=8,
                        routed_scaling_factor=1.5, kv_lora_rank=16, q_lora_rank=None, qk_rope_head_dim=8, v_head_dim=16,
                        qk_nope_head_dim=16, n_group=4, topk_group=2, num_experts_per_tok=3, first_k_dense_replace=1,
                        norm_topk_prob=False, topk_method="group_limited_greedy", rope_theta=10000.0,
                        rope_scaling=dict(type="yarn", factor=2.0, original_max_position_embeddings=64, beta_fast=32,
                                          beta_slow=1, mscale=0.707, mscale_all_dim=0.707)),
    "qwen2_moe": dict(hidden_size=48, intermediate_size=64, moe_intermediate_size=20, shared_expert_intermediate_size=40,
                      num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, num_experts=6,
                      num_experts_per_tok=2, decoder_sparse_step=1, mlp_only_layers=[1], norm_topk_prob=False,
                      rope_theta=1000000.0, use_sliding_window=False),
    "qwen3_moe": dict(hidden_size=48, intermediate_size=64, moe_intermediate_size=24, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_experts=8, num_experts_per_tok=2,
                      decoder_sparse_step=2, mlp_only_layers=[], norm_topk_prob=True, rope_theta=1000000.0,
                      use_sliding_window=False, attention_bias=False, tie_word_embeddings=True),
    "mixtral": dict(hidden_size=48, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=1, num_local_experts=4, num_experts_per_tok=2, rope_theta=1000000.0,
                    sliding_window=None, rms_norm_eps=1e-5),
    "olmoe": dict(hidden_size=48, intermediate_size=16, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=4, num_experts=8, num_experts_per_tok=2, norm_topk_prob=False, clip_qkv=1.5,
                  rope_theta=10000.0, rms_norm_eps=1e-5, pad_token_id=1),
}

# Published tensor-name patterns each saved checkpoint must follow.
LAYOUT = {
    "mixtral": r"block_sparse_moe\.experts\.\d+\.w[123]\.weight",
    "qwen2_moe": r"mlp\.(experts\.\d+\.(gate|up|down)_proj|shared_expert\.(gate|up|down)_proj|shared_expert_gate)\.weight",
}
for t in ("deepseek_v3", "deepseek_v2", "qwen3_moe", "olmoe"):
    LAYOUT[t] = r"mlp\.experts\.\d+\.(gate|up|down)_proj\.weight"


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
    g = torch.Generator().manual_seed(seed)
    tied = model.config.tie_word_embeddings
    for name, p in model.named_parameters():
        if name.endswith("embed_tokens.weight"):
            p.copy_(torch.randn(p.shape, generator=g) * (0.3 if tied else 1.0))
        elif "norm" in name:
            p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
        elif name.endswith(".bias"):
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
        elif p.dim() == 2:
            gain = 3.0 if re.search(r"\.gate\.weight$", name) else (2.0 if name == "lm_head.weight" else 1.0)
            p.copy_(torch.randn(p.shape, generator=g) * gain / p.shape[1] ** 0.5)
    for name, b in model.named_buffers():
        if name.endswith("e_score_correction_bias"):
            b.copy_(0.05 * torch.randn(b.shape, generator=g))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    for arch, extra in CONFIGS.items():
        cfg = base(arch)
        cfg.update(extra)
        config = transformers.AutoConfig.for_model(**cfg)
        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32)
        randomise(model, 1234)
        model.eval()
        d = os.path.join(out, arch)
        os.makedirs(d, exist_ok=True)
        model.save_pretrained(d, safe_serialization=True)
        from safetensors import safe_open
        names = []
        for f in os.listdir(d):
            if f.endswith(".safetensors"):
                with safe_open(os.path.join(d, f), "pt") as st:
                    names += list(st.keys())
        if not any(re.search(LAYOUT[arch], n) for n in names):
            sys.exit(f"{arch}: transformers {transformers.__version__} did not save the published layout "
                     f"({LAYOUT[arch]}); first names: {sorted(names)[:8]}")
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            json.dump(tokenizer_json(), f, ensure_ascii=False)
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(dict(bos_token="<|begin|>", eos_token="<|end|>", add_bos_token=False, add_eos_token=False,
                           clean_up_tokenization_spaces=False, model_max_length=128), f)
        from tokenizers import Tokenizer
        prompt_ids = Tokenizer.from_file(os.path.join(d, "tokenizer.json")).encode(PROMPT).ids
        m64 = model.to(torch.float64)
        logits = m64(torch.tensor([LOGITS_INPUT])).logits[0]
        ids = list(prompt_ids)
        for _ in range(GREEDY_TOKENS):  # greedy by full recomputation
            ids.append(int(m64(torch.tensor([ids])).logits[0, -1].argmax()))
        expected = dict(source=f"transformers {transformers.__version__}, torch {torch.__version__} (fp64 CPU forward)",
                        prompt=PROMPT, prompt_ids=prompt_ids, input_ids=LOGITS_INPUT, logits=logits.tolist(),
                        greedy_new_ids=ids[len(prompt_ids):])
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump(expected, f)
        print("wrote", d)


if __name__ == "__main__":
    main()
