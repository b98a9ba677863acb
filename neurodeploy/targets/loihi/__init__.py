"""The ``loihi`` target: Intel Loihi 2 (and 1) through lava-dl netx HDF5.

Everything about the chip lives here: ``export`` (quantise + write netx), ``check`` (hardware
limits from hw_profiles/loihi*.toml), ``emulator`` (bit-exact PyTorch model of Lava's fixed_pt
CUBA), ``lava_runner`` (the vendor simulator), ``verify`` (float vs emulator vs Lava),
``training`` (the quantisation-aware forward), ``netx_reader`` (a ``.net`` file as a source),
``file_check`` (refusal of damaged ``.net`` files) and ``fixed_point`` (the number format, read
from the profile).
"""

from __future__ import annotations

from pathlib import Path

import nir

from neurodeploy.targets.base import Target, TrainingTransform
from neurodeploy.targets.loihi.export import NEURONS, SYNAPSES, check_graph
from neurodeploy.targets.loihi.export import export as _export  # keeps .export the submodule
from neurodeploy.targets.loihi.fixed_point import DEFAULT_PROFILE


def _verify(request):
    from neurodeploy.targets.loihi.verify import verify_request

    return verify_request(request)


def _input_shape(path: Path) -> tuple[int, ...]:
    from neurodeploy.targets.loihi.emulator import LoihiEmulator

    return tuple(LoihiEmulator(path).input_shape)


def _read(path: Path, dt_s: float | None = None):
    from neurodeploy.targets.loihi.netx_reader import load_netx

    return load_netx(path, dt_s)


def _check_file(path: Path) -> None:
    from neurodeploy.targets.loihi.file_check import check_netx

    check_netx(path)


def _training_transform() -> TrainingTransform:
    from neurodeploy.targets.loihi.training import emulator_evaluate, forward_quantised

    return TrainingTransform(forward_quantised, emulator_evaluate)


TARGET = Target(
    name="loihi", suffix=".net",
    description="Loihi 2 via lava-dl netx HDF5 (fixed-point CUBA, 8-bit weights)",
    export=_export, supported_nodes=(*SYNAPSES, nir.Flatten, nir.Delay, *NEURONS),
    check=check_graph, verify=_verify, input_shape=_input_shape, read=_read,
    default_profile=DEFAULT_PROFILE, wants_samples=True, check_file=_check_file,
    training_transform=_training_transform(),
)

__all__ = ["TARGET"]
