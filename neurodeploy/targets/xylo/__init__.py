"""SynSense Xylo (Audio 2 / Audio 3 / IMU) as a deployment target; see docs/xylo.md.

    export.py    NIR → quantised Xylo specification (.xylo.json) + manifest
    spec.py      the versioned specification file (XyloSim.from_specification(**load_spec(path)))
    check.py     every profile limit at once, each with its fix
    emulator.py  batched integer emulator, equal to XyloSim on every spike and step
    verify.py    float vs emulator vs XyloSim with the profile's fidelity criteria
    training.py  quantisation-aware training forward + evaluation on the emulator's integers
"""

from __future__ import annotations

from pathlib import Path

import nir

from neurodeploy.targets.base import Target, TrainingTransform


def _export(graph, out_path, options):
    from neurodeploy.targets.xylo.export import export

    return export(graph, out_path, options)


def _check(graph, options=None):
    from neurodeploy.targets.xylo.export import check_graph

    return check_graph(graph, options)


def _verify(request):
    from neurodeploy.targets.xylo.verify import verify

    return verify(request)


def _input_shape(path: Path) -> tuple[int, ...]:
    from neurodeploy.targets.xylo.spec import load_spec

    return (int(load_spec(path)["weights_in"].shape[0]),)


def _forward(model, x, record=False):
    from neurodeploy.targets.xylo.training import forward_quantised

    return forward_quantised(model, x, record)


def _evaluate(model, dataset, batch_size=256):
    from neurodeploy.targets.xylo.training import emulator_evaluate

    return emulator_evaluate(model, dataset, batch_size)


TARGET = Target(name="xylo", suffix=".xylo.json",
                description="SynSense Xylo Audio 2 (and Audio 3 / IMU profiles): Rockpool-quantised "
                            "specification, bit-exact to XyloSim (8-bit weights, bit-shift decays)",
                export=_export, supported_nodes=(nir.Input, nir.Output, nir.Affine, nir.Linear, nir.CubaLIF),
                check=_check, verify=_verify, input_shape=_input_shape,
                training_transform=TrainingTransform(_forward, _evaluate),
                default_profile="xylo-audio2")
