"""watch.py: moescope.watch(model, logdir, ...): find a model's routers and record their real
top-k decisions with forward hooks.

Routers are recognised by what they are, not guessed: a module whose class name ends in
"Router" or "Gate" (TopKRouter, TopkRouter, ...), with a 2-D `weight` [n_experts, hidden] (or
one nn.Linear child holding it, as DbrxRouter) and a `top_k` (or `num_experts_per_tok`) of its
own or of the MoE block holding it. What it returns decides where the decision is read:
- (router_logits [T, E], weights [T, K], indices [T, K]): the router of every transformers MoE
  model that computes its top-k inside the router -- qwen2_moe, qwen3_moe, mixtral, olmoe,
  deepseek_v2, deepseek_v3 (transformers >= 5), and the directories moescope exports. The hook
  reads the indices and the logits; the probabilities are the router's own score function of
  those logits (sigmoid for routers with an e_score_correction_bias, as deepseek_v3 scores,
  else softmax).
- (indices [T, K], weights [T, K]) (deepseek_v3 in transformers 4.5x): the indices only.
- router_logits [T, E] alone, the top-k chosen by the MoE block around it (dbrx in transformers
  5.25; deepseek_v3 in 4.57 - 5.0, before 2026's routing refactor: `route_tokens_to_experts
  (router_logits) -> (indices, weights)` or (weights, indices)): the block's
  `route_tokens_to_experts` is wrapped on the instance and its returned indices are read, with
  the logits it was given.
Nothing is re-routed. A router that returns anything else raises a clear error at its first
forward; so does a router returning bare logits inside a block with no `route_tokens_to_experts`.
"""
from __future__ import annotations

import re
from typing import Callable, Optional

from .watcher import Watcher, in_backward

_ROUTER_NAME = re.compile(r"(Router|Gate)$")


def _top_k(m) -> Optional[int]:
    for a in ("top_k", "num_experts_per_tok", "moe_top_k"):
        v = getattr(m, a, None)
        if isinstance(v, int):
            return v
    return None


def _router_weight(m):
    """The router's [n_experts, hidden] weight: its own `weight`, or that of its one nn.Linear
    child (DbrxRouter.layer); None when it has neither."""
    import torch

    w = getattr(m, "weight", None)
    if isinstance(w, torch.Tensor):
        return w if w.dim() == 2 else None
    kids = list(m.children())
    if len(kids) == 1 and isinstance(kids[0], torch.nn.Linear):
        return kids[0].weight
    return None


def find_routers(model):
    """[(qualified name, module, transformer layer index, n_experts, top_k)] of the model's routers:
    modules named *Router or *Gate with a [n_experts, hidden] weight (or one nn.Linear child),
    and a top_k (or num_experts_per_tok) of their own or of the MoE block holding them."""
    found = []
    parents = _parents(model)
    for name, m in model.named_modules():
        if not _ROUTER_NAME.search(type(m).__name__):
            continue
        w = _router_weight(m)
        k = _top_k(m)
        if k is None and name in parents:
            k = _top_k(parents[name])
        if w is None or k is None:
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
    parents = _parents(model)
    for name, m, layer, E, K in routers:
        balanced = hasattr(m, "e_score_correction_bias")  # deepseek_v3-style: sigmoid scores and a bias
        w.add_layer(name, layer, E, K, name=name, sigmoid=balanced,
                    bias=(lambda mod=m: mod.e_score_correction_bias) if balanced else None)
        block = parents.get(name)
        route = _BlockRoute(w, name, block) if callable(getattr(block, "route_tokens_to_experts", None)) else None
        w.handles.append(m.register_forward_hook(_hook(w, name, route)))
        if route is not None:
            w.handles.append(route)
    w.handles.append(model.register_forward_hook(_loss_hook(w), with_kwargs=True))
    if balance_bias or remediate:
        from .balance import BiasBalancer

        w.balancers.append(BiasBalancer(w, rate=bias_update_rate, remediate=remediate))
    return w


def _parents(model):
    """{qualified name of a module: the module that holds it}."""
    out = {}
    for pname, p in model.named_modules():
        for cname, _ in p.named_children():
            out[f"{pname}.{cname}" if pname else cname] = p
    return out


class _BlockRoute:
    """The MoE block's own top-k step, `block.route_tokens_to_experts(router_logits) -> (indices,
    weights)`, wrapped on the instance (the class is untouched; remove() restores it). It reads
    the indices only while its router returns bare logits (`active`, set by the router's hook),
    so a block whose router already returned its indices is never counted twice."""

    def __init__(self, w: Watcher, key, block):
        self.w, self.key, self.block, self.active = w, key, block, False
        original = block.route_tokens_to_experts  # the bound method

        def route_tokens_to_experts(router_logits, *args, **kwargs):
            out = original(router_logits, *args, **kwargs)
            if self.active and not in_backward():
                self.active = False  # one router forward, one decision read
                idx = _indices_of(out, key, type(block).__name__ + ".route_tokens_to_experts")
                w.observe(key, idx, logits=router_logits, training=block.training, _checked_backward=True)
            return out

        block.route_tokens_to_experts = route_tokens_to_experts

    def remove(self):
        if "route_tokens_to_experts" in vars(self.block):
            del self.block.route_tokens_to_experts


def _is_ids(t) -> bool:
    import torch

    return isinstance(t, torch.Tensor) and not (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool)


def _indices_of(out, key, what):
    """The integer [T, K] tensor of an (indices, weights) or (weights, indices) pair."""
    if isinstance(out, (tuple, list)) and len(out) == 2:
        ids = [t for t in out if _is_ids(t)]
        if len(ids) == 1:
            return ids[0]
    raise TypeError(f"moescope: {key}: {what} returned {type(out).__name__}, not (indices, weights)")


def _hook(w: Watcher, key, route: Optional[_BlockRoute]):
    import torch

    def hook(mod, args, out):
        if in_backward():
            return
        if isinstance(out, torch.Tensor) and out.is_floating_point():  # bare logits: the block picks top-k
            if route is None:
                raise TypeError(f"moescope: router {key} ({type(mod).__name__}) returned only router logits and the "
                                "module around it has no route_tokens_to_experts to read its top-k from; feed its "
                                "routing with moescope.observe(layer, topk_ids, probs) instead")
            route.active = True
            return
        if route is not None:
            route.active = False
        if isinstance(out, (tuple, list)) and len(out) == 3:
            logits, _, idx = out
            w.observe_router(key, idx, logits, mod.training)
            return
        if isinstance(out, (tuple, list)) and len(out) == 2:
            w.observe(key, _indices_of(out, key, type(mod).__name__), training=mod.training, _checked_backward=True)
            return
        raise TypeError(f"moescope: router {key} ({type(mod).__name__}) returned {type(out).__name__}, not "
                        "(router_logits, weights, indices), (indices, weights) or router_logits")

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
