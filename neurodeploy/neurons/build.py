"""``python -m neurodeploy.neurons.build``: compile the C++ extensions now, the neuron scan and the
energy counters (first use costs ~40 s and ~30 s on 2 cores; afterwards each loads from torch's
extension cache in < 1 s)."""

from __future__ import annotations

import time

from neurodeploy.energy import _count_cpp
from neurodeploy.neurons import _scan_cpp

if __name__ == "__main__":
    for what, ext, fallback in [("neuron scan", _scan_cpp, "the pure-PyTorch backend"),
                                ("energy counters", _count_cpp, "PyTorch counting")]:
        start = time.perf_counter()
        module = ext.load()
        state = "ready" if module is not None else f"unavailable ({fallback} will be used)"
        print(f"neurodeploy C++ {what} {state} after {time.perf_counter() - start:.1f} s")
