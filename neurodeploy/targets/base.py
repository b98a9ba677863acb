"""The target interface: what every deployment target (one package under ``neurodeploy/targets``)
offers the rest of the tool, and the registry the CLI, API, trainer and energy report ask.

A target reads a ``nir.NIRGraph`` (never a torch model) and owns everything about its hardware:
export, hardware check, simulators, verification and the quantisation-aware training forward.
Optional capabilities are ``None`` when a target lacks them (``nir`` has no training transform);
callers say so in one line instead of naming targets. Hardware constants come from the target's
profile (``neurodeploy/hw_profiles/<name>.toml``), never from code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurodeploy.registry import Registry


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the main file, side files (manifest …) and a JSON-able summary."""

    path: Path
    extra_paths: tuple[Path, ...] = ()
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VerifyRequest:
    """Everything ``verify`` hands a target.

    ``inputs``: float spikes (N, T, *input_shape) — already reshaped to :attr:`Target.input_shape`;
    ``labels``: (N,) or ``None`` (random / user spikes); ``graph``: the source NIR graph;
    ``overrides``: criterion name → threshold given on the command line (``None`` = profile's);
    ``vendor``: run the vendor simulator (Lava, XyloSim …): ``None`` = when installed."""

    artefact: Path
    graph: Any
    inputs: Any
    labels: Any = None
    overrides: dict[str, float | None] = field(default_factory=dict)
    vendor: bool | None = None
    conventions: Any = None  # the source's neurodeploy.ir.conventions.Conventions (None: from graph)


@dataclass(frozen=True)
class TrainingTransform:
    """Hardware-aware training for one target.

    ``forward(model, x, record)`` → ``(out, outputs)`` like ``SpikingSequential.forward`` but with
    the target's quantisation in the forward pass (straight-through backward); ``evaluate(model,
    dataset, batch_size)`` → ``{"accuracy", "firing_rates", …}`` computed on the exact integers the
    exporter would write (the target's bit-exact emulator), so a run reports what ``verify`` sees."""

    forward: Callable[..., Any]
    evaluate: Callable[..., dict]


@dataclass(frozen=True)
class Target:
    """One deployment target.

    ``export(graph, out_path, options)`` checks the graph against the target's limits and writes
    ``out_path`` atomically; ``options`` holds target settings (``dt_s``, ``allow_lossy``,
    ``check_only``, ``profile`` …) and unknown names raise ``ConfigError``; the API and CLI always
    pass ``options["conventions"]``, the source's :class:`neurodeploy.ir.conventions.Conventions`
    (dt with ``--dt`` applied, reset, versions), so every target must accept that key.
    ``check(graph, options)`` → ``(text, report dict)``: the hardware check alone, writing nothing.
    ``verify(request)`` → report dict with ``passed`` and ``criteria`` rows (name, layer, value,
    op, threshold, status, note) and optional ``text`` (lines the CLI prints above them).
    ``input_shape(artefact)`` → per-step input shape of an exported file (for verify's inputs).
    ``read(path, dt_s)`` → ``nir.NIRGraph``: an artefact of this target as a SOURCE.
    ``wants_samples``: export takes ``sample_inputs`` (N, T, …) for its float-vs-integer check.
    ``check_file(path)``: refuse an artefact of this target that is truncated, malformed or out of
    range (one line), before verify or ``read`` touch it.
    """

    name: str
    suffix: str
    description: str
    export: Callable[..., ExportResult]
    supported_nodes: tuple[type, ...] = ()
    check: Callable[..., Any] | None = None
    verify: Callable[[VerifyRequest], dict] | None = None
    input_shape: Callable[[Path], tuple[int, ...]] | None = None
    training_transform: TrainingTransform | None = None
    read: Callable[..., Any] | None = None
    default_profile: str | None = None
    wants_samples: bool = False
    check_file: Callable[[Path], None] | None = None


#: built-in targets, imported on first use (their dependencies load only then)
BUILTIN = {
    "nir": "neurodeploy.targets.nir:TARGET",
    "onnx": "neurodeploy.targets.onnx:TARGET",
    "loihi": "neurodeploy.targets.loihi:TARGET",
    "xylo": "neurodeploy.targets.xylo:TARGET",
}

TARGETS: Registry[Target] = Registry("target", entry_point_group="neurodeploy.targets", lazy=BUILTIN)


def get_target(name: str) -> Target:
    return TARGETS.get(name)


def target_for_file(path: str | Path) -> Target | None:
    """The registered target whose ``suffix`` ``path`` ends with (``None``: no target writes it).
    Dispatch by the registry entry, never by a suffix ladder in the caller."""
    name = Path(path).name
    matches = [TARGETS.get(n) for n in TARGETS.names() if name.endswith(TARGETS.get(n).suffix)]
    return max(matches, key=lambda t: len(t.suffix), default=None)  # ".xylo.json" before ".json"


def suffixes() -> list[str]:
    """Every registered target's suffix (for "expected one of …" messages)."""
    return sorted({TARGETS.get(name).suffix for name in TARGETS.names()})


def failed_text(rows: list[dict]) -> str:
    """One line naming every failed criterion (for the VerificationError message)."""
    bad = [r for r in rows if r["status"] == "FAIL"]
    parts = []
    for r in bad:
        where = f" layer {r['layer']}" if r["layer"] is not None else ""
        val = "n/a" if r["value"] is None else f"{r['value']:.4g}"
        parts.append(f"{r['name']}{where} = {val} (needs {r['op']} {r['threshold']:g})")
    return "; ".join(parts)
