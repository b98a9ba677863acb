"""Training: config schema, model builders, the trainer, checkpoints."""

from neurodeploy._callable import make_callable  # noqa: E402

make_callable(__name__)  # neurodeploy.train(...) is neurodeploy.api.train (docs/python-api.md)
