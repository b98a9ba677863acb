"""Import Rockpool's Xylo packages without samna (facts §12).

``import rockpool.devices.xylo`` fails without samna because its package ``__init__`` imports a
samna module. We register a bare package module for ``rockpool.devices.xylo`` (its ``__path__`` the
real folder) and import the chip sub-packages directly; nothing of Rockpool is copied.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

#: profile name → Rockpool sub-package of that chip
#: (Audio 3: Rockpool's syns65302 imports samna and re-exports syns63300's XyloSim, so that core is used)
CHIP_PACKAGES = {"xylo-audio2": "syns61201", "xylo-audio3": "syns63300", "xylo-imu": "syns63300"}
MISSING = "rockpool 3.1.0 and xylosim 0.1.3 are not installed (pip install 'neurodeploy[xylo]'; never samna)"


def available() -> bool:
    return (importlib.util.find_spec("rockpool") is not None
            and importlib.util.find_spec("xylosim") is not None)


def chip_module(package: str = "syns61201"):
    """The Rockpool sub-package of one Xylo chip (e.g. ``syns61201`` = Xylo Audio 2)."""
    import rockpool

    name = "rockpool.devices.xylo"
    if name not in sys.modules:
        mod = types.ModuleType(name)
        mod.__path__ = [str(Path(rockpool.__file__).parent / "devices" / "xylo")]
        sys.modules[name] = mod
    return importlib.import_module(f"{name}.{package}")


def xylosim_class(package: str = "syns61201"):
    """Rockpool's ``XyloSim`` (the vendor C++ core) for one chip."""
    return chip_module(package).XyloSim
