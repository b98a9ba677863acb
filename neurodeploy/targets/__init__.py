"""Deployment targets: one package per target  behind the registry in :mod:`neurodeploy.targets.base`."""
