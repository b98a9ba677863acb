"""Glue the CLI uses: resolve a source (run directory, checkpoint or NIR file) to a NIR graph,
and load the evaluation samples that belong to it. Keeps ``cli.py`` thin."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nir
import torch

from neurodeploy.errors import CheckpointError, ConfigError, DataError
from neurodeploy.ir.conventions import Conventions
from neurodeploy.ir.validate import validate_graph

#: NIR writers whose files use NIR's (out, in) weight layout as written: their edge shapes are
#: checked before normalisation (other dialects only after it)
OUT_IN_DIALECTS = ("neurodeploy", "norse", "snntorch", "snntorch-no-reset-delay")


@dataclass(frozen=True)
class Source:
    """A NIR graph plus where it came from (``run_dir`` when it came from a training run) and its
    :class:`Conventions`, resolved once here and handed to every consumer."""

    graph: nir.NIRGraph
    path: Path
    run_dir: Path | None
    data_cfg: dict | None
    conventions: Conventions | None = None

    def __post_init__(self) -> None:
        if self.conventions is None:  # a Source built by hand: its graph's recorded conventions
            object.__setattr__(self, "conventions", Conventions.from_metadata(self.graph.metadata))


def graph_from_run(run: str | Path, which: str = "last") -> Source:
    """Load a run's checkpoint and convert the model to NIR (metadata carries dt, reset, data)."""
    from neurodeploy.ir import to_nir
    from neurodeploy.train.checkpoint import load_checkpoint, resolve_checkpoint
    from neurodeploy.train.trainer import model_from_checkpoint

    path = resolve_checkpoint(run, which)
    ckpt = load_checkpoint(path)
    model = model_from_checkpoint(ckpt)
    cfg = ckpt["config"]
    graph = to_nir(model, tuple(ckpt["input_shape"]), time_steps=cfg["data"]["time_steps"],
                   extra_metadata={"data_config": json.dumps(cfg["data"]), "classes": ckpt["classes"],
                                   "source_checkpoint": str(path)})
    validate_graph(graph, str(path))
    run_dir = path.parent if path.parent.joinpath("config.json").exists() else None
    return Source(graph, path, run_dir, cfg["data"], Conventions.from_metadata(graph.metadata))


def read_nir(path: str | Path, dialect: str = "neurodeploy", dt_s: float | None = None,
             reset: str | None = None, input_scale: float = 1.0) -> nir.NIRGraph:
    """Read a NIR file; other frameworks' dialects are normalised by ``neurodeploy.ir.interop``.

    The file as written is validated first (:func:`neurodeploy.ir.validate.validate_graph`:
    finite parameters, consistent shapes on every edge), then normalised, then validated again."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"NIR file {p} does not exist")
    from neurodeploy.errors import NeurodeployError
    from neurodeploy.ir.interop import load_nir

    try:
        validate_graph(nir.read(str(p), type_check=False), str(p), shapes=dialect in OUT_IN_DIALECTS)
        graph = load_nir(p, dialect=dialect, dt_s=dt_s, reset=reset, input_scale=input_scale)
        validate_graph(graph, str(p))
        return graph
    except NeurodeployError:
        raise
    except Exception as exc:  # h5py/nir raise many types for a file that is not NIR
        raise ConfigError(f"{p} is not a readable NIR file ({type(exc).__name__}: {exc})") from None


def load_source(source: str | Path, which: str = "last", dialect: str = "neurodeploy",
                dt_s: float | None = None, reset: str | None = None, input_scale: float = 1.0) -> Source:
    """A run directory / ``.pt`` checkpoint → graph via ``to_nir``; a ``.nir`` file → read; an
    artefact of a target that can be read back (registry entry ``read``, by its ``suffix``) → that
    target's reader (dt is passed on: such files may not record it)."""
    from neurodeploy.targets.base import target_for_file

    p = Path(source)
    if p.is_dir() or p.suffix == ".pt":
        return graph_from_run(p, which)
    target = target_for_file(p) if p.suffix != ".nir" else None
    if target is not None and target.read is not None:
        graph = target.read(p, dt_s)
        return Source(graph, p, None, None, Conventions.from_metadata(graph.metadata))
    if p.suffix == ".nir" or p.is_file():
        graph = read_nir(p, dialect, dt_s, reset, input_scale)
        meta = getattr(graph, "metadata", {}) or {}
        data_cfg = json.loads(meta["data_config"]) if "data_config" in meta else None
        return Source(graph, p, None, data_cfg, Conventions.from_metadata(graph.metadata))
    from neurodeploy.targets.base import TARGETS

    readable = ", ".join(TARGETS.get(n).suffix for n in TARGETS.names() if TARGETS.get(n).read is not None)
    raise CheckpointError(f"{p} does not exist: pass a run directory, a .pt checkpoint, a .nir file "
                          f"or a file a target reads ({readable})")


def sidecar_graph(exported: Path) -> nir.NIRGraph:
    """The source NIR graph the CLI stores beside every export (``<file>.source.nir``)."""
    side = Path(str(exported) + ".source.nir")
    if not side.is_file():
        raise ConfigError(f"{exported}: its source graph {side.name} is missing; pass --source RUN_DIR|model.nir")
    try:
        graph = nir.read(str(side))
    except Exception as exc:  # h5py/nir raise many types for a damaged file
        raise ConfigError(f"{side} is not a readable NIR file ({type(exc).__name__}); export again, "
                          "or pass --source RUN_DIR|model.nir") from None
    validate_graph(graph, str(side))
    return graph


def eval_samples(data_cfg: dict | None, data: str | None, data_dir: str | None, samples: int,
                 split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """(x (N, T, …) float, labels (N,)) from ``--data`` or the source's own dataset config."""
    from neurodeploy.data.registry import load_data
    from neurodeploy.train.config import defaults

    cfg = dict(defaults()["data"])
    if data_cfg:
        cfg.update(data_cfg)
    if data:
        if data != cfg["dataset"]:
            cfg = dict(defaults()["data"], time_steps=cfg["time_steps"])
        cfg["dataset"] = data
    if data_dir:
        cfg["data_dir"] = data_dir
    from neurodeploy.train.config import validate

    cfg = validate({"data": cfg}, "--data")["data"]
    loaded = load_data(cfg)
    ds = loaded.train if split == "train" else loaded.test
    n = min(samples, len(ds)) if samples > 0 else len(ds)
    if n == 0:
        raise DataError(f"dataset {cfg['dataset']} {split} split is empty")
    frames = getattr(ds, "frames", None)
    if frames is not None:
        return frames[:n].float(), ds.labels[:n].clone()
    items = [ds[i] for i in range(n)]
    return torch.stack([x for x, _ in items]).float(), torch.tensor([y for _, y in items])


def load_spikes(path: str):
    """--input-spikes FILE.npy: (T, N, *input_shape) binary spikes → (N, T, …)."""
    import numpy as np

    from neurodeploy.errors import DataError

    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"--input-spikes {path}: not a readable .npy array ({exc})") from None
    if arr.ndim < 3:
        raise DataError(f"--input-spikes {path}: shape {arr.shape}; expected (T, N, *input_shape) "
                        "with T time steps and N samples")
    if not np.isin(arr, (0, 1)).all():
        raise DataError(f"--input-spikes {path}: values must be spikes in {{0, 1}}")
    return np.ascontiguousarray(np.swapaxes(arr, 0, 1))


def check_input_shape(x, expected: tuple, where: str, exported: Path) -> None:
    """Per-sample shape of x (N, T, …) must hold the graph's input (same number of values)."""
    import numpy as np

    from neurodeploy.errors import DataError

    got = tuple(int(s) for s in x.shape[2:])
    if got != tuple(expected) and int(np.prod(got)) != int(np.prod(expected)):
        raise DataError(f"{where}: per-step input shape {got} ({int(np.prod(got))} values) does not fit "
                        f"{exported.name}'s input {tuple(expected)} ({int(np.prod(expected))} values); "
                        f"expected an array of shape (T, N, {', '.join(map(str, expected))})")
