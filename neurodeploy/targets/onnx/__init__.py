"""The ``onnx`` target: a one-step (x, state…) → (y, state…) or unrolled ONNX model.

``export`` (build + write, metadata records dt/reset/spike conventions), ``verify`` (onnxruntime
vs the float model from zero and random state) and ``file_check`` (refusal of damaged files).
No hardware limits, no training transform.
"""

from __future__ import annotations

from pathlib import Path

from neurodeploy.targets.base import Target
from neurodeploy.targets.onnx.export import SUPPORTED_NODES
from neurodeploy.targets.onnx.export import export as _export  # keeps .export the submodule


def _verify(request):
    from neurodeploy.targets.onnx.verify import verify_request

    return verify_request(request)


def _input_shape(path: Path) -> tuple[int, ...]:
    from neurodeploy.targets.onnx.verify import input_shape

    return input_shape(path)


def _check_file(path: Path) -> None:
    from neurodeploy.targets.onnx.file_check import check_onnx

    check_onnx(path)


TARGET = Target(
    name="onnx", suffix=".onnx",
    description="ONNX one-step model (x, state…) → (y, state…) or unrolled over T; onnxruntime-verifiable",
    export=_export, supported_nodes=SUPPORTED_NODES,
    check=None, verify=_verify, input_shape=_input_shape, read=None, default_profile=None,
    wants_samples=False, training_transform=None, check_file=_check_file,
)

__all__ = ["TARGET"]
