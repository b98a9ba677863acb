"""``python -m neurodeploy.neurons.build``: compile the C++ neuron scan now (first use costs
~40 s on 2 cores; afterwards it loads from torch's extension cache in < 1 s)."""

from __future__ import annotations

import time

from neurodeploy.neurons import _scan_cpp

if __name__ == "__main__":
    start = time.perf_counter()
    module = _scan_cpp.load()
    state = "ready" if module is not None else "unavailable (the pure-PyTorch backend will be used)"
    print(f"neurodeploy C++ neuron scan {state} after {time.perf_counter() - start:.1f} s")
