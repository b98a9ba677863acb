"""Training callbacks: surrogate schedules, adaptive surrogates, gradient diagnostics.

By purpose: ``base`` (the :class:`Callback` hooks, model helpers, :class:`BatchTap`),
``schedules`` (surrogate mode, AdaLi, slope, ASGL), ``search`` (A2SG), ``diagnostics``, ``build``
(config → callbacks). Everything is re-exported here. The trainer calls the public hooks only
(``on_batch`` hands each training batch to the callbacks; nothing patches the trainer).

A callback may implement any of the hooks below; its ``state_dict`` is saved in every
checkpoint and restored on ``--resume`` so that a resumed run continues exactly.
``build_callbacks(cfg, model)`` turns the config into the list the trainer runs:

``[surrogate] schedule`` (``auto`` = the seed method of the chosen surrogate)
    ``adali_log`` / ``adali_linear``: AdaLi boundaries shrink per epoch; compute density per epoch.
    ``slope_interval`` / ``slope_adaptive``: slope k = 1/width of any width surrogate per epoch.
    ``asgl``: ASGL spike probability milestones and the width's own Adam.
    ``a2sg``: per-layer β search of the ASY surrogate (SGV ↓, TGC ↑) every N steps.
``[diagnostics] enabled``
    per-layer SGV, TGC, gradient CV, gradient norm, compute density, firing rate (diag_* keys).

Local gradients δ^l[t] are taken w.r.t. the *input current* of neuron layer l (the output of the
Linear/Conv before it), captured with tensor hooks, so every kernel backend works. For LIF
``∂L/∂x = α·∂L/∂v'`` (α = dt/τ constant): TGC and the argmin of SGV are those of ∂L/∂u.
"""

from neurodeploy.train.callbacks.base import (
    BatchTap,
    Callback,
    _BatchTap,
    check_live_honoured,
    local_gradients,
    neuron_layers,
    synaptic_weights,
)
from neurodeploy.train.callbacks.build import (
    AUTO_SCHEDULE,
    NEEDS_SURROGATE,
    SCHEDULE_PARAMS,
    build_callbacks,
    resolve_schedule,
    schedule_params,
)
from neurodeploy.train.callbacks.diagnostics import GradientDiagnostics
from neurodeploy.train.callbacks.schedules import (
    AdaLiSchedule,
    ASGLSchedule,
    SlopeSchedule,
    SurrogateMode,
)
from neurodeploy.train.callbacks.search import A2SGSearch

__all__ = ["AUTO_SCHEDULE", "NEEDS_SURROGATE", "SCHEDULE_PARAMS", "A2SGSearch", "ASGLSchedule",
           "AdaLiSchedule", "BatchTap", "Callback", "GradientDiagnostics", "SlopeSchedule",
           "SurrogateMode", "_BatchTap", "build_callbacks", "check_live_honoured", "local_gradients",
           "neuron_layers", "resolve_schedule", "schedule_params", "synaptic_weights"]
