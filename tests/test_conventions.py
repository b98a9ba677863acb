"""The one conventions object (neurodeploy/ir/conventions.py): resolution of dt, reset, spike
amplitude, dialect and input scale from metadata vs options vs dialect rules, the fields that were
assumed and where each came from, the one set of messages, the metadata round trip (in memory and
through a NIR file) with its version check, and the consumers that take the object."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from neurodeploy.errors import ConfigError
from neurodeploy.ir.conventions import FORMAT_VERSION, NEURODEPLOY, Conventions, resolve
from neurodeploy.ir.interop import DIALECTS

ROOT = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures"


def _graph(metadata: dict | None = None) -> nir.NIRGraph:
    w = np.array([[1.5, 0.0], [0.0, 1.5]])
    nodes = {"input": nir.Input(input_type=np.array([2])), "0_linear": nir.Linear(weight=w),
             "1_lif": nir.LIF(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2),
                              v_threshold=np.ones(2), v_reset=np.zeros(2)),
             "output": nir.Output(output_type=np.array([2]))}
    edges = [("input", "0_linear"), ("0_linear", "1_lif"), ("1_lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(metadata or {}))


def test_module_imports_without_torch():
    code = ("import sys, neurodeploy.ir.conventions as c; "
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, sorted(sys.modules); "
            "print(c.Conventions(1e-3, 'zero').dt_s)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0.001"


# (dialect, metadata, options) → (dt_s, dt source, reset, reset source, assumed)
TABLE = [
    ("neurodeploy", {"dt_s": 1e-3, "reset": "subtract"}, {},
     (1e-3, "metadata 'dt_s'", "subtract", "metadata 'reset'", ("spike_amplitude",))),
    ("neurodeploy", {"dt_s": 1e-3, "reset": "subtract", "spike_amplitude": 1.0}, {"dt_s": 2e-3, "reset": "zero"},
     (2e-3, "--dt", "zero", "--reset", ())),
    ("neurodeploy", {"dt_s": np.float64(5e-4)}, {},
     (5e-4, "metadata 'dt_s'", "zero", "default (assumed; pass --reset)", ("reset", "spike_amplitude"))),
    ("norse", {}, {"dt_s": 1e-3},
     (1e-3, "--dt", "zero", "dialect 'norse' (its writer's reset)", ("spike_amplitude",))),
    ("snntorch", {"dt_s": 5.0}, {"reset": "zero"},
     (1e-4, "dialect 'snntorch' (its writer hard-codes it)", "zero", "--reset", ("spike_amplitude",))),
    ("sinabs", {}, {"reset": "subtract"},
     (1e-3, "dialect 'sinabs' default (assumed; pass --dt)", "subtract", "--reset", ("dt_s", "spike_amplitude"))),
    ("rockpool", {}, {"implied_dt_s": 2e-3},
     (2e-3, "dialect 'rockpool' (implied by the graph's parameters)", "subtract",
      "dialect 'rockpool' (its writer's reset)", ("spike_amplitude",))),
]


@pytest.mark.parametrize("dialect,meta,opts,expected", TABLE, ids=[f"{r[0]}-{i}" for i, r in enumerate(TABLE)])
def test_resolution_table(dialect, meta, opts, expected):
    dt, dt_src, rst, rst_src, assumed = expected
    conv = resolve(meta, rules=DIALECTS[dialect], **opts)
    assert conv.dt_s == pytest.approx(dt) and type(conv.dt_s) is float
    assert conv.source("dt_s") == dt_src
    assert (conv.reset, conv.source("reset")) == (rst, rst_src)
    assert conv.assumed == assumed
    assert conv.dialect == dialect and conv.format_version == FORMAT_VERSION
    assert conv.writer == (None if dialect == "neurodeploy" else DIALECTS[dialect].description)


def test_one_set_of_messages():
    with pytest.raises(ConfigError, match=r"^dialect 'neurodeploy': the NIR graph has no dt \(metadata 'dt_s'\); "
                                          r"pass it explicitly with --dt \(dt_s=, seconds per step; e\.g\. Norse "
                                          r"uses 1e-3, snnTorch 1e-4\)$"):
        resolve({})
    with pytest.raises(ConfigError, match=r"dialect 'spyx': .* the dt given to spyx\.nir\.to_nir; its default is 1\)"):
        resolve({}, rules=DIALECTS["spyx"])
    with pytest.raises(ConfigError, match=r"^dialect 'snntorch': the writer does not record the reset mechanism; "
                                          r"pass reset='zero' or reset='subtract' \(--reset"):
        resolve({}, rules=DIALECTS["snntorch"])
    with pytest.raises(ConfigError, match=r"^reset must be 'zero' or 'subtract', got 'soft'$"):
        resolve({"dt_s": 1e-3}, reset="soft")
    with pytest.raises(ConfigError, match=r"^dt must be a finite number > 0 seconds, got -0\.001; pass --dt"):
        resolve({"dt_s": -1e-3})
    with pytest.raises(ConfigError, match=r"^NIR graph metadata dt_s = 'fast' is not a number; pass --dt"):
        resolve({"dt_s": "fast"})
    with pytest.raises(ConfigError, match=r"^dialect 'rockpool': dt_s=0\.001 but the graph's r values imply "
                                          r"dt = 0\.002 s; drop dt_s or check the file$"):
        resolve({}, rules=DIALECTS["rockpool"], dt_s=1e-3, implied_dt_s=2e-3)
    with pytest.warns(UserWarning, match=r"dialect 'snntorch' writes time constants for dt = 0\.0001 s; "
                                         r"dt_s=0\.001 changes the dynamics"):
        assert resolve({}, rules=DIALECTS["snntorch"], dt_s=1e-3, reset="zero").dt_s == 1e-3
    with pytest.raises(ConfigError, match=r"^spike_amplitude must be a finite number > 0, got 0\.0"):
        resolve({"dt_s": 1e-3, "spike_amplitude": 0.0})
    with pytest.raises(ConfigError, match=r"^input_scale must be a finite number > 0, got -2\.0 \(--input-scale\)"):
        resolve({"dt_s": 1e-3}, input_scale=-2.0)


def test_version_check():
    assert resolve({"dt_s": 1e-3}).format_version == 1  # another writer's file: no version key
    with pytest.raises(ConfigError, match=r"^NIR graph metadata format version 2 is newer than this neurodeploy "
                                          r"reads \(1\); upgrade neurodeploy$"):
        Conventions.from_metadata({"neurodeploy_format_version": 2, "dt_s": 1e-3})
    with pytest.raises(ConfigError, match=r"neurodeploy_format_version = 'v1' is not a format version"):
        Conventions.from_metadata({"neurodeploy_format_version": "v1", "dt_s": 1e-3})
    with pytest.raises(ConfigError, match="format version 99 is newer"):
        Conventions.from_graph(_graph({"neurodeploy_format_version": np.int64(99), "dt_s": 1e-3}))


def test_round_trip_in_memory_and_through_a_nir_file(tmp_path):
    conv = resolve({"writer_version": "1.1.0", "nir_version": "1.0.8"}, rules=DIALECTS["sinabs"],
                   reset="subtract", input_scale=0.5)
    meta = conv.to_metadata()
    assert meta["neurodeploy_format_version"] == FORMAT_VERSION and meta["source_dialect"] == "sinabs"
    assert Conventions.from_metadata(meta) == conv
    nir.write(tmp_path / "g.nir", _graph({**meta, "time_steps": 8}))
    back = Conventions.from_metadata(nir.read(tmp_path / "g.nir").metadata)
    assert back == conv
    assert back.assumed == ("dt_s", "spike_amplitude") and back.source("reset") == "--reset"
    assert (back.writer_version, back.nir_version, back.input_scale) == ("1.1.0", "1.0.8", 0.5)
    # options given when reading back override and are recorded as given
    again = Conventions.from_metadata(meta, dt_s=2e-3)
    assert again.dt_s == 2e-3 and again.source("dt_s") == "--dt" and "dt_s" not in again.assumed
    with pytest.raises(ConfigError, match="conventions_sources/conventions_assumed are not the JSON"):
        Conventions.from_metadata({**meta, "conventions_sources": "{broken"})


def test_to_nir_records_writer_and_versions():
    from neurodeploy.ir import to_nir
    from neurodeploy.neurons import LIF, LIFParameters, SpikingSequential

    model = SpikingSequential(torch.nn.Linear(3, 2), LIF(LIFParameters(), dt_s=1e-3, reset="subtract"))
    graph = to_nir(model, (3,), time_steps=4)
    conv = Conventions.from_graph(graph)
    assert (conv.dt_s, conv.reset, conv.dialect, conv.writer) == (1e-3, "subtract", "neurodeploy", "neurodeploy")
    assert conv.nir_version == nir.__version__ and conv.writer_version and conv.source("dt_s") == "model"


def test_sources_carry_their_conventions(tmp_path):
    """Built once where a source is read: a foreign NIR file, a netx file (assumed dt), a run."""
    from neurodeploy.pipeline import load_source

    norse_braille = Path(__import__("norse.torch").torch.__file__).parent / "utils" / "test" / "braille.nir"
    src = load_source(norse_braille, dt_s=1e-4)
    assert src.conventions.dt_s == 1e-4 and src.conventions.source("dt_s") == "--dt"
    assert "reset" in src.conventions.assumed  # braille.nir records no reset: zero, assumed
    assert Conventions.from_graph(src.graph) == src.conventions  # recorded in the graph too
    netx = load_source(FIX / "lavadl_dense_if.net")
    assert netx.conventions.assumed == ("dt_s",) and netx.conventions.writer == "lava-dl netx"
    assert load_source(FIX / "lavadl_dense_if.net", dt_s=1e-4).conventions.assumed == ()


def test_consumers_take_the_object(tmp_path):
    """A graph without metadata runs in the simulator, the energy counter and the exporters when
    handed the conventions; the API resolves them once for a bare graph."""
    import neurodeploy
    from neurodeploy.energy import count_activity
    from neurodeploy.sim.float_sim import simulate
    from neurodeploy.targets.onnx.export import build_onnx, onnx_metadata

    bare = _graph()
    conv = Conventions(dt_s=1e-3, reset="subtract")
    x = torch.ones(20, 1, 2)
    with pytest.raises(ConfigError, match="has no dt"):
        simulate(bare, x)
    out = simulate(bare, x, conventions=conv).output
    assert out.shape == (20, 1, 2) and out.sum() > 0
    assert count_activity(bare, x.transpose(0, 1), conventions=conv).dt_s == 1e-3
    meta = onnx_metadata(build_onnx(bare, conventions=conv))
    assert (float(meta["dt_s"]), meta["reset"]) == (1e-3, "subtract")
    res = neurodeploy.export(_graph({"dt_s": 2e-3}), "nir", tmp_path / "g.nir")
    back = Conventions.from_metadata(nir.read(res.path).metadata)
    assert back.dt_s == 2e-3 and back.source("dt_s") == "metadata 'dt_s'" and "reset" in back.assumed
    with pytest.raises(ConfigError, match="has no dt"):
        neurodeploy.export(bare, "nir", tmp_path / "h.nir")


def test_with_options_and_frozen():
    conv = Conventions(dt_s=1, reset="zero")
    assert conv.dt_s == 1.0 and type(conv.dt_s) is float
    with pytest.raises(AttributeError):
        conv.dt_s = 2.0  # type: ignore[misc]
    assert conv.with_options() is conv
    assert NEURODEPLOY.name == "neurodeploy"
