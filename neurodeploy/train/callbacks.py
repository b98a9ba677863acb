"""Training callbacks: surrogate schedules, adaptive surrogates, gradient diagnostics.

A callback may implement any of the hooks below; its ``state_dict`` is saved in every
checkpoint and restored on ``--resume`` so that a resumed run continues exactly.
``build_callbacks(cfg, model)`` turns the config into the list the trainer runs.
"""

from __future__ import annotations


class Callback:
    """Hooks called by :class:`~neurodeploy.train.trainer.Trainer` (all optional)."""

    name = "callback"

    def on_train_start(self, trainer) -> None: ...

    def on_epoch_start(self, trainer, epoch: int) -> None: ...

    def on_after_backward(self, trainer, step: int) -> None:
        """Gradients are in ``.grad``; the optimiser has not stepped yet."""

    def on_epoch_end(self, trainer, epoch: int, metrics: dict) -> None:
        """May add JSON-able entries to ``metrics`` (written to metrics.jsonl)."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...


def build_callbacks(cfg: dict, model) -> list[Callback]:
    """Callbacks requested by ``cfg`` (none by default)."""
    return []
