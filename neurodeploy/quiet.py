"""Quiet, useful console output for the CLI: third-party noise silenced where it is made,
our own warnings as one ``neurodeploy: warning: …`` line, and a progress bar helper.

:func:`install` (called by ``neurodeploy.cli.main``) sets up three things:

- an import hook for modules that ``print`` at import time: ``torch.utils.cpp_extension``
  ("No CUDA runtime is found, using CUDA_HOME=…" on a CUDA build of torch without a GPU) and
  lava-dl's Prophesee dataset module (a 3-line "Dataset Toolbox could not be found" on stdout,
  imported by every ``lava.lib.dl.slayer`` import). Only those known lines are dropped; anything
  else they print still shows.
- ``warnings.showwarning``: a warning raised from neurodeploy's own code prints as one line;
  third-party warnings are dropped unless the user asked for warnings (``python -W …`` or
  ``PYTHONWARNINGS``), then they print in Python's usual form.
- nothing else: library users (``import neurodeploy``) keep Python's defaults.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import io
import os
import sys
import warnings

#: module → lines (prefixes) it prints at import time that carry no information for our users
NOISY_IMPORTS: dict[str, tuple[str, ...]] = {
    "torch.utils.cpp_extension": ("No CUDA runtime is found",),
    "lava.lib.dl.slayer.object_detection.dataset.prophesee_automotive": (
        "WARNING: Prophesee Dataset Toolbox could not be found!",
        "Only Prophesee DVS demo will not run properly.",
        "Please install it from https://github.com/prophesee-ai/prophesee-automotive-dataset-toolbox",
    ),
}

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _replay(text: str, noise: tuple[str, ...], stream) -> None:
    for line in text.splitlines(keepends=True):
        if not line.strip().startswith(noise):
            stream.write(line)


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader, noise: tuple[str, ...]):
        self._loader, self._noise = loader, noise

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        out, err = io.StringIO(), io.StringIO()
        real_out, real_err = sys.stdout, sys.stderr
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                self._loader.exec_module(module)
        finally:
            _replay(out.getvalue(), self._noise, real_out)
            _replay(err.getvalue(), self._noise, real_err)

    def __getattr__(self, name):  # get_code, get_source, … of the wrapped loader
        return getattr(self._loader, name)


class _QuietFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        noise = NOISY_IMPORTS.get(name)
        if noise is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _QuietLoader(spec.loader, noise)
                return spec
        return None


def is_ours(filename: str) -> bool:
    """True for a file inside the neurodeploy package (where our warnings are raised)."""
    return os.path.abspath(filename or "").startswith(_PACKAGE_DIR + os.sep)


def one_line(message) -> str:
    return " ".join(str(message).split())


_python_showwarning = warnings.showwarning


def _raised_by_us() -> bool:
    """Whether the code that called ``warnings.warn`` is ours (its ``stacklevel`` may point
    elsewhere, e.g. into click for a warning raised in a command)."""
    frame = sys._getframe(2)
    while frame is not None and os.path.basename(frame.f_code.co_filename) == "warnings.py":
        frame = frame.f_back
    return frame is not None and is_ours(frame.f_code.co_filename)


def showwarning(message, category, filename, lineno, file=None, line=None):
    """Our warnings: one ``neurodeploy: warning:`` line; others only when asked for."""
    if is_ours(filename) or _raised_by_us():
        print(f"neurodeploy: warning: {one_line(message)}", file=file or sys.stderr)
    elif sys.warnoptions:
        _python_showwarning(message, category, filename, lineno, file, line)


def install():
    """Install the import hook and the warning formatter (idempotent); returns a function that
    restores the previous warning formatter (the import hook stays: it only drops noise)."""
    if not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
    previous = warnings.showwarning
    warnings.showwarning = showwarning

    def restore():
        warnings.showwarning = previous
    return restore


def show_progress(quiet: bool = False) -> bool:
    """Progress bars only on an interactive terminal (stderr) and when not asked to be quiet."""
    if quiet or os.environ.get("NEURODEPLOY_NO_PROGRESS"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress(total: int, description: str, enabled: bool | None = None):
    """A rich progress bar on stderr (a no-op one when not ``enabled``; default: :func:`show_progress`).

    Use as ``with progress(n, "Lava") as advance: … advance()``."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    on = show_progress() if enabled is None else enabled

    @contextlib.contextmanager
    def _bar():
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                      disable=not on, transient=False) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n=1: bar.update(task, advance=n)

    return _bar()
