"""The ``onnx`` target: everything about it in one package."""
