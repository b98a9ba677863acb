"""neurodeploy: train spiking networks, export them via NIR to neuromorphic targets, report energy.

Python API (docs/python-api.md), loaded on first use so that ``import neurodeploy`` and the CLI's
``--help`` stay cheap (no torch): ``train``, ``load``, ``to_nir``, ``export``, ``verify``,
``energy``, their results ``Run``, ``ExportResult``, ``VerifyReport``, ``EnergyReport``; the Norse
bridge ``from_norse``, ``to_norse``, ``run_norse``; our layers ``SpikingSequential``, ``LIF``,
``CubaLIF``, ``IF``, ``CubaLI``, ``SumPool2d`` and their parameter tuples. ``neurodeploy.train``
and ``neurodeploy.energy`` are also subpackages; calling them calls the API function.
"""

__version__ = "0.1.0"

from neurodeploy.errors import NeurodeployError  # noqa: E402

_LAZY = {
    **{name: "neurodeploy.api" for name in (
        "train", "load", "to_nir", "export", "verify", "energy", "Run", "ExportResult", "VerifyReport",
        "EnergyReport", "as_spiking_sequential", "sweep", "SweepResult")},
    **{name: "neurodeploy.ir.norse_bridge" for name in ("from_norse", "to_norse", "run_norse")},
    **{name: "neurodeploy.neurons" for name in (
        "SpikingSequential", "SpikingNeuron", "LIF", "CubaLIF", "IF", "CubaLI", "SumPool2d", "LIFParameters",
        "CubaLIFParameters", "CubaLIParameters", "IFParameters")},
    "make_surrogate": "neurodeploy.surrogates",
}

__all__ = ["NeurodeployError", "__version__", *sorted(_LAZY)]


def __getattr__(name: str):
    if name in ("train", "energy"):  # subpackages that are also the API functions (neurodeploy/_callable.py)
        import importlib

        return importlib.import_module(f"neurodeploy.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'neurodeploy' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
