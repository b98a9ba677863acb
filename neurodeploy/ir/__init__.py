"""Model ⇄ NIR: the one internal graph format every exporter reads (docs/nir-conventions.md)."""

from neurodeploy.ir.from_nir import GraphConventions, conventions, from_nir
from neurodeploy.ir.to_nir import FORMAT_VERSION, to_nir

__all__ = ["FORMAT_VERSION", "GraphConventions", "conventions", "from_nir", "to_nir"]
