"""Moved: the target interface and registry live in :mod:`neurodeploy.targets.base`."""

from neurodeploy.targets.base import TARGETS, ExportResult, Target, get_target

__all__ = ["TARGETS", "ExportResult", "Target", "get_target"]
