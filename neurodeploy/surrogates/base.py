"""Surrogate interface, registry and the spike function with a pluggable derivative.

A surrogate is a frozen dataclass whose fields are its *construction* parameters (floats, also
used for equality, hashing, ``params()`` and the config). Values that change during training
(schedules, searches, learnable widths) live in ``surrogate.live``, a :class:`Live` holder of
0-dim tensors updated **in place**: a compiled kernel that reads them sees new values without
recompiling, and the dataclass stays frozen and hashable (the holder is not a field).

Training vs evaluation
    ``live.training`` (default True) is the surrogate's mode. :func:`spike` uses the training
    forward ``surrogate.spike_train(u)`` only when ``live.training`` is True **and** autograd is
    recording (``torch.is_grad_enabled()``); otherwise the forward is the strict Heaviside
    ``u > 0``. So evaluation, export and verification (all under ``torch.no_grad()``) always see
    pure spikes. ``surrogate.train(mode)`` sets the flag; neuron modules forward their
    ``train()/eval()`` to it (see docs/surrogates.md), and the training callbacks set it too.

``fused``
    True (default): the forward is Heaviside and the backward is ``derivative(u)``, so a fast
    kernel may compute the forward itself and call ``derivative`` on the saved membrane.
    False: the training forward differs from Heaviside (ASGL's noisy spikes); a kernel must
    compute that forward itself (the C++ scan does where ``noisy_form()`` describes it) or
    fall back to the per-step reference loop, which calls :func:`spike`.

``kernel_form()``
    ``(formula, values)``: the name of a formula the C++ backward scan evaluates inline
    (``neurodeploy.neurons.kernels.SURROGATE_KINDS``) and its current live values, or ``None``
    (the kernel then calls ``derivative`` on the whole saved membrane). It must describe
    ``derivative`` exactly; a subclass that overrides ``derivative`` without also overriding
    ``kernel_form`` is evaluated eagerly (the kernel checks).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch

from neurodeploy.errors import ConfigError
from neurodeploy.registry import Registry


class Live:
    """Mutable run-time state of one surrogate (not a dataclass field; identity equality).

    ``values``: name → 0-dim float32 tensor, updated in place with :meth:`set`.
    ``training``: mode flag read by :func:`spike`.
    ``track`` (set by schedules) or ``track_diag`` (set by diagnostics): when either is True,
    :meth:`Surrogate._track` counts the derivative entries that are non-zero (``active``) out of
    all evaluated (``total``) — the *compute density*.
    """

    def __init__(self, values: dict[str, float]):
        self.values = {k: torch.tensor(float(v), dtype=torch.float32) for k, v in values.items()}
        self.training = True
        self.track = False
        self.track_diag = False
        self.active = torch.zeros((), dtype=torch.float64)
        self.total = torch.zeros((), dtype=torch.float64)

    def __getattr__(self, name: str) -> torch.Tensor:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def set(self, name: str, value) -> None:
        """Write ``value`` into the live tensor ``name`` in place (no new tensor, no recompile)."""
        if name not in self.values:
            raise ConfigError(f"surrogate live value {name!r} does not exist; known: "
                              f"{', '.join(sorted(self.values)) or 'none'}")
        with torch.no_grad():
            self.values[name].fill_(float(value))

    def get(self, name: str) -> float:
        return float(self.values[name].detach())

    def pause(self) -> tuple[bool, bool]:
        """Stop counting (for extra probe passes); returns the flags for :meth:`resume`."""
        flags = (self.track, self.track_diag)
        self.track = self.track_diag = False
        return flags

    def resume(self, flags: tuple[bool, bool]) -> None:
        self.track, self.track_diag = flags

    def reset_density(self) -> None:
        self.active.zero_()
        self.total.zero_()

    def density(self) -> float | None:
        """Fraction of derivative entries that were non-zero since the last reset (None: none seen)."""
        total = float(self.total)
        return float(self.active) / total if total else None

    def state_dict(self) -> dict:
        return {k: float(v.detach()) for k, v in self.values.items()}

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            self.set(k, v)


@dataclass(frozen=True)
class Surrogate:
    """Base class. Subclasses define ``derivative(u)`` for ``u = v - v_th``.

    Parameters are explicit: ``height`` is the peak of the derivative, ``width`` its scale in
    units of the membrane potential (the half-width of the support where it is compact). The
    *slope* of the slope-schedule literature is ``k = 1 / width``.
    """

    name = "base"
    fused: ClassVar[bool] = True
    compact: ClassVar[bool] = False  # derivative is zero outside a window (density < 1 possible)
    live_names: ClassVar[tuple[str, ...]] = ()  # construction params mirrored into ``live``

    # -- interface -----------------------------------------------------------------------------
    def derivative(self, u: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def kernel_form(self) -> tuple[str, tuple[float, ...]] | None:
        """Inline formula name and its current values (see module docstring), or None."""
        return None

    def noisy_form(self) -> tuple[str, torch.Tensor, float] | None:
        """For ``fused = False``: ``(H form, width tensor, p)`` of an ASGL-style noisy forward
        the C++ scan can compute (see :mod:`neurodeploy.surrogates.asgl`), or None: only the
        per-step reference loop (which calls ``spike_train``) computes this training forward."""
        return None

    def spike_train(self, u: torch.Tensor) -> torch.Tensor:
        """Training forward used by :func:`spike`; default: Heaviside with ``derivative``."""
        return _SpikeFunction.apply(u, self)

    def window(self) -> float:
        """Half-width w of the membrane window ``|u| ≤ w`` where the derivative lives (the support
        of a compact surrogate; the scale of the others): the live or fixed ``width``, else 0.5."""
        if "width" in self.live_names:
            return float(self.current("width"))
        return float(getattr(self, "width", 0.5))

    # -- helpers -------------------------------------------------------------------------------
    def params(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    @property
    def live(self) -> Live:
        """The mutable holder (created on first use from the ``live_names`` parameters)."""
        holder = self.__dict__.get("_live")
        if holder is None:
            holder = Live({n: getattr(self, n) for n in self.live_names})
            object.__setattr__(self, "_live", holder)
        return holder

    def current(self, name: str) -> torch.Tensor:
        """Live value of ``name`` (0-dim tensor), e.g. ``current("width")``."""
        return self.live.values[name]

    def train(self, mode: bool = True) -> Surrogate:
        self.live.training = bool(mode)
        return self

    def eval(self) -> Surrogate:
        return self.train(False)

    def _track(self, d: torch.Tensor) -> torch.Tensor:
        live = self.live
        if live.track or live.track_diag:
            live.active += torch.count_nonzero(d).to(live.active.device, torch.float64)
            live.total += d.numel()
        return d


SURROGATES: Registry[type[Surrogate]] = Registry("surrogate", entry_point_group="neurodeploy.surrogates")


def make_surrogate(name: str, **params) -> Surrogate:
    """Build a registered surrogate; unknown parameter names are a ConfigError."""
    cls = SURROGATES.get(name)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = set(params) - fields
    if unknown:
        raise ConfigError(f"surrogate {name!r}: unknown parameter {sorted(unknown)[0]!r}; "
                          f"allowed: {', '.join(sorted(fields)) or 'none'}")
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"surrogate {name!r}: {exc}") from None


class _SpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.surrogate = surrogate
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (u,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.derivative(u), None


def is_training(surrogate: Surrogate) -> bool:
    """The rule :func:`spike` uses: the surrogate's mode flag and autograd recording."""
    return surrogate.live.training and torch.is_grad_enabled()


def spike(u: torch.Tensor, surrogate: Surrogate, training: bool | None = None) -> torch.Tensor:
    """Spikes for ``u = v - v_th`` (T·B·… any shape).

    Evaluation (``training`` False, or None with :func:`is_training` False): strict Heaviside
    ``u > 0`` as binary floats, backward ``surrogate.derivative(u)``. Training: the surrogate's
    ``spike_train(u)``, which is the same for every fused surrogate and differs for ASGL.
    """
    if training is None:
        training = is_training(surrogate)
    if training:
        return surrogate.spike_train(u)
    return _SpikeFunction.apply(u, surrogate)


def positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")


_positive = positive  # old name


@SURROGATES.decorator("fast_sigmoid")
@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """SuperSpike (Zenke & Ganguli 2018): ``height / (1 + |u| / width)**2``.

    Live values: ``height``, ``width``. Kernels that evaluate this formula themselves must read
    ``current("height")``/``current("width")`` (the fields are the initial values).
    """

    height: float = 1.0
    width: float = 0.1
    name = "fast_sigmoid"
    live_names = ("height", "width")

    def __post_init__(self):
        positive("height", self.height)
        positive("width", self.width)

    def derivative(self, u):
        h, w = self.current("height"), self.current("width")
        return h / (1.0 + u.abs() / w) ** 2

    def kernel_form(self):
        return "fast_sigmoid", (float(self.current("height")), float(self.current("width")))
