"""The Python API: the functions behind the CLI, with typed results for notebooks and scripts.

``train`` → :class:`Run`, ``load`` → :class:`Run` or a ``nir.NIRGraph``, ``to_nir`` →
``nir.NIRGraph``, ``export`` → :class:`ExportResult`, ``verify`` → :class:`VerifyReport`,
``energy`` → :class:`EnergyReport`. Every result is a frozen dataclass with ``to_json()`` and a
notebook ``_repr_html_``; every user-fixable problem raises a
:class:`~neurodeploy.errors.NeurodeployError`. They call what the CLI calls
(``pipeline.load_source``, ``pipeline.eval_samples``, the target registry, ``count_activity`` /
``energy_report``, ``Trainer``). Guide: docs/python-api.md.
"""

from __future__ import annotations

import copy
import dataclasses
import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from neurodeploy.errors import ConfigError, NeurodeployError, UnsupportedNodeError


# --------------------------------------------------------------------------- results
def _html_table(title: str, rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                   f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<div><b>{html.escape(title)}</b><table>{body}</table></div>"


class _Result:
    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))

    def to_json(self, indent: int | None = 2) -> str:
        """The result as JSON (paths as strings)."""
        return json.dumps(self.to_dict(), indent=indent)

    def _rows(self) -> list[tuple[str, Any]]:
        return list(self.to_dict().items())

    def _repr_html_(self) -> str:
        return _html_table(type(self).__name__, self._rows())


@dataclass(frozen=True)
class Run(_Result):
    """A training run directory: its config, per-epoch metrics and accuracies (test split)."""

    path: Path
    config: dict
    epochs: int
    best_accuracy: float
    last_accuracy: float
    metrics: tuple[dict, ...] = ()
    model_kind: str = "config"  # "config", "nir-init", "model" (given to train(model=…))
    #: set by ``train()`` only: seconds this call trained (0.0 when nothing was left to train)
    seconds: float | None = field(default=None, compare=False)
    #: set by ``train(resume=True)`` of a run that had reached its epochs: nothing was trained
    already_finished: bool = field(default=False, compare=False)

    def model(self, which: str = "last"):
        """The trained ``SpikingSequential`` (CPU, eval mode) of checkpoint ``which`` (last/best)."""
        from neurodeploy.train.checkpoint import load_checkpoint
        from neurodeploy.train.trainer import model_from_checkpoint

        return model_from_checkpoint(load_checkpoint(self.path, which))

    def to_norse(self, which: str = "last"):
        """The trained model as a ``norse.torch.SequentialState`` (see ``neurodeploy.ir.norse_bridge``)."""
        from neurodeploy.ir.norse_bridge import to_norse

        return to_norse(self.model(which))

    def to_nir(self, which: str = "last"):
        """The trained model as a NIR graph (metadata: dt, reset, dataset)."""
        from neurodeploy.pipeline import graph_from_run

        return graph_from_run(self.path, which).graph

    def _rows(self):
        return [("path", self.path), ("epochs", self.epochs), ("best test accuracy", f"{self.best_accuracy:.2%}"),
                ("last test accuracy", f"{self.last_accuracy:.2%}"), ("model", self.model_kind),
                ("dataset", self.config.get("data", {}).get("dataset"))]


@dataclass(frozen=True)
class ExportResult(_Result):
    """What ``export`` wrote: the artefact, side files, and the target's summary."""

    target: str
    path: Path | None
    extra_paths: tuple[Path, ...] = ()
    source_graph: Path | None = None  # <artefact>.source.nir, what verify() reads by default
    summary: dict = field(default_factory=dict)
    #: check_only: the decision report (what ``export --check-only`` prints)
    text: str = ""
    #: check_only: the NeurodeployError the export would raise (None: it would write)
    error: NeurodeployError | None = field(default=None, compare=False)

    def _rows(self):
        return [("target", self.target), ("path", self.path), ("extra", ", ".join(map(str, self.extra_paths))),
                ("source graph", self.source_graph)] + [(k, v) for k, v in self.summary.items()
                                                         if not isinstance(v, (dict, list))][:12]


@dataclass(frozen=True)
class VerifyReport(_Result):
    """``passed`` and the verifier's raw result (per layer / per initial state)."""

    artefact: Path
    kind: str  # the target's name (registry entry that verified the file)
    passed: bool
    result: dict = field(default_factory=dict)

    def _rows(self):
        rows = [("artefact", self.artefact), ("kind", self.kind), ("passed", self.passed)]
        return rows + [(k, json.dumps(v, default=str)[:200]) for k, v in self.result.items()]


@dataclass(frozen=True)
class EnergyReport(_Result):
    """Energy per inference for each profile under one counting convention; ``report`` is the
    full :class:`neurodeploy.energy.EnergyReport` (layers, neurons, assumptions)."""

    convention: str
    profiles: tuple[str, ...]
    totals: dict
    samples: int
    report: Any = None
    paths: tuple[Path, ...] = ()

    def to_dict(self) -> dict:
        out = {"convention": self.convention, "profiles": list(self.profiles), "samples": self.samples,
               "totals": self.totals, "paths": [str(p) for p in self.paths]}
        if self.report is not None:
            out["report"] = self.report.to_dict()
        return json.loads(json.dumps(out, default=str))

    def snn_pj(self, profile: str) -> float | None:
        """Estimated SNN energy per inference in pJ for ``profile`` (None if a cost is unknown)."""
        return (self.totals.get(profile) or {}).get("snn_pj")

    def _rows(self):
        rows = [("convention", self.convention), ("samples", self.samples)]
        for name in self.profiles:
            t = self.totals.get(name) or {}
            rows.append((name, f"SNN {t.get('snn_pj')} pJ, ANN {t.get('ann_pj')} pJ, ratio {t.get('ratio')}"))
        return rows


@dataclass(frozen=True)
class SweepResult(_Result):
    """A sweep folder: every trial (params, test accuracy, energy per inference in pJ, fit) and
    the trial numbers on the accuracy/energy Pareto front; ``report`` is its HTML page."""

    path: Path
    profile: str
    convention: str
    trials: tuple[dict, ...]
    pareto_front: tuple[int, ...]
    report: Path | None = None

    def front(self) -> list[dict]:
        """The Pareto-front trials, cheapest first."""
        rows = [t for t in self.trials if t["number"] in self.pareto_front]
        return sorted(rows, key=lambda t: t["energy_pj"])

    def _rows(self):
        rows = [("path", self.path), ("profile", self.profile), ("convention", self.convention),
                ("trials", len(self.trials))]
        return rows + [(f"front: trial {t['number']}", f"{t['accuracy']:.1%}, {t['energy_pj']:.4g} pJ, "
                        f"{json.dumps(t['params'])}") for t in self.front()]


# --------------------------------------------------------------------------- helpers
def _is_norse(model) -> bool:
    return any(type(m).__module__.startswith("norse.") for m in model.modules())


def as_spiking_sequential(model, input_shape: tuple[int, ...] | None = None, surrogate=None):
    """Our ``SpikingSequential`` for ``model``: itself, a Norse model converted exactly
    (:func:`neurodeploy.ir.norse_bridge.from_norse`), an ``nn.Sequential`` of our layers, or a
    user ``nn.Module`` whose children (in registration order) form the chain its ``forward``
    computes — checked on random input of ``input_shape``; refused if the outputs differ."""
    import torch
    from torch import nn

    from neurodeploy.neurons import SpikingNeuron, SpikingSequential

    if isinstance(model, SpikingSequential):
        return model
    if _is_norse(model):
        from neurodeploy.ir.norse_bridge import from_norse

        return from_norse(model, surrogate=surrogate)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"expected a torch nn.Module, a Norse model or a run, got {type(model).__name__}")
    seq = SpikingSequential(*model.children())
    if not any(isinstance(m, SpikingNeuron) for m in seq):
        raise UnsupportedNodeError(f"{type(model).__name__}: no neurodeploy neuron layer (LIF, CubaLIF, IF, "
                                   "CubaLI) among its direct children")
    if isinstance(model, nn.Sequential):
        return seq
    if input_shape is None:
        raise ConfigError(f"{type(model).__name__}: pass input_shape (one time step, no batch) so that its "
                          "forward can be checked against the chain of its children")
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand((8, 2, *input_shape), generator=gen) < 0.3).float()
    with torch.no_grad():
        mode = model.training
        model.eval()
        try:
            a = model(x)
            try:
                b = seq(x)
            except RuntimeError:  # the children do not even chain
                b = None
        finally:
            model.train(mode)
    if b is None or not isinstance(a, torch.Tensor) or a.shape != b.shape or not torch.equal(a, b):
        raise UnsupportedNodeError(f"{type(model).__name__}: its forward is not the chain of its children in "
                                   "registration order (outputs differ on random input); write it as "
                                   "neurodeploy.SpikingSequential(...) or nn.Sequential")
    return seq


def _config(config, data, overrides: dict, sets: list[str]) -> dict:
    """The validated config: ``config`` (TOML path, dict or None) with the ``section.key=value``
    strings ``sets`` (TOML values, as the CLI's ``-s``), then ``section__key`` ``overrides`` and
    ``data`` applied."""
    from neurodeploy.train.config import load_config, parse_override, validate

    if config is None or isinstance(config, (str, Path)):
        cfg, items = load_config(config, sets), []
    elif isinstance(config, dict):
        cfg, items = validate(copy.deepcopy(config), "train(config=…)"), [parse_override(t) for t in sets]
    else:
        raise ConfigError(f"train: config must be a TOML path, a dict or None, got {type(config).__name__}")
    for key, value in overrides.items():
        section, _, name = key.replace("__", ".").partition(".")
        if not name:
            raise ConfigError(f"train: override {key!r} must name SECTION__KEY (e.g. train__lr=1e-3)")
        items.append((section, name, value))
    for section, name, value in items:
        cfg.setdefault(section, {})[name] = value
    if isinstance(data, str):
        cfg["data"]["dataset"] = data
    elif isinstance(data, dict):
        cfg["data"].update(data)
    elif data is not None:
        raise ConfigError(f"train: data must be a dataset name or a dict of [data] keys, got {type(data).__name__}")
    return validate(cfg, "train()") if items or data is not None else cfg


def _shortcut_sets(epochs, seed, data_dir, init, target, dialect, dt_s, reset, input_scale) -> list[str]:
    """The shortcut arguments as ``section.key=value`` strings (the CLI's --epochs, --seed,
    --data-dir, --init, --target; --dt/--reset/--dialect/--input-scale describe an ``init`` NIR
    file: ``train.init_*``)."""
    pairs = [("train.epochs", epochs, None), ("train.seed", seed, None), ("data.data_dir", data_dir, None),
             ("train.init", init, None), ("train.target", target, None), ("train.init_dt_s", dt_s, None),
             ("train.init_reset", reset, None), ("train.init_dialect", dialect, "neurodeploy"),
             ("train.init_input_scale", input_scale, 1.0)]
    return [f"{key}={json.dumps(str(v)) if isinstance(v, (str, Path)) else repr(v)}"
            for key, v, default in pairs if v is not None and v != default]


# --------------------------------------------------------------------------- functions
def train(config: str | Path | dict | None = None, *, model=None, data: str | dict | None = None,
          out: str | Path | None = None, epochs: int | None = None, progress: bool = False,
          sets: list[str] | tuple[str, ...] = (), seed: int | None = None, data_dir: str | Path | None = None,
          init: str | Path | None = None, target: str | None = None, dialect: str = "neurodeploy",
          dt_s: float | None = None, reset: str | None = None, input_scale: float = 1.0,
          resume: bool = False, nproc: int | None = None, **overrides) -> Run:
    """Train and return the :class:`Run` (``neurodeploy train``).

    ``config``: TOML path, dict of sections or None (defaults). ``model``: a Norse
    ``SequentialState`` (converted exactly, trained with our surrogates and kernels; get it back
    with ``run.to_norse()``), a ``SpikingSequential``/``nn.Sequential`` of our layers, or an
    ``nn.Module`` chaining them; every neuron gets the ``[surrogate]`` section's surrogate, the
    ``[model]`` section is then unused. ``data``: dataset name or ``[data]`` dict. ``overrides``:
    ``section__key=value`` (e.g. ``train__lr=1e-3``, ``surrogate__name="adali"``); ``sets``:
    ``"section.key=value"`` strings with TOML values (the CLI's ``-s``). ``epochs``, ``seed``,
    ``data_dir``, ``init`` (:class:`Run`, run directory, ``.pt`` or ``.nir`` to fine-tune), ``target``
    (a target with a training transform: train through its quantisation) are shortcuts for those
    keys; ``dialect``/``dt_s``/``reset``/``input_scale`` read an ``init`` NIR file (``train.init_*``). ``out`` defaults to
    ``runs/<config name>``; a directory that already holds a run is refused.
    ``resume=True`` continues the run in ``out`` from its ``last.pt`` exactly, with the run's own
    config (``epochs`` may extend it; any other setting is refused, never silently ignored); ``run.already_finished``
    says when it had nothing left to train. ``nproc=N`` (N > 1) trains data-parallel in N
    processes on this machine, started by torch.distributed's launcher (docs/scale-out.md).
    """
    from neurodeploy.train.trainer import Trainer

    if nproc is not None and (isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1):
        raise ConfigError(f"train: nproc = {nproc!r}; expected a positive integer (processes on this machine)")
    if nproc is not None and nproc > 1 and (model is not None or data is not None and not isinstance(data, (str, dict))):
        raise ConfigError("train(nproc=…) starts fresh processes that cannot receive a model object: save "
                          "it as a run or .nir and pass init=…, or train in one process")

    if resume:
        if out is None:
            raise ConfigError("--resume needs --out RUN_DIR (the run to continue)")
        if model is not None or data is not None:
            raise ConfigError("train(resume=True) continues the run in out with its own model and data; "
                              "drop model=/data=")
        ignored = [name for name, given in (
            ("CONFIG", config is not None), ("-s", bool(sets) or bool(overrides)), ("--seed", seed is not None),
            ("--data-dir", data_dir is not None), ("--init", init is not None), ("--target", target is not None),
            ("--dt/--reset/--dialect/--input-scale", dt_s is not None or reset is not None
             or dialect != "neurodeploy" or input_scale != 1.0)) if given]
        if ignored:
            raise ConfigError(f"--resume continues {out} with its own config; {', '.join(ignored)} would be "
                              "ignored: drop them (only --epochs N may extend a resumed run)")
        from neurodeploy.train.config import load_config

        cfg = load_config(None, [f"train.epochs={epochs}"]) if epochs is not None else None
        if nproc is not None and nproc > 1:
            return _train_distributed(cfg, Path(out), True, progress, nproc)
        result = Trainer(cfg, out, resume=True, progress=progress).fit()
        return dataclasses.replace(load(out), seconds=result.seconds, already_finished=result.already_finished)
    if isinstance(init, Run):
        init = init.path
    sets = [*sets, *_shortcut_sets(epochs, seed, data_dir, init, target, dialect, dt_s, reset, input_scale)]
    cfg = _config(config, data, overrides, sets)
    out = Path(out) if out is not None else Path("runs") / (Path(config).stem if isinstance(config, (str, Path)) else "default")
    if nproc is not None and nproc > 1:
        if (out / "last.pt").exists():
            raise ConfigError(f"{out} already holds a run; use --resume to continue it or choose another --out")
        return _train_distributed(cfg, out, False, progress, nproc)
    loaded = None
    seq = None
    if model is not None:
        from neurodeploy.data.registry import load_data
        from neurodeploy.neurons import SpikingNeuron
        from neurodeploy.surrogates import make_surrogate

        s = cfg["surrogate"]
        loaded = load_data(cfg["data"])
        seq = copy.deepcopy(as_spiking_sequential(model, loaded.input_shape))
        for layer in seq:
            if isinstance(layer, SpikingNeuron):
                layer.surrogate = make_surrogate(s["name"], **s["params"])
        _check_input(seq, loaded)
    result = Trainer(cfg, out, progress=progress, data=loaded, model=seq).fit()
    return dataclasses.replace(load(out), seconds=result.seconds)


def _train_distributed(cfg: dict | None, out: Path, resume: bool, progress: bool, nproc: int) -> Run:
    from neurodeploy.train.distributed import launch

    result = launch({"cfg": cfg, "out": str(out), "resume": resume, "progress": progress}, nproc)
    return dataclasses.replace(load(out), seconds=result["seconds"], already_finished=result["already_finished"])


def _check_input(seq, loaded) -> None:
    import torch

    x = torch.zeros(1, 1, *loaded.input_shape)
    try:
        with torch.no_grad():
            y = seq(x)
    except RuntimeError as exc:
        raise ConfigError(f"train: the model does not accept this dataset's input (one step: "
                          f"{tuple(loaded.input_shape)}): {str(exc).splitlines()[0]}") from None
    if y.shape[-1] != loaded.classes or y.dim() != 3:
        raise ConfigError(f"train: the model's output per step is {tuple(y.shape[2:])}; the dataset has "
                          f"{loaded.classes} classes: end with {loaded.classes} output neurons")


def load(path: str | Path, *, dialect: str = "neurodeploy", dt_s: float | None = None,
         reset: str | None = None, input_scale: float = 1.0):
    """A run directory (or a checkpoint in one) → :class:`Run`; a ``.nir`` file → ``nir.NIRGraph``
    (other writers' files normalised by ``dialect``/``dt_s``/``reset``/``input_scale``, as
    ``--dialect`` etc.); a file a target reads back (registry entry ``read``) or a ``.pt``
    checkpoint outside a run → its ``nir.NIRGraph``."""
    p = Path(path)
    if p.suffix == ".pt" and p.is_file() and (p.parent / "config.json").is_file():
        p = p.parent  # a run's checkpoint: its run
    if p.is_dir():
        from neurodeploy.train.checkpoint import load_checkpoint, read_metrics

        ckpt = load_checkpoint(p, "last")
        metrics = tuple(read_metrics(p))
        accs = [m["test_accuracy"] for m in metrics]
        kind = "model" if ckpt.get("model_spec") else ("nir-init" if ckpt.get("init_graph") else "config")
        return Run(p, ckpt["config"], len(metrics), max(accs) if accs else float("nan"),
                   accs[-1] if accs else float("nan"), metrics, kind)
    from neurodeploy.pipeline import load_source

    return load_source(p, "last", dialect, dt_s, reset, input_scale).graph


def to_nir(model, input_shape: tuple[int, ...] | None = None, *, time_steps: int = 0,
           metadata: dict | None = None):
    """NIR graph of ``model``: a :class:`Run`, a run directory, a ``SpikingSequential``, a Norse
    model, or an ``nn.Module`` chaining our layers (``input_shape``: one step, no batch; required
    except for runs). Metadata records dt, reset, readout and ``time_steps``."""
    if isinstance(model, Run):
        return model.to_nir()
    if isinstance(model, (str, Path)):
        return load(model).to_nir() if Path(model).is_dir() else load(model)
    if input_shape is None:
        raise ConfigError("to_nir: pass input_shape (one time step without batch, e.g. (2, 18, 18) or (700,))")
    from neurodeploy.ir import to_nir as _to_nir

    seq = as_spiking_sequential(model, tuple(input_shape))
    return _to_nir(seq, tuple(input_shape), time_steps=time_steps, extra_metadata=metadata)


def _source(source, which: str, dialect: str, dt_s, reset, input_scale):
    """(graph, Source or None, Conventions) for a path, a Run or a NIR graph: the conventions are
    resolved here, once (a bare graph: from its metadata), and handed to every consumer."""
    import nir

    from neurodeploy.ir.conventions import Conventions
    from neurodeploy.pipeline import load_source

    if isinstance(source, Run):
        source = source.path
    if isinstance(source, nir.NIRGraph):
        return source, None, Conventions.from_graph(source, dt_s)
    if isinstance(source, (str, Path)):
        src = load_source(source, which, dialect, dt_s, reset, input_scale)
        return src.graph, src, src.conventions.with_options(dt_s)
    raise ConfigError(f"expected a run directory, .nir path, Run or nir.NIRGraph, got {type(source).__name__}; "
                      "convert a model with neurodeploy.to_nir(model, input_shape) first")


def _data_config(graph, src) -> dict | None:
    """The [data] config of a source: its run's, else the one its NIR metadata records."""
    if src is not None and src.data_cfg:
        return src.data_cfg
    meta = getattr(graph, "metadata", {}) or {}
    return json.loads(meta["data_config"]) if "data_config" in meta else None


def _default_path(source, suffix: str) -> Path:
    """RUN/model<suffix> for a run directory; SOURCE's name with the target's suffix for a file,
    or <stem>.export<suffix> when that would be the source itself (e.g. a .nir exported to NIR)."""
    if isinstance(source, Run):
        source = source.path
    if not isinstance(source, (str, Path)):
        raise ConfigError("export: pass path=… for a source that is not a file or run directory")
    p = Path(source)
    if not p.is_file():
        return p / f"model{suffix}"
    return p.with_suffix(f".export{suffix}") if p.suffix == suffix else p.with_suffix(suffix)


def _check_text(summary: dict) -> str:
    return summary.get("text") or summary.get("report_text") or "\n".join(
        f"{k}: {v}" for k, v in summary.items() if k != "error")


def export(source, target: str = "nir", path: str | Path | None = None, *, which: str = "last",
           dialect: str = "neurodeploy", dt_s: float | None = None, reset: str | None = None,
           input_scale: float = 1.0, input_spikes: str | Path | None = None, **options) -> ExportResult:
    """Export ``source`` (run directory, ``.nir``, :class:`Run` or ``nir.NIRGraph``) to ``target``
    (``neurodeploy export``). ``path`` defaults to ``RUN/model<suffix>`` for a run, else the
    source's name with the target's suffix. ``options`` go to the target (``profile``,
    ``allow_lossy``, ``check_only``, ``unroll`` …; unknown names raise). A target that checks float
    vs its integers (registry ``wants_samples``) runs that check on ``input_spikes`` (.npy,
    (T, N, …)), else 16 test samples of the source's dataset, else seeded random spikes. ``check_only=True`` makes the export's decision and writes
    nothing: ``text`` is the report, ``error`` the error the export would raise. Writes
    ``<path>.source.nir`` beside a non-NIR artefact so that :func:`verify` needs nothing else."""
    import nir

    from neurodeploy.atomic import atomic_path
    from neurodeploy.targets.base import get_target

    tgt = get_target(target)
    graph, src, conv = _source(source, which, dialect, dt_s, reset, input_scale)
    out = Path(path) if path is not None else _default_path(source, tgt.suffix)
    if isinstance(source, (str, Path)) and Path(source).is_file() and out.resolve() == Path(source).resolve():
        raise ConfigError(f"export: the output {out} is the source file itself; choose another output name")
    opts = dict(options)
    opts.setdefault("conventions", conv)  # dt (with --dt applied), reset, versions: resolved once
    if dt_s is not None:  # also as the plain option, for targets that read only options["dt_s"]
        opts.setdefault("dt_s", dt_s)
    if input_spikes and not tgt.wants_samples:
        from neurodeploy.targets.base import TARGETS

        users = " / ".join(n for n in TARGETS.names() if TARGETS.get(n).wants_samples)
        raise ConfigError(f"--input-spikes is used by --target {users} only, not {tgt.name!r}")
    if tgt.wants_samples and "sample_inputs" not in opts:
        data_cfg = _data_config(graph, src)
        if input_spikes:
            from neurodeploy.pipeline import load_spikes

            opts["sample_inputs"] = load_spikes(str(input_spikes))
            opts["sample_source"] = f"--input-spikes {input_spikes}"
        elif data_cfg:
            from neurodeploy.pipeline import eval_samples

            x, _ = eval_samples(data_cfg, None, None, 16)
            opts["sample_inputs"] = x.numpy()
            opts["sample_source"] = f"{x.shape[0]} test samples of {data_cfg.get('dataset', 'the source data')}"
    check_only = bool(opts.get("check_only"))
    result = tgt.export(graph, out, opts)
    summary = result.summary if isinstance(result.summary, dict) else {}
    side = None
    if tgt.suffix != ".nir" and not check_only:  # the artefact is not the NIR graph itself
        side = Path(str(result.path) + ".source.nir")
        with atomic_path(side) as tmp:
            nir.write(str(tmp), graph)
    return ExportResult(tgt.name, None if check_only else Path(result.path),
                        tuple(Path(p) for p in result.extra_paths), side,
                        json.loads(json.dumps(summary, default=str)),
                        _check_text(summary) if check_only else "", summary.get("error") if check_only else None)


def verify(artefact: str | Path | ExportResult, source=None, *, data: str | None = None,
           data_dir: str | None = None, samples: int = 64, input_spikes: str | Path | None = None,
           random_input: float | None = None, lava: bool | None = None,
           max_accuracy_drop: float | None = None, min_spike_agreement: float | None = None,
           min_count_corr: float | None = None, against: str | None = None,
           dialect: str = "neurodeploy", dt_s: float | None = None, reset: str | None = None,
           input_scale: float = 1.0) -> VerifyReport:
    """Check that ``artefact`` (a file of a target with ``verify``, found by its suffix) computes
    what its source computes (``neurodeploy verify``): every fidelity criterion of the target
    (``result["criteria"]``, thresholds from the profile unless overridden) on the source's test data, ``input_spikes`` (.npy, (T, N, …)) or
    seeded ``random_input`` spikes of that rate. ``source`` defaults to ``<artefact>.source.nir``;
    ``against`` (norse, spyx, rockpool, sinabs) also runs the writer's own simulation of a source
    ``.nir`` file. Does not raise on a failed criterion: read ``passed``."""
    import numpy as np
    import torch

    from neurodeploy.ir.conventions import Conventions
    from neurodeploy.ir.validate import check_exported
    from neurodeploy.pipeline import check_input_shape, eval_samples, load_spikes, sidecar_graph
    from neurodeploy.targets.base import TARGETS, VerifyRequest, target_for_file

    path = Path(artefact.path) if isinstance(artefact, ExportResult) else Path(artefact)
    if not path.is_file():
        raise ConfigError(f"verify: {path} does not exist")
    check_exported(path)  # truncated/garbage/out-of-range files: one line, before any work
    if input_spikes and random_input is not None:
        raise ConfigError("--input-spikes and --random-input exclude each other; pass one")
    if random_input is not None:
        from neurodeploy.constraints import Range, check_number

        check_number("random_input (a spike rate)", random_input, Range(min=0.0, max=1.0))
    if against and not (isinstance(source, (str, Path)) and Path(source).suffix == ".nir"):
        raise ConfigError("--against needs --source FILE.nir (the file as the writer wrote it)")
    if source is not None:
        graph, src, conv = _source(source, "last", dialect, dt_s, reset, input_scale)
    else:
        graph, src = sidecar_graph(path), None
        conv = Conventions.from_graph(graph)
    meta = getattr(graph, "metadata", {}) or {}
    tgt = target_for_file(path)
    if tgt is None or tgt.verify is None or tgt.input_shape is None:
        ok = ", ".join(sorted(TARGETS.get(n).suffix for n in TARGETS.names()
                              if TARGETS.get(n).verify is not None))
        raise ConfigError(f"{path}: cannot verify files of type {path.suffix!r}; expected {ok}")
    expected = tuple(tgt.input_shape(path))
    if input_spikes:
        x, y = torch.from_numpy(load_spikes(str(input_spikes))), None
        where = f"--input-spikes {input_spikes}"
    elif random_input is not None:
        steps = int(meta.get("time_steps", 16) or 16)
        n = samples if samples > 0 else 64
        rng = np.random.default_rng(0)
        x, y = torch.from_numpy((rng.random((n, steps, *expected)) < random_input).astype(np.float32)), None
        where = f"--random-input {random_input}"
    else:
        data_cfg = _data_config(graph, src)
        x, y = eval_samples(data_cfg, data, data_dir, samples)
        where = f"dataset {data or (data_cfg or {}).get('dataset', 'default')}"
    check_input_shape(x, expected, where, path)
    x = x.reshape(x.shape[0], x.shape[1], *expected)
    overrides = {"max_accuracy_drop_pts": max_accuracy_drop, "min_spike_agreement": min_spike_agreement,
                 "min_count_corr": min_count_corr}
    res = tgt.verify(VerifyRequest(path, graph, x, y, overrides, lava, conv))
    kind = tgt.name
    res["inputs"] = where
    if against:
        from neurodeploy.sim.against import against as run_against

        res["against"] = run_against(against, source, graph, x.transpose(0, 1))
    return VerifyReport(path, kind, bool(res["passed"]), json.loads(json.dumps(res, default=str)))



def energy(source, data: str | None = None, *, profiles: tuple[str, ...] | list[str] = ("cmos45-fp32",),
           convention: str = "fanout", samples: int = 256, data_dir: str | None = None,
           out: str | Path | None = None, formats: tuple[str, ...] = (), dialect: str = "neurodeploy",
           dt_s: float | None = None, reset: str | None = None, input_scale: float = 1.0) -> EnergyReport:
    """Count activity of ``source`` (run directory, ``.nir``, :class:`Run` or graph) on ``data``
    (default: its own test split) and price it with each of ``profiles`` (``neurodeploy energy``).
    ``formats`` (json/md/html) also write report files at the path stem ``out`` (default
    ``RUN/energy`` for a run, else the source file's name without its suffix; a name ending in a
    requested format's suffix is taken as is)."""
    from neurodeploy.energy import count_activity, energy_report, write_report
    from neurodeploy.hw_profiles import load_profile
    from neurodeploy.pipeline import eval_samples
    from neurodeploy.train.checkpoint import read_metrics

    graph, src, conv = _source(source, "last", dialect, dt_s, reset, input_scale)
    x, _ = eval_samples(_data_config(graph, src), data, data_dir, samples)
    activity = count_activity(graph, x, conventions=conv)
    if isinstance(profiles, str):
        profiles = (profiles,)
    profs = [load_profile(p) for p in (profiles or ("cmos45-fp32",))]
    metrics = read_metrics(src.run_dir) if src is not None and src.run_dir else None
    label = str(source.path if isinstance(source, Run) else source if isinstance(source, (str, Path)) else "graph")
    report = energy_report(activity, profs, convention=convention, metrics=metrics,
                           meta={"source": label, "samples": int(x.shape[0])})
    paths: tuple[Path, ...] = ()
    if formats:
        if out is None:
            where = source.path if isinstance(source, Run) else source
            if not isinstance(where, (str, Path)):
                raise ConfigError("energy: formats=… needs out=PATH_STEM for a source that is not a file or run")
            out = Path(where) / "energy" if Path(where).is_dir() else Path(where).with_suffix("")
        paths = tuple(Path(p) for p in write_report(report, Path(out), list(formats)))
    totals = report.to_dict()["totals"]
    return EnergyReport(convention, tuple(p.name for p in profs), totals, int(x.shape[0]), report, paths)


def sweep(config: str | Path | dict | None, space: str | Path, trials: int, *, out: str | Path | None = None,
          workers: int = 1, profile: str = "cmos45-fp32", convention: str = "fanout",
          sets: list[str] | tuple[str, ...] = ()) -> SweepResult:
    """Search training configs for the accuracy/energy trade-off (``neurodeploy sweep``).

    ``config``: the base training config (TOML path, dict or None); ``space``: the search-space
    TOML (:mod:`neurodeploy.sweeps.space`); ``trials``: total trials of the sweep (a resumed sweep
    runs only the missing ones); ``workers``: processes on this machine sharing the study;
    ``profile``/``convention``: how energy per inference is priced (``neurodeploy energy``).
    ``out`` (default ``runs/sweep-<config name>``) holds ``study.db`` (Optuna sqlite storage),
    ``trials/<n>/`` runs, ``sweep.json`` and ``report.html`` (Pareto-front chart)."""
    from neurodeploy.constraints import Range, check_number
    from neurodeploy.energy.conventions import CONVENTIONS
    from neurodeploy.hw_profiles import load_profile
    from neurodeploy.sweeps.space import load_space
    from neurodeploy.sweeps.study import _optuna, run_sweep

    for name, value, low in (("trials", trials, 1), ("workers", workers, 1)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"sweep: {name} = {value!r}; expected an integer ≥ {low}")
        check_number(f"sweep: {name}", value, Range(min=low, integer=True))
    _optuna()
    load_profile(profile)
    CONVENTIONS.get(convention)
    cfg = _config(config, None, {}, list(sets))
    spc = load_space(space, cfg)
    out = Path(out) if out is not None else Path("runs") / (
        f"sweep-{Path(config).stem}" if isinstance(config, (str, Path)) else "sweep")
    summary = run_sweep(cfg, spc, out, trials, workers, profile, convention)
    return SweepResult(out, profile, convention, tuple(summary["trials"]), tuple(summary["pareto_front"]),
                       out / "report.html")


__all__ = ["EnergyReport", "ExportResult", "NeurodeployError", "Run", "SweepResult", "VerifyReport",
           "as_spiking_sequential", "energy", "export", "load", "sweep", "to_nir", "train", "verify"]
