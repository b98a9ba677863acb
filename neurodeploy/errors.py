"""One exception hierarchy for everything neurodeploy raises on purpose.

The CLI turns any :class:`NeurodeployError` into one line on stderr and a non-zero exit code.
Each message says what went wrong, where (file, layer, field), what was expected and how to fix it.
"""

from __future__ import annotations


class NeurodeployError(Exception):
    """Base class: a problem the user can fix (bad input, unsupported model, limit exceeded)."""

    exit_code = 1


class ConfigError(NeurodeployError):
    """A config file, CLI option or parameter is missing, unknown or out of range."""

    exit_code = 2


class DataError(NeurodeployError):
    """A dataset or input file is missing or in the wrong format."""

    exit_code = 3


class CheckpointError(NeurodeployError):
    """A run directory or checkpoint is missing, corrupt or of an unknown format version."""

    exit_code = 4


class UnsupportedNodeError(NeurodeployError):
    """A graph node or layer has no mapping for the requested target."""

    exit_code = 5


class HardwareLimitError(NeurodeployError):
    """A network violates a hardware limit of the target profile."""

    exit_code = 6


class LossyConversionError(NeurodeployError):
    """A conversion would lose information (clipping, rounding beyond tolerance) and was not allowed."""

    exit_code = 7


class VerificationError(NeurodeployError):
    """An exported network does not compute what the source network computes."""

    exit_code = 8
