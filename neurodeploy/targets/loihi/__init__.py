"""The ``loihi`` target: everything about it in one package."""
