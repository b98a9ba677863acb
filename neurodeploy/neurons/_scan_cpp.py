"""C++ (CPU) forward and backward scans of the shared neuron form, and the exact sparse
binary first layer (CSR build, forward, weight gradient), built on first use.

The source, ``scan.cpp`` next to this module, is compiled with
``torch.utils.cpp_extension.load_inline`` the first time a fast CPU scan runs in a fresh
environment (needs a C++ compiler and ninja; 1-3 min on 2 cores), then loaded from torch's extension cache (``$TORCH_EXTENSIONS_DIR`` or
``~/.cache/torch_extensions``) in well under a second. The build targets this CPU
(``-march=native``, cached per CPU model and features); if that fails it retries a portable
build, and if that fails too, :func:`load` warns once and returns ``None``; the caller then uses
the pure-PyTorch scan.

Layout: every tensor is flattened to (T, M) or (M,) with M = B·(neurons), contiguous; the
coefficients are expanded per element by the caller. Arithmetic follows the reference step
(``functional.neuron_step``) operation by operation, compiled with ``-ffp-contract=off`` so that no
multiply-add is fused: forward spikes and membranes equal the reference loop bit for bit
(``-fno-trapping-math`` only lets the compiler turn branches into selects, which vectorises the
surrogate formulas; no arithmetic is reordered).
"""

from __future__ import annotations

from pathlib import Path

from neurodeploy.neurons import surrogate_kinds
from neurodeploy.neurons._extension import InlineExtension

EXTENSION = InlineExtension(
    "neurodeploy_scan", Path(__file__).with_name("scan.cpp"),
    ["scan_forward", "scan_backward", "asgl_mask", "binary_csr", "spike_csr", "csr_linear", "csr_linear_wgrad",
     "rec_forward", "rec_backward", "rec_wgrad", "pool_scan_forward", "pool_scan_backward"],
    what="neuron scan",
    fallback="using the pure-PyTorch scan instead (same results, slower). Install a C++ "
             "compiler, or set NEURODEPLOY_KERNEL=torch to silence this.",
    extra_cflags=("-fno-trapping-math",), native=True, prelude=surrogate_kinds.cpp_enum)


def load():
    """The compiled extension module, or ``None`` (after one warning) if it cannot be built."""
    return EXTENSION.load()
