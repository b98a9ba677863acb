"""Model ⇄ NIR: the one internal graph format every exporter reads (docs/nir-conventions.md).

``from_nir``, ``to_nir``, ``GraphConventions`` and ``FORMAT_VERSION`` are loaded on first use, so
that the torch-free modules of this package (``neurodeploy.ir.conventions``) import without torch.
``neurodeploy.ir.from_nir`` / ``.to_nir`` are also the names of their modules: the package
attribute is always the function (as it was when this package imported them eagerly).
"""

import importlib
import types

_LAZY = {"from_nir": "neurodeploy.ir.from_nir", "GraphConventions": "neurodeploy.ir.from_nir",
         "to_nir": "neurodeploy.ir.to_nir", "FORMAT_VERSION": "neurodeploy.ir.to_nir"}

__all__ = ["FORMAT_VERSION", "GraphConventions", "from_nir", "to_nir"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'neurodeploy.ir' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """Keeps ``neurodeploy.ir.from_nir``/``to_nir`` the functions when the import system binds
    the submodules of the same names onto the package."""

    def __setattr__(self, name: str, value) -> None:
        if name in ("from_nir", "to_nir") and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


import sys  # noqa: E402

sys.modules[__name__].__class__ = _Package
