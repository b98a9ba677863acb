"""The conventions NIR does not carry, resolved once where a source is read (torch-free).

NIR has no dt, no reset flag, no spike amplitude and no notion of who wrote a file
(docs/nir-conventions.md). :class:`Conventions` holds them as one typed, frozen value; the single
resolver :func:`resolve` builds it from the file's metadata, the user's options (``--dt``,
``--reset``, ``--dialect``, ``--input-scale``) and the dialect's rules (what a writer hard-codes
or leaves out), with the one set of error and warning messages below. Every field records where
it came from, and fields that were *assumed* (neither read nor given) are listed as such::

    conv = resolve(graph.metadata, rules=DIALECTS["norse"], dt_s=1e-3)
    conv.dt_s, conv.reset, conv.source("dt_s")   # 0.001, 'zero', '--dt'
    graph.metadata.update(conv.to_metadata())    # written into NIR metadata
    Conventions.from_metadata(graph.metadata)    # read back (format version checked)

Consumers (float simulator, energy counting, exporters, verify, trainer init) take the object;
callers holding only a graph build it once with :meth:`Conventions.from_graph`.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from neurodeploy.errors import ConfigError

#: the metadata format this module writes; readers refuse a newer one
FORMAT_VERSION = 1
KNOWN_VERSIONS = (1,)
VERSION_KEY = "neurodeploy_format_version"
RESETS = ("zero", "subtract")
#: the metadata keys :meth:`Conventions.to_metadata` owns
CONVENTION_KEYS = (VERSION_KEY, "dt_s", "reset", "spike_amplitude", "source_dialect", "input_scale",
                   "nir_version", "writer", "writer_version", "conventions_sources", "conventions_assumed")
#: hint printed when a graph of this dialect has no dt (what its writer used)
_DT_HINTS = {
    "neurodeploy": "e.g. Norse uses 1e-3, snnTorch 1e-4",
    "norse": "the dt given to norse.torch.to_nir; Norse's default is 1e-3; the tau fix divides by it",
    "spyx": "the dt given to spyx.nir.to_nir; its default is 1",
    "spyx-0.1": "the dt given to spyx.nir.to_nir; its default is 1",
}


class DialectRules(Protocol):
    """What :func:`resolve` needs of a dialect (``neurodeploy.ir.interop.Dialect`` has it)."""

    name: str
    fixed_dt_s: float | None       # the writer hard-codes this dt
    default_reset: str | None      # the writer's reset (None: not recorded, the caller must say)
    default_dt_s: float | None     # assumed when neither --dt nor metadata give one
    description: str


@dataclass(frozen=True)
class _Rules:
    name: str = "neurodeploy"
    fixed_dt_s: float | None = None
    default_reset: str | None = "zero"
    default_dt_s: float | None = None
    description: str = "neurodeploy.ir.to_nir; conventions in metadata"


#: our own files: dt and reset from metadata unless given; a graph without reset is read as zero
NEURODEPLOY = _Rules()


@dataclass(frozen=True)
class Conventions:
    """How to step a NIR graph: the values NIR does not record, and where each one came from.

    ``dt_s``: seconds per step; ``reset``: ``"zero"`` (v ← v_reset) or ``"subtract"`` (v ← v − θ);
    ``spike_amplitude``: value of one spike; ``dialect``: the writer whose rules normalised the
    graph; ``input_scale``: factor folded into the first layer's weights when it was read;
    ``format_version``: neurodeploy metadata format; ``nir_version``, ``writer``,
    ``writer_version``: where known, else None. ``sources``: (field, where it came from) pairs;
    ``assumed``: the fields that were neither read nor given (defaults)."""

    dt_s: float
    reset: str
    spike_amplitude: float = 1.0
    dialect: str = "neurodeploy"
    input_scale: float = 1.0
    format_version: int = FORMAT_VERSION
    nir_version: str | None = None
    writer: str | None = None
    writer_version: str | None = None
    sources: tuple[tuple[str, str], ...] = ()
    assumed: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("dt_s", "spike_amplitude", "input_scale"):
            value = getattr(self, name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))
        _check_dt(self.dt_s)
        _check_reset(self.reset)
        _check_positive("spike_amplitude", self.spike_amplitude, "spikes of another value: --input-scale")
        _check_positive("input_scale", self.input_scale, "--input-scale")

    def source(self, name: str) -> str:
        """Where field ``name`` came from (``"--dt"``, ``"metadata 'dt_s'"``, ``"dialect …"``)."""
        return dict(self.sources).get(name, "given")

    def with_options(self, dt_s: float | None = None, reset: str | None = None) -> Conventions:
        """The same conventions with ``--dt``/``--reset`` applied (each recorded as given)."""
        conv = self
        if dt_s is not None:
            conv = conv._set("dt_s", float(dt_s), "--dt")
        if reset is not None:
            conv = conv._set("reset", reset, "--reset")
        return conv

    def _set(self, name: str, value: Any, where: str) -> Conventions:
        sources = tuple((k, v) for k, v in self.sources if k != name) + ((name, where),)
        return replace(self, **{name: value}, sources=sources,
                       assumed=tuple(a for a in self.assumed if a != name))

    def to_metadata(self) -> dict[str, Any]:
        """The NIR metadata keys that record these conventions (merge into ``graph.metadata``)."""
        meta: dict[str, Any] = {VERSION_KEY: int(self.format_version), "dt_s": float(self.dt_s),
                                "reset": self.reset, "spike_amplitude": float(self.spike_amplitude),
                                "source_dialect": self.dialect, "input_scale": float(self.input_scale)}
        for key in ("nir_version", "writer", "writer_version"):
            if getattr(self, key) is not None:
                meta[key] = str(getattr(self, key))
        if self.sources:
            meta["conventions_sources"] = json.dumps(dict(self.sources))
        if self.assumed:
            meta["conventions_assumed"] = json.dumps(list(self.assumed))
        return meta

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None, *, dt_s: float | None = None,
                      reset: str | None = None) -> Conventions:
        """Read back what :meth:`to_metadata` wrote (version checked, the recorded sources and
        assumed fields kept); ``dt_s``/``reset`` override."""
        meta = dict(metadata or {})
        conv = resolve(meta, dt_s=dt_s, reset=reset)
        recorded = {}
        try:
            if meta.get("conventions_sources") is not None:
                recorded["sources"] = tuple((str(k), str(v)) for k, v in
                                            json.loads(str(meta["conventions_sources"])).items())
            if meta.get("conventions_assumed") is not None:
                recorded["assumed"] = tuple(str(a) for a in json.loads(str(meta["conventions_assumed"])))
        except (ValueError, AttributeError):
            raise ConfigError("NIR graph metadata conventions_sources/conventions_assumed are not the JSON "
                              "neurodeploy writes; the file is damaged: write it again") from None
        if recorded:
            conv = replace(conv, **recorded)
        return conv.with_options(dt_s, reset)

    @classmethod
    def from_graph(cls, graph: Any, dt_s: float | None = None, reset: str | None = None) -> Conventions:
        """The conventions of a graph in neurodeploy's conventions (its metadata, then options):
        for API callers that hand a bare ``nir.NIRGraph``."""
        return cls.from_metadata(getattr(graph, "metadata", None), dt_s=dt_s, reset=reset)


def _number(value: Any) -> float:
    """A float from metadata (numpy scalars and 1-element arrays after a NIR round trip)."""
    if hasattr(value, "reshape"):
        value = value.reshape(-1)[0] if getattr(value, "size", 1) == 1 else value
    return float(value)


def _check_dt(dt: float) -> None:
    if not (isinstance(dt, float) and math.isfinite(dt) and dt > 0):
        raise ConfigError(f"dt must be a finite number > 0 seconds, got {dt!r}; pass --dt (dt_s=, seconds per step)")


def _check_reset(rst: Any) -> None:
    if rst not in RESETS:
        raise ConfigError(f"reset must be 'zero' or 'subtract', got {rst!r}")


def _check_positive(name: str, value: float, fix: str) -> None:
    if not (isinstance(value, float) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r} ({fix})")


def check_version(metadata: Mapping[str, Any] | None) -> int:
    """The metadata's neurodeploy format version (1 when absent: a file from another writer);
    a newer or malformed one is refused naming the fix."""
    raw = (metadata or {}).get(VERSION_KEY)
    if raw is None:
        return FORMAT_VERSION
    try:
        version = int(_number(raw))
    except (TypeError, ValueError):
        raise ConfigError(f"NIR graph metadata {VERSION_KEY} = {raw!r} is not a format version "
                          f"(an integer; this neurodeploy reads {KNOWN_VERSIONS}); the file is damaged: "
                          "write it again") from None
    if version not in KNOWN_VERSIONS:
        raise ConfigError(f"NIR graph metadata format version {version} is newer than this neurodeploy "
                          f"reads ({', '.join(map(str, KNOWN_VERSIONS))}); upgrade neurodeploy")
    return version


def resolve(metadata: Mapping[str, Any] | None = None, *, rules: DialectRules = NEURODEPLOY,
            dt_s: float | None = None, reset: str | None = None, input_scale: float = 1.0,
            implied_dt_s: float | None = None) -> Conventions:
    """The one resolution of a source's conventions.

    dt: ``--dt`` (a dialect with a hard-coded dt warns when it differs; one whose parameters imply
    dt, ``implied_dt_s``, refuses a different one) > the writer's fixed dt > metadata ``dt_s`` >
    the dialect's default (assumed) > refused. reset: ``--reset`` > metadata ``reset`` > the
    dialect's rule (assumed for neurodeploy's own graphs) > refused. spike_amplitude: metadata,
    else 1 (assumed). input_scale: ``--input-scale`` (the factor folded in by this read)."""
    meta = dict(metadata or {})
    version = check_version(meta)
    name = rules.name
    sources: dict[str, str] = {}
    assumed: list[str] = []

    if rules.fixed_dt_s is not None:
        if dt_s is not None and not math.isclose(dt_s, rules.fixed_dt_s):
            warnings.warn(f"dialect {name!r} writes time constants for dt = {rules.fixed_dt_s} s; "
                          f"dt_s={dt_s} changes the dynamics", stacklevel=3)
        dt, sources["dt_s"] = (dt_s, "--dt") if dt_s is not None else \
            (rules.fixed_dt_s, f"dialect {name!r} (its writer hard-codes it)")
    elif implied_dt_s is not None:
        if dt_s is not None and not math.isclose(dt_s, implied_dt_s, rel_tol=1e-3):
            raise ConfigError(f"dialect {name!r}: dt_s={dt_s} but the graph's r values imply "
                              f"dt = {implied_dt_s:g} s; drop dt_s or check the file")
        dt, sources["dt_s"] = implied_dt_s, f"dialect {name!r} (implied by the graph's parameters)"
    elif dt_s is not None:
        dt, sources["dt_s"] = dt_s, "--dt"
    elif meta.get("dt_s") is not None:
        try:
            dt = _number(meta["dt_s"])
        except (TypeError, ValueError):
            raise ConfigError(f"NIR graph metadata dt_s = {meta['dt_s']!r} is not a number; pass --dt "
                              "(dt_s=, seconds per step)") from None
        sources["dt_s"] = "metadata 'dt_s'"
    elif rules.default_dt_s is not None:
        dt, sources["dt_s"] = rules.default_dt_s, f"dialect {name!r} default (assumed; pass --dt)"
        assumed.append("dt_s")
    else:
        hint = _DT_HINTS.get(name, "seconds per step of the writer")
        raise ConfigError(f"dialect {name!r}: the NIR graph has no dt (metadata 'dt_s'); pass it "
                          f"explicitly with --dt (dt_s=, seconds per step; {hint})")
    try:
        dt = float(dt)
    except (TypeError, ValueError):
        raise ConfigError(f"dt must be a finite number > 0 seconds, got {dt!r}; pass --dt (dt_s=, "
                          "seconds per step)") from None

    if reset is not None:
        rst, sources["reset"] = reset, "--reset"
    elif meta.get("reset") is not None:
        rst, sources["reset"] = str(meta["reset"]), "metadata 'reset'"
    elif rules.default_reset is not None:
        rst = rules.default_reset
        if name == NEURODEPLOY.name:
            sources["reset"] = "default (assumed; pass --reset)"
            assumed.append("reset")
        else:
            sources["reset"] = f"dialect {name!r} (its writer's reset)"
    else:
        raise ConfigError(f"dialect {name!r}: the writer does not record the reset mechanism; "
                          "pass reset='zero' or reset='subtract' (--reset; snnTorch's default is "
                          "'subtract', Sinabs' MembraneSubtract, see docs/interop.md)")

    if meta.get("spike_amplitude") is not None:
        amp, sources["spike_amplitude"] = _number(meta["spike_amplitude"]), "metadata 'spike_amplitude'"
    else:
        amp, sources["spike_amplitude"] = 1.0, "default (assumed: NIR records no spike amplitude)"
        assumed.append("spike_amplitude")

    if name != NEURODEPLOY.name:
        dialect, sources["dialect"] = name, "--dialect"
    elif meta.get("source_dialect") is not None:
        dialect, sources["dialect"] = str(meta["source_dialect"]), "metadata 'source_dialect'"
    else:
        dialect, sources["dialect"] = name, "default"
    scale = float(input_scale)
    if scale != 1.0:
        sources["input_scale"] = "--input-scale"
    elif name == NEURODEPLOY.name and meta.get("input_scale") is not None:
        scale, sources["input_scale"] = _number(meta["input_scale"]), "metadata 'input_scale'"
    writer = meta.get("writer")
    if writer is None and name != NEURODEPLOY.name:
        writer = rules.description or name
    return Conventions(dt_s=dt, reset=rst, spike_amplitude=amp, dialect=dialect, input_scale=scale,
                       format_version=version, nir_version=_text(meta.get("nir_version")),
                       writer=_text(writer), writer_version=_text(meta.get("writer_version")),
                       sources=tuple(sources.items()), assumed=tuple(assumed))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def of(graph: Any, conventions: Conventions | None = None, dt_s: float | None = None,
       reset: str | None = None) -> Conventions:
    """``conventions`` when a caller handed them, else resolved once from ``graph`` (API
    boundary); ``dt_s``/``reset`` override either."""
    if conventions is None:
        return Conventions.from_graph(graph, dt_s, reset)
    return conventions.with_options(dt_s, reset)
