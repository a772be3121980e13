"""lightning.py: MoescopeLightningCallback, a Lightning Callback that watches the LightningModule
(moescope.watch) and writes moescope's run directory.

    trainer = lightning.Trainer(callbacks=[MoescopeLightningCallback("runs/mine", log_every=10)])

A record every `log_every` optimizer steps (trainer.global_step), an eval record after every
validation epoch; the headline metrics (moe/*) are logged through the LightningModule.
"""
from __future__ import annotations

from typing import Callable, Optional

import lightning.pytorch as pl

from ..watch import watch


class MoescopeLightningCallback(pl.Callback):
    def __init__(self, logdir: str, log_every: int = 10, scope: Optional[dict] = None,
                 on_alert: Optional[Callable[[dict], None]] = None, **watch_kwargs):
        super().__init__()
        self.logdir, self.log_every, self.scope, self.on_alert = logdir, log_every, scope, on_alert
        self.watch_kwargs = watch_kwargs
        self.watcher = None
        self._last_step = 0

    def on_fit_start(self, trainer, pl_module):
        if self.watcher is None:
            self.watcher = watch(pl_module, self.logdir, log_every=self.log_every, scope=self.scope,
                                 on_alert=self.on_alert, framework="lightning", **self.watch_kwargs)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self._last_step:
            return  # a gradient-accumulation micro-batch: the step has not ended
        self._last_step = trainer.global_step
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        opt = trainer.optimizers[0] if trainer.optimizers else None
        rec = self.watcher.step(loss=loss, lr=opt.param_groups[0]["lr"] if opt else None, step=trainer.global_step)
        if rec is not None:
            for k, v in self.watcher.headline().items():
                pl_module.log(k, float(v), on_step=True)

    def on_validation_epoch_end(self, trainer, pl_module):
        if self.watcher is not None and not trainer.sanity_checking:
            self.watcher.log_eval(step=trainer.global_step)
