"""The Xylo specification file (``.xylo.json``): versioned, loadable by XyloSim.

Format (``format_version`` 1)::

    {"format": "neurodeploy.xylo-spec", "format_version": 1,
     "chip": "syns61201", "profile": "xylo-audio2", "dt_s": 0.001, "latency_steps": 1,
     "layers": [{"name": "3", "kind": "hidden" | "output", "first": 0, "size": 64,
                 "recurrent": false}, ...],
     "spec": {"weights_in": [[...]], "weights_rec": [[...]], "weights_out": [[...]],
              "dash_mem": [...], "dash_mem_out": [...], "dash_syn": [...], "dash_syn_2": [...],
              "dash_syn_out": [...], "threshold": [...], "threshold_out": [...],
              "bias": [...], "bias_out": [...], "weight_shift_in": 0, "weight_shift_rec": 0,
              "weight_shift_out": 0, "dt": 0.001}}

``spec`` holds exactly the keyword arguments of Rockpool's
``XyloSim.from_specification(**spec)`` (all integers except ``dt`` in seconds): ``weights_in``
(N_in, N_hidden), ``weights_rec`` (N_hidden, N_hidden), ``weights_out`` (N_hidden, N_out), per
hidden neuron ``dash_*`` (τ = 2^dash·dt), ``threshold``; per output neuron ``*_out``.
``layers`` says which hidden-neuron index range each source layer occupies (hidden layers are
consecutive; feed-forward weights between hidden layers live in ``weights_rec``).
``latency_steps``: steps by which the chip's output lags the float network (one per weight
layer after the first: recurrent and readout synapses see the previous step's spikes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from neurodeploy.atomic import write_text
from neurodeploy.errors import DataError

FORMAT = "neurodeploy.xylo-spec"
FORMAT_VERSION = 1
INT_KEYS = ("weights_in", "weights_rec", "weights_out", "dash_mem", "dash_mem_out", "dash_syn",
            "dash_syn_2", "dash_syn_out", "threshold", "threshold_out", "bias", "bias_out")
SCALAR_KEYS = ("weight_shift_in", "weight_shift_rec", "weight_shift_out")


def write_spec(path: Path, spec: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write ``spec`` (from_specification kwargs) and ``meta`` (chip, profile, dt_s, layers …) atomically."""
    body = {k: np.asarray(spec[k]).astype(int).tolist() for k in INT_KEYS if spec.get(k) is not None}
    body.update({k: int(spec.get(k, 0)) for k in SCALAR_KEYS})
    body["dt"] = float(spec["dt"])
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta, "spec": body}
    write_text(path, json.dumps(doc, separators=(",", ":")) + "\n")


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """The whole document, version-checked; ``doc["spec"]`` has numpy int64 arrays."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: no such Xylo specification file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a Xylo specification (JSON expected: {e}); re-export with "
                        "`neurodeploy export --target xylo`") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DataError(f"{path}: 'format' is not {FORMAT!r}; re-export with `neurodeploy export --target xylo`")
    if doc.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{path}: format_version {doc.get('format_version')!r}, this reader reads "
                        f"{FORMAT_VERSION}; re-export with this neurodeploy")
    spec = doc.get("spec")
    missing = [k for k in ("weights_in", "weights_out", "threshold", "threshold_out", "dt")
               if not isinstance(spec, dict) or k not in spec]
    if missing:
        raise DataError(f"{path}: spec lacks {', '.join(missing)}; re-export with `neurodeploy export --target xylo`")
    doc["spec"] = {k: (np.asarray(v, dtype=np.int64) if k in INT_KEYS else v) for k, v in spec.items()}
    return doc


def load_spec(path: str | Path) -> dict[str, Any]:
    """The keyword arguments of ``XyloSim.from_specification(**load_spec(path))``."""
    return read_spec_file(path)["spec"]
