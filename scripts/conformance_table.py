#!/usr/bin/env python
"""Run the conformance matrix (tests/conformance_cells.py) and write its table into
docs/interop.md between the ``<!-- conformance:begin -->`` / ``<!-- conformance:end -->`` markers.

    PYTHONPATH=. .venv-core/bin/python scripts/conformance_table.py [--check]

Cells whose writer is not installed in the running environment keep their previous row, so run it
in each environment that has writers (core: Norse, snnTorch, Sinabs, Rockpool, Spyx 1.0; full:
Norse, Spyx 0.1.20).
``--check`` exits 1 when the doc would change.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conformance_cells import CELLS, cell_id, run_cell  # noqa: E402

BEGIN, END = "<!-- conformance:begin -->", "<!-- conformance:end -->"
HEAD = ("| cell | writer | node kind | reset | values | outcome | float vs writer | ONNX | "
        "Loihi emulator vs writer | notes |\n|---|---|---|---|---|---|---|---|---|---|")


def _row(res) -> str:
    c = res.cell
    mm = "—" if res.float_mismatch is None else f"{res.float_mismatch:.2%} bins differ"
    if c.shift and res.float_mismatch is not None:
        mm += f" (shift {c.shift})"
    note = c.note
    if res.status in ("refused", "unwritable"):
        who = "writer fails: " if res.status == "unwritable" else "error: "
        note = (note + "; " if note else "") + who + res.detail.splitlines()[0][:140]
    elif c.warn:
        w = next((t for t in res.warnings if re.search(c.warn, t)), "")
        note = (note + "; " if note else "") + "warns: " + w[:140]
    bound = f" ≤ {c.bound:.0%}" if c.expect == "bounded" else ""
    status = "writer cannot write" if res.status == "unwritable" else res.status
    loihi = res.loihi or "—"
    if c.loihi is not None and res.loihi:
        loihi += f" (≤ {c.loihi:.0%})"
    return (f"| `{cell_id(c)}` | {c.writer} | {c.kind} | {c.reset} | {c.values} | "
            f"**{status}**{bound} | {mm} | {res.onnx or '—'} | {loihi} | "
            f"{note.replace('|', '/')} |")


def main() -> int:
    logging.getLogger().setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    doc_path = ROOT / "docs" / "interop.md"
    doc = doc_path.read_text(encoding="utf-8")
    start, end = doc.index(BEGIN), doc.index(END)
    old_rows = {m.group(1): line for line in doc[start:end].splitlines()
                if (m := re.match(r"\| `([^`]+)` \|", line))}
    rows, failed = [], []
    for c in CELLS:
        res = run_cell(c)
        if res.status == "skipped":
            rows.append(old_rows.get(cell_id(c), f"| `{cell_id(c)}` | {c.writer} | {c.kind} | {c.reset} | "
                                                 f"{c.values} | skipped | — | — | — | {res.detail} |"))
            continue
        if res.status == "FAIL":
            failed.append(f"{cell_id(c)}: {res.detail}")
        rows.append(_row(res))
    new = doc[:start] + BEGIN + "\n" + HEAD + "\n" + "\n".join(rows) + "\n" + doc[end:]
    for f in failed:
        print("FAIL", f, file=sys.stderr)
    if "--check" in sys.argv:
        return int(new != doc or bool(failed))
    doc_path.write_text(new, encoding="utf-8")
    return int(bool(failed))


if __name__ == "__main__":
    raise SystemExit(main())
