"""Exporters: one module per target, all reading a ``nir.NIRGraph``, behind one registry.

A target is a :class:`~neurodeploy.exporters.base.Target`. Builtin targets are imported lazily
(so ``onnx`` or ``h5py`` load only when used); plugins register through the entry-point group
``neurodeploy.targets``.
"""

from neurodeploy.exporters.base import TARGETS, ExportResult, Target, get_target

__all__ = ["TARGETS", "ExportResult", "Target", "get_target"]
