"""conftest.py: tiny random transformers MoE models and token data for the moescope package's
tests (CPU, seconds each). Each test imports moescope from the build tree (BUILD/python, put
first on PYTHONPATH by CTest's moescope_pytest) or from an installed package."""
import os
import sys

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture
def moescope_binary():
    """The built `moescope` binary (CTest sets MOESCOPE_BINARY); a missing one fails the test."""
    binary = os.environ.get("MOESCOPE_BINARY", "")
    assert os.path.isfile(binary), f"MOESCOPE_BINARY={binary!r} is not a built moescope binary"
    return binary


def tiny_qwen3_moe(top_k=2, experts=8, layers=2, aux=0.0, seed=0, vocab=64, hidden=32):
    from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen3MoeConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=32, moe_intermediate_size=16,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         num_experts=experts, num_local_experts=experts, num_experts_per_tok=top_k,
                         decoder_sparse_step=1, mlp_only_layers=[], max_position_embeddings=64,
                         output_router_logits=aux > 0, router_aux_loss_coef=aux, norm_topk_prob=True)
    return Qwen3MoeForCausalLM(cfg)


def tiny_deepseek_v3(top_k=2, experts=8, layers=2, seed=0):
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    torch.manual_seed(seed)
    cfg = DeepseekV3Config(vocab_size=64, hidden_size=32, intermediate_size=32, moe_intermediate_size=16,
                           num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
                           n_routed_experts=experts, n_shared_experts=1, num_experts_per_tok=top_k, n_group=1,
                           topk_group=1, first_k_dense_replace=0, kv_lora_rank=16, q_lora_rank=None,
                           qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8, max_position_embeddings=64)
    m = DeepseekV3ForCausalLM(cfg)
    # transformers initialises the router weight to zeros only in _init_weights for loaded models;
    # a random router makes routing depend on the input, as in a trained model.
    for name, p in m.named_parameters():
        if name.endswith("gate.weight"):
            torch.nn.init.normal_(p, std=0.5)
    return m


def token_batches(n, batch=4, seq=16, vocab=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab, (batch, seq), generator=g) for _ in range(n)]


class IdCapture:
    """Captures every router's top-k ids independently of moescope (its own forward hooks),
    skipping the recomputed forward of activation checkpointing and eval-mode forwards."""

    def __init__(self, model):
        self.ids = {}
        self.handles = []
        for name, m in model.named_modules():
            if type(m).__name__.endswith(("Router", "Gate")) and hasattr(m, "weight"):
                self.handles.append(m.register_forward_hook(self._hook(name)))

    def _hook(self, name):
        def hook(mod, args, out):
            if torch._C._current_graph_task_id() != -1 or not mod.training:
                return
            self.ids.setdefault(name, []).append(out[2].detach().reshape(-1).clone())

        return hook

    def counts(self, name, E):
        return torch.bincount(torch.cat(self.ids[name]), minlength=E).tolist()
