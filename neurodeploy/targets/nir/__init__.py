"""The ``nir`` target: everything about it in one package."""
