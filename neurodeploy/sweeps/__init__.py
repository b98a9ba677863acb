"""Accuracy/energy sweeps over training configs (``neurodeploy sweep``, ``neurodeploy.sweep``):
:mod:`.space` reads and checks the search space, :mod:`.study` runs the Optuna study,
:mod:`.report` draws the Pareto front."""
