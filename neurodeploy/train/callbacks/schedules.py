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
    the epoch's training backward passes."""

    name = "adali"

    def __init__(self, model, kind: str, p: float):
        self.layers = neuron_layers(model)
        self.kind, self.p = kind, p
        self.epochs = 1

    def on_train_start(self, trainer):
        self.epochs = trainer.cfg["train"]["epochs"]

    def set_epoch(self, epoch: int, epochs: int) -> None:
        for layer in self.layers:
            s = layer.surrogate
            s.live.set("left", schedules.adali_distance(epoch, epochs, s.left, self.p, self.kind))
            s.live.set("right", schedules.adali_distance(epoch, epochs, s.right, self.p, self.kind))

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

    def state_dict(self):
        return {"live": [layer.surrogate.live.state_dict() for layer in self.layers]}

    def load_state_dict(self, state):
        for layer, s in zip(self.layers, state.get("live", [])):
            layer.surrogate.live.load_state_dict(s)


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


