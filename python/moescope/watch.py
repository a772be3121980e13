"""watch.py: moescope.watch(model, logdir, ...): find a model's routers and record their real
top-k decisions with forward hooks.

Routers are recognised by what they are, not guessed: a module whose class name ends in
"Router" or "Gate" (TopKRouter, TopkRouter, ...), with a 2-D `weight` [n_experts, hidden] and a
`top_k` (or `num_experts_per_tok`) attribute, and whose forward returns (router_logits
[T, E], weights [T, K], indices [T, K]) -- the router of every transformers MoE model that
computes its top-k inside the router: qwen2_moe, qwen3_moe, mixtral, olmoe, deepseek_v2,
deepseek_v3 (transformers >= 5), and the Hugging Face directories moescope exports (they load
as those classes). The hook reads the indices the model used and the logits it computed; the
probabilities are the router's own score function of those logits (sigmoid for routers with
an e_score_correction_bias, as deepseek_v3 scores, else softmax). Nothing is re-routed.
A router that returns something else raises a clear error at its first forward.
"""
from __future__ import annotations

import re
from typing import Callable, Optional

from .watcher import Watcher, in_backward

_ROUTER_NAME = re.compile(r"(Router|Gate)$")


def _top_k(m) -> Optional[int]:
    for a in ("top_k", "num_experts_per_tok"):
        v = getattr(m, a, None)
        if isinstance(v, int):
            return v
    return None


def find_routers(model):
    """[(qualified name, module, transformer layer index, n_experts, top_k)] of the model's routers."""
    import torch

    found = []
    for name, m in model.named_modules():
        if not _ROUTER_NAME.search(type(m).__name__):
            continue
        w = getattr(m, "weight", None)
        k = _top_k(m)
        if not isinstance(w, torch.Tensor) or w.dim() != 2 or k is None:
            continue
        nums = re.findall(r"\.(\d+)\.", "." + name + ".")
        layer = int(nums[0]) if nums else len(found)
        found.append((name, m, layer, int(w.shape[0]), k))
    return found


def watch(model, logdir: str, log_every: int = 10, scope: Optional[dict] = None,
          on_alert: Optional[Callable[[dict], None]] = None, framework: str = "pytorch",
          coact_every: Optional[int] = None, balance_bias: bool = False, bias_update_rate: float = 0.001,
          remediate: bool = False, process_group=None) -> Watcher:
    """Attach moescope's microscope to `model`; returns the Watcher. Call watcher.step() after
    every optimizer step (the integrations do it for you). Raises ValueError when the model has
    no recognisable router."""
    routers = find_routers(model)
    if not routers:
        raise ValueError(f"moescope.watch: {type(model).__name__} has no recognisable MoE router (a module named "
                         "*Router or *Gate with a [n_experts, hidden] weight and top_k, returning (logits, weights, "
                         "indices)); feed its routing with moescope.observe(layer, topk_ids, probs) instead")
    w = Watcher(logdir, log_every=log_every, scope=scope, on_alert=on_alert, model_class=type(model).__name__,
                framework=framework, coact_every=coact_every, process_group=process_group)
    w.model = model
    w.handles = []
    for name, m, layer, E, K in routers:
        L = w.add_layer(name, layer, E, K, name=name)
        L.sigmoid = hasattr(m, "e_score_correction_bias")
        if L.sigmoid:
            L.bias_source = (lambda mod: (lambda: mod.e_score_correction_bias))(m)
        w.handles.append(m.register_forward_hook(_hook(w, name, m)))
    w.handles.append(model.register_forward_hook(_loss_hook(w), with_kwargs=True))
    if balance_bias or remediate:
        from .balance import BiasBalancer

        w.balancers.append(BiasBalancer(w, rate=bias_update_rate, remediate=remediate))
    return w


def _hook(w: Watcher, key, module):
    def hook(mod, args, out):
        if in_backward():
            return
        if not (isinstance(out, (tuple, list)) and len(out) == 3):
            raise TypeError(f"moescope: router {key} ({type(mod).__name__}) returned {type(out).__name__}, not "
                            "(router_logits, weights, indices)")
        logits, _, idx = out
        w.observe(key, idx, logits=logits, training=mod.training, _checked_backward=True)

    return hook


def _loss_hook(w: Watcher):
    """The training loss the model returned (transformers' `.loss`), kept on its device. A step's
    loss is the mean of its micro-batches' losses, or their sum when the caller passed
    num_items_in_batch (transformers' Trainer under gradient accumulation: each micro-batch's
    loss is then already divided by the whole step's token count), as the Trainer logs it."""

    def hook(mod, args, kwargs, out):
        loss = getattr(out, "loss", None)
        if loss is None or not mod.training or in_backward():
            return
        w.add_forward_loss(loss, summed=kwargs.get("num_items_in_batch") is not None)

    return hook


def unwatch(w: Watcher):
    for h in getattr(w, "handles", []):
        h.remove()
    w.handles = []
