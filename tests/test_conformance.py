"""The conformance matrix (tests/conformance_cells.py): every NIR writer, measured against its own
simulator. Each cell ends exact / bounded (warning asserted, bound measured) / refused (error
asserted); writers not installed here skip with the reason. docs/interop.md's matrix is written
from the same cells by scripts/conformance_table.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conformance_cells import CELLS, cell_id, missing, run_cell

# JAX compiles each Spyx model on first use (5-75 s on two shared cores): those cells are slow.
PARAMS = [pytest.param(c, id=cell_id(c), marks=[pytest.mark.slow] if c.writer.startswith("spyx") else [])
          for c in CELLS]


@pytest.mark.parametrize("cell", PARAMS)
def test_cell(cell):
    why = missing(cell)
    if why:
        pytest.skip(f"{cell.writer} cell: {why}")
    res = run_cell(cell)
    assert res.status == cell.expect, res.detail
    if cell.expect in ("refused", "unwritable"):
        return
    assert res.onnx == "= float" or res.onnx.startswith("refused: "), res.onnx
    # run_cell checks the Loihi column against the cell's declared bound (or declared refusal)
    if cell.loihi is None:
        assert res.loihi.startswith("refused: "), res.loihi
    else:
        assert float(re.match(r"([\d.]+)% differ", res.loihi).group(1)) / 100 <= cell.loihi, res.loihi


def test_every_cell_is_in_the_doc():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "interop.md").read_text(encoding="utf-8")
    for c in CELLS:
        assert f"`{cell_id(c)}`" in doc, f"{cell_id(c)} missing: run scripts/conformance_table.py"


@pytest.mark.parametrize("writer,kind,opts", [
    ("sinabs", "IF", ["--dialect", "sinabs", "--reset", "subtract"]),
    ("rockpool", "CubaLIF", ["--dialect", "rockpool"]),
])
def test_writer_files_through_the_cli(tmp_path, writer, kind, opts):
    """Sinabs/Rockpool files (Input type with a time axis) export from the command line."""
    import nir
    from click.testing import CliRunner

    from neurodeploy.cli import cli

    cell = next(c for c in CELLS if c.writer == writer and c.kind == kind)
    why = missing(cell)
    if why:
        pytest.skip(why)
    raw, *_ = cell.build()
    src = tmp_path / f"{writer}.nir"
    nir.write(src, raw)
    run = CliRunner().invoke(cli, ["export", str(src), "--target", "onnx", "-o", str(tmp_path / "m.onnx"), *opts])
    assert run.exit_code == 0, (run.output, run.exception)
    assert (tmp_path / "m.onnx").is_file()
