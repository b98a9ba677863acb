"""C++ (CPU) counters for energy estimation: NeuroBench membrane updates per step and spikes per
step and neuron (summed over the batch) of one spiking layer, in one pass over its pre-reset
membrane ``v'`` and spikes ``z``; and the non-zero weights per input column of a Linear layer
(its fanout map).

The source is ``count.cpp`` next to this module, built on first use like
:mod:`neurodeploy.neurons._scan_cpp` (``make`` prebuilds it with
``python -m neurodeploy.neurons.build``; about 20-35 s on 2 cores, then loaded from torch's
extension cache). If the build fails, :func:`load` warns once and returns ``None``, and
:func:`neurodeploy.energy.counting.neuron_counts` and
:func:`~neurodeploy.energy.counting.recurrent_fanout` use their pure-PyTorch paths, which give
identical counts (tests/test_energy_kernels.py).

Layout: ``vpre`` and ``z`` are (T, M) contiguous, M = B·N (sample-major, N neurons per sample).
The post-reset membrane is computed with the scan's own arithmetic, operation by operation and
without fused multiply-adds (``-ffp-contract=off``): ``v' − z·v_th`` (subtract reset) or
``v' − z·(v' − v_reset)`` (zero reset); since z ∈ {0, 1} every product is exact, so these are
the scan's post-reset membranes bit for bit. A neuron's membrane counts as updated at step t ≥ 1
iff its post-reset membrane differs (``!=``) from step t − 1's; at step 0 every neuron counts.
All counts are integers, summed per thread and then across threads (exact in any order).
"""

from __future__ import annotations

from pathlib import Path

from neurodeploy.neurons._extension import InlineExtension

EXTENSION = InlineExtension(
    "neurodeploy_count", Path(__file__).with_name("count.cpp"), ["neuron_counts", "column_nonzeros"],
    what="energy counters",
    fallback="counting with PyTorch instead (same counts, slower). Install a C++ compiler.")


def load():
    """The compiled extension module, or ``None`` (after one warning) if it cannot be built."""
    return EXTENSION.load()
