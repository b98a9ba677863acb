"""Validation of an ``.onnx`` file before verify reads it: it parses, passes ``onnx.checker``,
carries our metadata, loads in onnxruntime and its weights are finite."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurodeploy.errors import ConfigError


# --------------------------------------------------------------------------- onnx
def check_onnx(path: str | Path) -> None:
    """Refuse an ``.onnx`` file that does not parse, fails ``onnx.checker`` or has NaN/inf weights."""
    p = Path(path)
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ConfigError("verifying .onnx needs the onnx package: pip install onnx onnxruntime") from None
    try:
        model = onnx.load(str(p))
        onnx.checker.check_model(model)
    except Exception as exc:  # DecodeError, ValidationError, … for truncated or garbage files
        why = " ".join(str(exc).split())[:200]
        raise ConfigError(f"{p} is not a valid ONNX model ({type(exc).__name__}{': ' + why if why else ''}); "
                          "export it again with `neurodeploy export … --target onnx`") from None
    try:
        from neurodeploy.targets.onnx.export import onnx_metadata

        onnx_metadata(model)
    except Exception as exc:  # damaged JSON in metadata_props
        raise ConfigError(f"{p}: its metadata_props are damaged ({type(exc).__name__}); export it "
                          "again with `neurodeploy export … --target onnx`") from None
    try:
        import onnxruntime as ort

        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except ImportError:
        pass
    except Exception as exc:  # onnxruntime's own graph checks (types, shapes, attributes)
        why = " ".join(str(exc).split())[:200]
        raise ConfigError(f"{p}: onnxruntime cannot load it ({why}); export it again") from None
    for init in model.graph.initializer:
        try:
            arr = numpy_helper.to_array(init)
        except Exception:
            raise ConfigError(f"{p}: initializer {init.name!r} is unreadable; the file is damaged") from None
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ConfigError(f"{p}: initializer {init.name!r} has {int((~np.isfinite(arr)).sum())} "
                              "NaN/inf values")
