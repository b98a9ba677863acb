"""C++ extensions built on first use: one build per source text, flags and torch install (and
CPU), loaded once per process, with a warn-once fallback. Used by
:mod:`neurodeploy.neurons._scan_cpp` (``neurons/scan.cpp``) and :mod:`neurodeploy.energy._count_cpp`
(``energy/count.cpp``).

The ``.cpp`` file (package data, so an installed package has it too) is read when the extension is
built, optionally after a generated prelude, and compiled with
``torch.utils.cpp_extension.load_inline`` (needs a C++ compiler; ninja comes with the package) into
torch's extension cache (``$TORCH_EXTENSIONS_DIR`` or ``~/.cache/torch_extensions``); later
processes load the cached build in well under a second. The cache folder's name holds a hash of
the source text, the flags and the torch install, so an edited source rebuilds and two
environments sharing a cache never overwrite each other's build.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

BASE_CFLAGS = ["-O3", "-ffp-contract=off", "-fopenmp"]


@contextlib.contextmanager
def ninja_on_path():
    """This environment's ``ninja`` first on PATH while torch builds or loads an extension.

    torch runs ``ninja`` from PATH even to load a cached build: from a virtual environment that
    is not activated it finds none (no compiled kernels) or the system's, and two ninja versions
    alternating rebuild the cached extension every time (measured: 20-60 s per process start).
    The ``ninja`` package is a dependency, so its binary is always there."""
    try:
        import ninja
        bin_dir = ninja.BIN_DIR
    except (ImportError, AttributeError):
        yield
        return
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = bin_dir + os.pathsep + old
    try:
        yield
    finally:
        os.environ["PATH"] = old


def cpu_tag() -> str:
    """Short hash of this CPU's model and features: ``-march=native`` builds are per CPU, and a
    home directory (torch's extension cache) may be shared by machines with different CPUs."""
    text = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text += "".join(sorted({ln for ln in f if ln.startswith(("flags", "model name",
                                                                     "Features", "CPU part"))}))
    except OSError:
        pass
    return hashlib.sha256(text.encode()).hexdigest()[:6]


class InlineExtension:
    """One C++ source file and the functions it exports.

    ``name``: cache-folder prefix (the torch version, a hash of the source text, flags and torch
    install and, for native builds, of the CPU are appended: a build made from another source or
    against another torch's headers is never reused). ``path``: the ``.cpp`` file, read at build
    time; ``prelude``: returns text compiled before it (generated declarations), or ``None``.
    ``native``: first try a build for this CPU (``-march=native``), then a portable one.
    ``what`` / ``fallback``: the warning's words when every build fails; :meth:`load` then
    returns ``None`` from then on (``module`` / ``failed`` hold the state).
    """

    def __init__(self, name: str, path: Path, functions: list[str], *, what: str, fallback: str,
                 extra_cflags: tuple[str, ...] = (), native: bool = False,
                 prelude: Callable[[], str] | None = None):
        self.name, self.path, self.functions, self.prelude = name, Path(path), functions, prelude
        self.what, self.fallback = what, fallback
        self.extra_cflags, self.native = list(extra_cflags), native
        self.module = None
        self.failed = False
        self._lock = threading.Lock()

    def source(self) -> str:
        """The text compiled: the generated prelude (if any), then the ``.cpp`` file."""
        text = self.path.read_text(encoding="utf-8")
        return (self.prelude() + text) if self.prelude is not None else text

    def _build(self, native: bool):
        from torch.utils.cpp_extension import load_inline

        source = self.source()
        # -march=native: vectorised exp and selects; still no FMA contraction
        # (-ffp-contract=off), so results do not depend on the CPU.
        cflags = BASE_CFLAGS + self.extra_cflags + (["-march=native"] if native else [])
        tag = torch.__version__.split("+")[0].replace(".", "_")
        key = hashlib.sha256("\0".join([source, *cflags, os.path.dirname(torch.__file__)])
                             .encode()).hexdigest()[:12]
        arch = f"_n{cpu_tag()}" if native else ("_portable" if self.native else "")
        with ninja_on_path():
            return load_inline(
                name=f"{self.name}_torch{tag}_{key}{arch}",
                cpp_sources=[source],
                functions=self.functions,
                extra_cflags=cflags,
                extra_ldflags=["-fopenmp"],
                verbose=False,
            )

    def load(self):
        """The compiled module, or ``None`` (after one warning) if it cannot be built."""
        if self.module is not None or self.failed:
            return self.module
        with self._lock:
            if self.module is not None or self.failed:
                return self.module
            error = ""
            for native in ((True, False) if self.native else (False,)):
                try:
                    self.module = self._build(native)
                    return self.module
                except Exception as exc:  # compiler, ninja or headers missing, or a build error
                    text = str(exc).strip()
                    error = f"{type(exc).__name__}: {text.splitlines()[-1] if text else ''}"
            self.failed = True
            warnings.warn(f"neurodeploy: could not build the C++ {self.what} ({error}); "
                          f"{self.fallback}", RuntimeWarning, stacklevel=3)
            return None
