"""Deployment targets: one package per target (nir, onnx, loihi …) behind the registry in :mod:`neurodeploy.targets.base`."""
