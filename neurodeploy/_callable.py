"""``neurodeploy.train`` and ``neurodeploy.energy`` are subpackages *and* the API functions
``neurodeploy.train(...)`` / ``neurodeploy.energy(...)``: Python binds an imported subpackage to
the parent's attribute of the same name, so the subpackage module itself is made callable and
forwards the call to :mod:`neurodeploy.api`."""

from __future__ import annotations

import sys
import types


class CallableModule(types.ModuleType):
    """A module whose call is ``neurodeploy.api.<its last name>(...)``."""

    def __call__(self, *args, **kwargs):
        from neurodeploy import api

        return getattr(api, self.__name__.rsplit(".", 1)[1])(*args, **kwargs)


def make_callable(name: str) -> None:
    sys.modules[name].__class__ = CallableModule
