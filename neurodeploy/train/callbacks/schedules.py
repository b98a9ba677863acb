"""Surrogate mode and per-epoch surrogate schedules: AdaLi boundaries, slope k = 1/width, ASGL's
spike probability and width optimiser."""

from __future__ import annotations

import warnings

import torch

from neurodeploy.errors import ConfigError
from neurodeploy.surrogates import schedules
from neurodeploy.train.callbacks.base import Callback, check_live_honoured, neuron_layers

# ----------------------------------------------------------------------------------------------
# surrogate mode and schedules


class SurrogateMode(Callback):
    """Sets the surrogates' training flag at epoch start and clears it after evaluation, so that a
    model used after ``fit`` behaves as in evaluation (needed for surrogates with ``fused = False``
    until neuron modules forward ``train()/eval()`` to their surrogate)."""

    name = "surrogate_mode"

    def __init__(self, model):
        self.layers = neuron_layers(model)

    def on_epoch_start(self, trainer, epoch):
        for layer in self.layers:
            layer.surrogate.train(True)

    def on_epoch_end(self, trainer, epoch, metrics):
        for layer in self.layers:
            layer.surrogate.eval()


class AdaLiSchedule(Callback):
    """AdaLi boundaries per epoch (``schedules.adali_distance``) and the compute density: the
    fraction of surrogate-derivative entries (neurons × steps × samples) inside [V⁻, V⁺] during
    the epoch's training backward passes.

    ``auto_coverage`` c > 0: the initial distances are chosen from the membrane-potential
    distribution (seed 000: "automatically determined based on the distribution of spiking
    neuron membrane potentials"; §4.2 sets them so that over half of the membranes get a
    gradient): per spiking layer, on the first (unshuffled) training batch at the start of
    training, ``L`` = the c-quantile of ``−u`` over the entries with ``u = v' − v_th < 0`` and
    ``R`` = the c-quantile of ``u`` over ``u ≥ 0`` (``R = L`` if none), so that a fraction c of the
    layer's membranes lies in [−L, R]. The surrogate's ``left``/``right`` fields are then unused;
    the chosen values are kept in the checkpoint and reported as ``adali_initial``."""

    name = "adali"

    def __init__(self, model, kind: str, p: float, auto_coverage: float = 0.0):
        self.model = model
        self.layers = neuron_layers(model)
        self.kind, self.p = kind, p
        self.auto_coverage = auto_coverage
        self.initial: list[tuple[float, float]] | None = None
        self.epochs = 1

    def on_train_start(self, trainer):
        self.epochs = trainer.cfg["train"]["epochs"]
        if self.auto_coverage > 0 and self.initial is None:
            from neurodeploy.train.trainer import batches, to_time_major

            x, _ = next(batches(trainer.data.train, trainer.cfg["train"]["batch_size"], shuffle=False))
            self.initial = auto_boundaries(self.model, to_time_major(x).to(trainer.device), self.auto_coverage)

    def _initial(self, k: int, s) -> tuple[float, float]:
        return self.initial[k] if self.initial is not None else (s.left, s.right)

    def set_epoch(self, epoch: int, epochs: int) -> None:
        for k, layer in enumerate(self.layers):
            s = layer.surrogate
            left, right = self._initial(k, s)
            s.live.set("left", schedules.adali_distance(epoch, epochs, left, self.p, self.kind))
            s.live.set("right", schedules.adali_distance(epoch, epochs, right, self.p, self.kind))

    def on_epoch_start(self, trainer, epoch):
        self.set_epoch(epoch, self.epochs)
        for layer in self.layers:
            layer.surrogate.live.reset_density()
            layer.surrogate.live.track = True

    def on_epoch_end(self, trainer, epoch, metrics):
        lives = [layer.surrogate.live for layer in self.layers]
        active = sum(float(v.active) for v in lives)
        total = sum(float(v.total) for v in lives)
        metrics["adali_left"] = lives[0].get("left")
        metrics["adali_right"] = lives[0].get("right")
        metrics["adali_compute_density"] = active / total if total else None
        metrics["adali_compute_density_layers"] = [v.density() for v in lives]
        if self.initial is not None:
            metrics["adali_initial"] = [list(lr) for lr in self.initial]

    def state_dict(self):
        return {"live": [layer.surrogate.live.state_dict() for layer in self.layers],
                "initial": None if self.initial is None else [list(lr) for lr in self.initial]}

    def load_state_dict(self, state):
        for layer, s in zip(self.layers, state.get("live", [])):
            layer.surrogate.live.load_state_dict(s)
        if state.get("initial") is not None:
            self.initial = [(float(a), float(b)) for a, b in state["initial"]]


@torch.no_grad()
def auto_boundaries(model, x: torch.Tensor, coverage: float) -> list[tuple[float, float]]:
    """AdaLi's initial (L, R) per spiking layer of ``model`` from its membranes on batch ``x``
    (T, B, …) at the current weights (eval forward): the ``coverage``-quantiles of ``−u`` on
    ``u < 0`` and of ``u`` on ``u ≥ 0`` (see :class:`AdaLiSchedule`). Distances are kept ≥ 1e-3."""
    from neurodeploy.neurons import SpikingNeuron
    from neurodeploy.train.near_threshold import membranes

    was = model.training
    model.eval()
    try:
        _, outs = model(x, record=True)
        found = []
        for k, m in enumerate(model):
            if not (isinstance(m, SpikingNeuron) and m.spiking):
                continue
            u, _ = membranes(m, outs[k - 1] if k else x)
            u = u.flatten()
            u = u[:: max(1, u.numel() // 1_000_000)].double()  # torch.quantile's size limit
            neg, pos = -u[u < 0], u[u >= 0]
            left = float(torch.quantile(neg, coverage)) if neg.numel() else 1.0
            right = float(torch.quantile(pos, coverage)) if pos.numel() else left
            found.append((max(left, 1e-3), max(right, 1e-3)))
        return found
    finally:
        model.train(was)


class SlopeSchedule(Callback):
    """Slope k = 1/width of every neuron layer's surrogate, per epoch (seed 002).

    ``interval``: ``schedules.slope_interval``. ``adaptive``: ``schedules.slope_adaptive`` of the
    history of ``signal`` in percent (train accuracy by default), updated after each epoch."""

    name = "slope"

    def __init__(self, model, mode: str, params: dict):
        self.layers = neuron_layers(model)
        self.mode, self.params = mode, dict(params)
        self.history: list[float] = []
        self.k = None
        self.epochs = 1

    def on_train_start(self, trainer):
        self.epochs = trainer.cfg["train"]["epochs"]
        check_live_honoured(self.layers[0].surrogate, "width")

    def slope(self, epoch: int) -> float:
        p = self.params
        if self.mode == "interval":
            return schedules.slope_interval(epoch, self.epochs, p["k_start"], p["k_end"],
                                            p["intervals"], p["spacing"])
        return schedules.slope_adaptive(self.history, p["window"], p["w_level"], p["w_diff"],
                                        p["k_min"], p["k_max"])

    def on_epoch_start(self, trainer, epoch):
        self.k = self.slope(epoch)
        for layer in self.layers:
            layer.surrogate.live.set("width", 1.0 / self.k)

    def on_epoch_end(self, trainer, epoch, metrics):
        metrics["slope_k"] = self.k
        if self.mode == "adaptive":
            self.history.append(100.0 * float(metrics[self.params["signal"]]))

    def state_dict(self):
        return {"history": list(self.history), "k": self.k}

    def load_state_dict(self, state):
        self.history = [float(v) for v in state.get("history", [])]
        self.k = state.get("k")
        if self.k is not None:
            for layer in self.layers:
                layer.surrogate.live.set("width", 1.0 / self.k)


class ASGLSchedule(Callback):
    """ASGL: spike probability p per epoch (milestones, ``schedules.asgl_p``) and the learnable
    widths α (one per layer) stepped by their own Adam (``width_lr``, the seed code's 3e-4) after
    each backward. α below ``min_width`` is set to ``min_width`` with a warning and counted in
    ``asgl_width_clamped``."""

    name = "asgl"

    def __init__(self, model, params: dict):
        self.layers = neuron_layers(model)
        self.params = dict(params)
        self.alphas = [layer.surrogate.alpha for layer in self.layers if layer.surrogate.learn_width]
        self.opt = torch.optim.Adam(self.alphas, lr=params["width_lr"]) if self.alphas else None
        self.checked = False
        self.clamped = 0

    def on_epoch_start(self, trainer, epoch):
        for layer in self.layers:
            s = layer.surrogate
            s.live.set("p", schedules.asgl_p(epoch, s.p, self.params["zeta"], self.params["milestones"]))
            s.train(True)

    def on_after_backward(self, trainer, step):
        if self.opt is None:
            return
        if not self.checked:
            self.checked = True
            if all(a.grad is None for a in self.alphas):
                raise ConfigError(
                    "surrogate 'asgl': its width received no gradient, so the neuron kernel did not "
                    "run the noisy-spike forward (it must fall back to the reference loop when "
                    "surrogate.fused is False); set NEURODEPLOY_KERNEL=reference")
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        low = self.params["min_width"]
        with torch.no_grad():
            for a in self.alphas:
                if float(a) < low:
                    a.fill_(low)
                    self.clamped += 1
                    warnings.warn(f"ASGL width fell below min_width = {low}; set to {low}", stacklevel=2)

    def on_epoch_end(self, trainer, epoch, metrics):
        metrics["asgl_p"] = self.layers[0].surrogate.live.get("p")
        metrics["asgl_width"] = [layer.surrogate.live.get("width") for layer in self.layers]
        metrics["asgl_width_clamped"] = self.clamped
        for layer in self.layers:
            layer.surrogate.eval()

    def state_dict(self):
        return {"live": [layer.surrogate.live.state_dict() for layer in self.layers],
                "opt": self.opt.state_dict() if self.opt is not None else None,
                "checked": self.checked, "clamped": self.clamped}

    def load_state_dict(self, state):
        for layer, s in zip(self.layers, state.get("live", [])):
            layer.surrogate.live.load_state_dict(s)
        if self.opt is not None and state.get("opt"):
            self.opt.load_state_dict(state["opt"])
        self.checked = state.get("checked", False)
        self.clamped = state.get("clamped", 0)


