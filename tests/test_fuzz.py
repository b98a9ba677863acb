"""Property-based fuzzing of every reader: mutated bytes and values of a config TOML, a profile
TOML, a checkpoint, a NIR file, a netx file and an ONNX file never produce a traceback, a NaN
result or a partial file. Each input is either read (and then everything it yields is finite)
or refused with one ``neurodeploy: error:`` line and a non-zero exit.

Deterministic (``derandomize=True``) and small (12 examples per reader; < 60 s total);
``NEURODEPLOY_FUZZ_EXAMPLES=500`` searches longer.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurodeploy.cli import main
from neurodeploy.errors import NeurodeployError

FUZZ = settings(max_examples=int(os.environ.get("NEURODEPLOY_FUZZ_EXAMPLES", "12")), deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**70, 2**70),
                    st.sampled_from([0, -1, 1e-300, 1e300, float("nan"), float("inf"), -0.0]))

# a mutation of a file's bytes: (position as a fraction, new byte) pairs, then maybe a truncation
BYTE_EDITS = st.tuples(st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                                min_size=1, max_size=8),
                       st.one_of(st.none(), st.floats(0, 1)))


def mutate_bytes(data: bytes, edits) -> bytes:
    flips, cut = edits
    b = bytearray(data)
    for pos, value in flips:
        b[int(pos * len(b))] = value
    return bytes(b[: int(cut * len(b))] if cut is not None else b)


def _finite(obj) -> bool:
    if isinstance(obj, dict):
        return all(_finite(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return all(_finite(v) for v in obj)
    if isinstance(obj, float):
        return math.isfinite(obj)
    return True


def _temp_left(folder: Path) -> list[Path]:
    return list(folder.rglob(".*.tmp"))


def run_cli(capsys, args, outputs: list[Path]) -> int:
    """Run the CLI; assert the outcome is a clean success or one error line with no output."""
    capsys.readouterr()
    code = main([str(a) for a in args])  # an exception escaping here is the traceback we hunt
    err = capsys.readouterr().err
    if os.environ.get("NEURODEPLOY_FUZZ_LOG"):
        with open(os.environ["NEURODEPLOY_FUZZ_LOG"], "a") as log:
            log.write(f"{args[0]} {Path(str(args[1])).name} {code} {err.strip()[:150]}\n")
    if code != 0:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("neurodeploy: error: "), err
        assert not [p for p in outputs if p.exists()], "partial output after an error"
    for p in outputs:
        assert not _temp_left(p.parent)
    return code


@pytest.fixture(scope="module")
def art(trained_run, tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz-art")
    for target, name in (("nir", "m.nir"), ("loihi", "m.net"), ("onnx", "m.onnx")):
        assert main(["export", str(trained_run), "-t", target, "-o", str(d / name)]) == 0
    return d


# --------------------------------------------------------------------------- config TOML
CONFIG_KEYS = [(s, k) for s, fields in __import__("neurodeploy.train.config", fromlist=["SCHEMA"]).SCHEMA.items()
               for k in fields]


def _toml_value(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(v)


@FUZZ
@given(key=st.sampled_from(CONFIG_KEYS),
       value=st.one_of(NUMBERS, st.text(max_size=8), st.booleans(), st.lists(st.integers(-5, 10**7), max_size=3)))
def test_config_values(key, value):
    from neurodeploy.train.config import load_config

    section, name = key
    text = f"[{section}]\n{name} = " + (("[" + ", ".join(map(str, value)) + "]") if isinstance(value, list)
                                         else _toml_value(value)) + "\n"
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.toml"
        p.write_text(text)
        try:
            cfg = load_config(p)
        except NeurodeployError as exc:
            assert "\n" not in str(exc)
            return
    assert _finite(cfg)


@FUZZ
@given(edits=BYTE_EDITS)
def test_config_bytes(edits):
    from neurodeploy.train.config import load_config

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.toml"
        p.write_bytes(mutate_bytes(Path("configs/digits.toml").read_bytes(), edits))
        try:
            cfg = load_config(p)
        except NeurodeployError:
            return
    assert _finite(cfg)


# --------------------------------------------------------------------------- profile TOML
@FUZZ
@given(edits=BYTE_EDITS, value=NUMBERS)
def test_profile(edits, value):
    from neurodeploy.hw_profiles import load_profile

    base = Path(__file__).parents[1] / "neurodeploy" / "hw_profiles" / "cmos45-fp32.toml"
    text = base.read_text()
    with tempfile.TemporaryDirectory() as d:
        for i, data in enumerate((mutate_bytes(text.encode(), edits),
                                  text.replace("value = 0.9", f"value = {_toml_value(value)}", 1).encode())):
            p = Path(d) / f"p{i}.toml"
            p.write_bytes(data)
            try:
                prof = load_profile(p)
            except NeurodeployError:
                continue
            assert all(math.isfinite(q.value) for q in [*prof.costs.values(), *prof.limits.values()])


# --------------------------------------------------------------------------- checkpoint
@FUZZ
@given(edits=BYTE_EDITS, value=NUMBERS, mode=st.sampled_from(["bytes", "weight", "field"]))
def test_checkpoint(trained_run, capsys, edits, value, mode):
    import torch

    with tempfile.TemporaryDirectory() as d:
        run = Path(d) / "run"
        run.mkdir()
        for f in ("last.pt", "config.json", "metrics.jsonl"):
            shutil.copy(trained_run / f, run / f)
        ck = run / "last.pt"
        if mode == "bytes":
            ck.write_bytes(mutate_bytes(ck.read_bytes(), edits))
        else:
            c = torch.load(ck, map_location="cpu", weights_only=False)
            if mode == "weight":
                t = next(v for v in c["model_state"].values() if v.is_floating_point())
                with np.errstate(over="ignore"):
                    t.view(-1)[int(edits[0][0][0] * t.numel())] = float(np.float32(float(value)))
            else:
                key = ["epoch", "classes", "input_shape", "config"][edits[0][0][1] % 4]
                c[key] = value
            torch.save(c, ck)
        out = Path(d) / "o.nir"
        if run_cli(capsys, ["export", run, "-t", "nir", "-o", out], [out]) == 0:
            import nir

            g = nir.read(str(out))
            assert all(np.isfinite(np.asarray(v, dtype=float)).all() for n in g.nodes.values()
                       for k, v in vars(n).items() if isinstance(v, np.ndarray) and v.dtype.kind == "f")


# --------------------------------------------------------------------------- NIR file
@FUZZ
@given(edits=BYTE_EDITS, value=NUMBERS, mode=st.sampled_from(["bytes", "value"]))
def test_nir_file(art, capsys, edits, value, mode):
    import nir

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.nir"
        if mode == "bytes":
            p.write_bytes(mutate_bytes((art / "m.nir").read_bytes(), edits))
        else:
            g = nir.read(str(art / "m.nir"))
            nodes = [n for n in g.nodes.values() if not isinstance(n, (nir.Input, nir.Output))]
            node = nodes[edits[0][0][1] % len(nodes)]
            arrays = [k for k, v in vars(node).items() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
            if arrays:
                a = getattr(node, arrays[edits[0][0][1] % len(arrays)])
                a.reshape(-1)[int(edits[0][0][0] * a.size)] = float(value)
            nir.write(str(p), g)
        out = Path(d) / "o.nir"
        if run_cli(capsys, ["export", p, "-t", "nir", "-o", out], [out]) == 0:
            g = nir.read(str(out))
            assert all(np.isfinite(v).all() for n in g.nodes.values() for v in vars(n).values()
                       if isinstance(v, np.ndarray) and v.dtype.kind == "f")


# --------------------------------------------------------------------------- netx and ONNX being verified
def _verify(capsys, art, name, data: bytes | None = None, edit=None):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        shutil.copy(art / f"{name}.source.nir", Path(d) / f"{name}.source.nir")
        if data is not None:
            p.write_bytes(data)
        else:
            shutil.copy(art / name, p)
            edit(p)
        out = Path(d) / "v.json"
        code = run_cli(capsys, ["verify", p, "-n", "2", "--no-lava", "--json-out", out], [])
        if code == 0:
            assert out.is_file() and "NaN" not in out.read_text()
        elif out.exists():  # written only when verification ran (and then failed: exit 8)
            assert code == 8 and "NaN" not in out.read_text()


@FUZZ
@given(edits=BYTE_EDITS, value=NUMBERS, mode=st.sampled_from(["bytes", "value"]))
def test_netx_file(art, capsys, edits, value, mode):
    def edit(p):
        import h5py

        with h5py.File(p, "r+") as f:
            names = []
            f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.dtype.kind in "iuf" else None)
            name = names[edits[0][0][1] % len(names)]
            arr = np.asarray(f[name][()], dtype=np.float64)
            arr.reshape(-1)[int(edits[0][0][0] * max(arr.size, 1)) % max(arr.size, 1)] = value
            del f[name]
            f.create_dataset(name, data=arr)

    data = mutate_bytes((art / "m.net").read_bytes(), edits) if mode == "bytes" else None
    _verify(capsys, art, "m.net", data, edit)


@FUZZ
@given(edits=BYTE_EDITS)
def test_onnx_file(art, capsys, edits):
    _verify(capsys, art, "m.onnx", mutate_bytes((art / "m.onnx").read_bytes(), edits))
