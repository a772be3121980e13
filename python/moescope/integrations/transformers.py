"""transformers.py: MoescopeCallback, a transformers TrainerCallback that watches the Trainer's
model (moescope.watch) and writes moescope's run directory next to the Trainer's own logs.

    trainer = Trainer(model=model, args=args, train_dataset=ds,
                      callbacks=[MoescopeCallback("runs/mine", log_every=10)])

One record per `log_every` optimizer steps (gradient-accumulation micro-batches all counted,
once each); evaluation forwards (the model in eval mode) go to an eval record with the
validation MaxVio at every on_evaluate; on_log adds the headline metrics (moe/*) to the
Trainer's logs.
"""
from __future__ import annotations

from typing import Callable, Optional

from transformers import TrainerCallback

from ..watch import watch


class MoescopeCallback(TrainerCallback):
    def __init__(self, logdir: str, log_every: int = 10, scope: Optional[dict] = None,
                 on_alert: Optional[Callable[[dict], None]] = None, **watch_kwargs):
        self.logdir, self.log_every, self.scope, self.on_alert = logdir, log_every, scope, on_alert
        self.watch_kwargs = watch_kwargs
        self.watcher = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.watcher is None:
            self.watcher = watch(model, self.logdir, log_every=self.log_every, scope=self.scope, on_alert=self.on_alert,
                                 framework="transformers", **self.watch_kwargs)

    def on_step_end(self, args, state, control, optimizer=None, **kwargs):
        lr = optimizer.param_groups[0]["lr"] if optimizer is not None else None
        # the loss: the model's own, from moescope.watch's hook on its output (no host sync per step)
        self.watcher.step(lr=lr, step=state.global_step)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.watcher is not None:
            self.watcher.log_eval(step=state.global_step, val_loss=(metrics or {}).get("eval_loss"))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.watcher is not None and logs is not None:
            head = self.watcher.headline()
            logs.update(head)
            if state.log_history:
                state.log_history[-1].update(head)
