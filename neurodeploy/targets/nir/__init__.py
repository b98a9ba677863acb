"""The ``nir`` target: the NIR graph itself (HDF5), with dt/reset/spike conventions in metadata.

Only ``export``; a ``.nir`` file is read as a source by :mod:`neurodeploy.ir.interop` (dialects),
not by this target. No hardware, so no check, verify or training transform.
"""

from __future__ import annotations

import nir

from neurodeploy.targets.base import Target
from neurodeploy.targets.nir.export import export as _export  # keeps .export the submodule

TARGET = Target(
    name="nir", suffix=".nir", description="NIR graph (HDF5), dt/reset/spike conventions in metadata",
    export=_export,
    supported_nodes=(nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Conv2d, nir.Flatten,
                     nir.SumPool2d, nir.LIF, nir.CubaLIF, nir.IF, nir.Delay, nir.LI, nir.CubaLI),
    check=None, verify=None, input_shape=None, read=None, default_profile=None,
    wants_samples=False, training_transform=None, check_file=None,
)

__all__ = ["TARGET"]
