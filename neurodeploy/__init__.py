"""neurodeploy: train spiking networks, export them via NIR to neuromorphic targets, report energy."""

__version__ = "0.1.0"

from neurodeploy.errors import NeurodeployError  # noqa: E402

__all__ = ["NeurodeployError", "__version__"]
