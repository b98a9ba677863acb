"""Multi-step execution of the shared neuron form over a whole sequence (T, B, …).

``run_sequence`` is the one entry point the modules call. It picks one of three backends:

``reference``
    A Python loop over T of :func:`~neurodeploy.neurons.functional.neuron_step`, recorded by
    autograd step by step (~10 ATen ops per step forward and more backward). Every other backend
    must match it. With a recurrent weight ``w_rec`` every other backend runs
    :mod:`neurodeploy.neurons.recurrent` instead (one Function, hand-written BPTT through the
    membrane and the recurrent spikes; in C++ from the active neurons only on CPU, else PyTorch
    ops per step); this loop where that does not apply.
``cpp``
    One autograd Function whose forward records nothing and whose backward is a hand-written
    reverse scan (BPTT through the membrane). Forward saves only the pre-reset membrane ``v'``
    (T, B, …) (plus the current ``i`` and the input when a coefficient needs a gradient); spikes
    and the post-reset membrane are recomputed from it. The surrogate derivative
    ``surrogate.derivative(v' − v_th)`` is evaluated eagerly on the whole saved tensor at the
    start of backward, so any surrogate works and its hyper-parameters may change between steps.
    Every surrogate of the catalogue, AdaLi, ASY and ASGL's derivative (``SURROGATE_KINDS``) is
    instead evaluated inside the C++ backward (same formula; its live values passed as numbers
    at every call, so schedules never recompile), saving a (T, B, …) temporary and several
    elementwise passes; the kernel also counts the non-zero derivatives (compute density).
    ASGL's noisy training spikes (analog, with a Bernoulli mask per element and step) are
    computed by the C++ forward too, with the gradient to its width α; on other backends and
    with learnable coefficients ASGL runs the reference loop.
    The scans are C++ loops (CPU, float32/float64), built on first use by
    :mod:`neurodeploy.neurons._scan_cpp` (first-use cost: 1-3 min of compilation on 2 cores,
    once per environment and CPU; later processes load the cached build in < 1 s). Their large
    outputs (spikes, saved membrane, input gradient) come from a small pool of buffers reused
    once nothing holds them (:class:`_BufferPool`, :func:`release_buffers`): fresh
    multi-megabyte allocations page-fault on first touch, which cost as much as the scan.
``torch``
    The same Function with the scans written as PyTorch ops per step (no compiler needed; CUDA
    tensors, other dtypes, and the fallback when the C++ build fails, with one warning).

``auto`` (default) uses ``cpp`` for CPU float32/float64 tensors, else ``torch``; it uses
``reference`` where the fast Function does not apply (coefficients that do not
broadcast to one time step's shape, mixed dtypes/devices). Force a backend with the environment
variable ``NEURODEPLOY_KERNEL=reference|torch|cpp|auto`` or :func:`use_backend` /
:func:`set_backend` (these take precedence over the variable).

Gradients flow to ``x``, to the initial ``state`` and to every coefficient tensor that requires
grad (learnable τ, threshold, reset). The fast backward is not itself differentiable (no
double backward); use the reference backend for that.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading

import torch
from torch.autograd.function import once_differentiable

from neurodeploy.errors import ConfigError
from neurodeploy.neurons import _scan_cpp
from neurodeploy.neurons.functional import Coefficients, NeuronState, neuron_step, zero_state
from neurodeploy.neurons.surrogate_kinds import NOISY_KINDS, SURROGATE_KINDS
from neurodeploy.surrogates.base import Surrogate, is_training

BACKENDS = ("auto", "cpp", "torch", "reference")
ENV_VAR = "NEURODEPLOY_KERNEL"
_forced: str | None = None


def _check_backend(name: str, where: str) -> str:
    if name not in BACKENDS:
        raise ConfigError(f"{where}: unknown neuron kernel backend {name!r}; "
                          f"expected one of {', '.join(BACKENDS)}")
    return name


def get_backend() -> str:
    """The requested backend: :func:`set_backend`'s value, else ``$NEURODEPLOY_KERNEL``, else auto."""
    if _forced is not None:
        return _forced
    return _check_backend(os.environ.get(ENV_VAR, "auto").strip().lower() or "auto",
                          f"environment variable {ENV_VAR}")


def set_backend(name: str | None) -> None:
    """Force a backend for this process (``None``: back to the environment variable / auto)."""
    global _forced
    _forced = None if name is None else _check_backend(name, "set_backend")


@contextlib.contextmanager
def use_backend(name: str):
    """Context manager forcing a backend, e.g. ``with use_backend("reference"): ...``."""
    global _forced
    previous = _forced
    set_backend(name)
    try:
        yield
    finally:
        _forced = previous


def reference_sequence(x: torch.Tensor, c: Coefficients, surrogate: Surrogate, reset: str = "zero",
                       state: NeuronState | None = None, w_rec: torch.Tensor | None = None,
                       ) -> tuple[torch.Tensor, NeuronState]:
    """The reference: a Python loop of ``neuron_step`` over T, recorded by autograd."""
    if state is None:
        state = zero_state(x[0])
    z_prev = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        xt = x[t]
        if w_rec is not None:
            xt = xt + z_prev @ w_rec.t()
        z_prev, state = neuron_step(xt, state, c, surrogate, reset)
        out.append(z_prev)
    return torch.stack(out), state


def run_sequence(x: torch.Tensor, c: Coefficients, surrogate: Surrogate, reset: str = "zero",
                 state: NeuronState | None = None, w_rec: torch.Tensor | None = None,
                 ) -> tuple[torch.Tensor, NeuronState]:
    """Run T steps. ``x``: (T, B, …) input currents. ``w_rec``: (N, N) recurrent weights (out, in),
    applied to the previous step's spikes and added to the input. Returns spikes (T, B, …) and the
    final state."""
    backend = get_backend()
    # A training forward that is not the Heaviside step (ASGL's noisy spikes): only the C++
    # scan computes it, without coefficient gradients; everything else runs the loop.
    noisy = _noisy_form(surrogate)
    if backend == "reference" or noisy is False or (noisy is not None and w_rec is not None):
        return reference_sequence(x, c, surrogate, reset, state, w_rec)
    prepared = _prepare(x, c, state)
    if w_rec is not None:  # one Function with a hand-written backward, PyTorch ops per step
        from neurodeploy.neurons.recurrent import recurrent_sequence
        out = None if prepared is None else recurrent_sequence(x, *prepared, w_rec, surrogate, reset)
        return out if out is not None else reference_sequence(x, c, surrogate, reset, state, w_rec)
    if prepared is None:
        return reference_sequence(x, c, surrogate, reset, state, w_rec)
    coefs, v0, i0 = prepared
    impl = _choose_impl(x, backend)
    coef_grad = any(k is not None and k.requires_grad for k in coefs)
    alpha = None
    if noisy is not None:
        if not isinstance(impl, _CppImpl) or coef_grad:
            return reference_sequence(x, c, surrogate, reset, state, w_rec)
        alpha = noisy[1]
    subtract = reset != "zero"
    has_i = coefs[3] is not None
    needs_grad = noisy is not None or torch.is_grad_enabled() and (
        x.requires_grad or v0.requires_grad or (has_i and i0.requires_grad) or coef_grad)
    if needs_grad:
        z, v_t, i_t = _Scan.apply(x, v0, i0 if has_i else None, *coefs, alpha, surrogate, subtract,
                                  impl, noisy)
    else:
        z, v_t, i_t = _forward_only(x, v0, i0 if has_i else None, coefs, subtract, impl)
    return z, NeuronState(v_t, i_t if has_i else i0)


@torch.no_grad()
def trace_pre_reset(x: torch.Tensor, c: Coefficients, reset: str = "zero"
                    ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Spikes (T, B, …) and the pre-reset membrane ``v'`` flattened to (T, M), M = B·N, from
    zero state in one forward pass of the fast scan, without autograd (used by activity
    counting). ``None`` where the fast scan does not apply; then run the module instead."""
    if get_backend() == "reference":
        return None
    prepared = _prepare(x, c, None)
    if prepared is None:
        return None
    coefs, v0, i0 = prepared
    t, shape, m = x.shape[0], x.shape[1:], x[0].numel()
    flat = [_flat(k, shape, m) for k in coefs]
    impl = _choose_impl(x, get_backend())
    z, vpre, _ = impl.forward(x.reshape(t, m).contiguous(), v0.reshape(m).clone(),
                              i0.reshape(m).clone() if coefs[3] is not None else None, *flat,
                              reset != "zero", save=True, save_i=False)
    return z.view(x.shape), vpre


# ----------------------------------------------------------------------------------------------
# dispatch helpers

# SURROGATE_KINDS: the formulas the C++ backward evaluates inline (``Surrogate.kernel_form``),
# numbered by the table in ``surrogate_kinds`` that also generates the C++ ``Kind`` enum.
# 0: the derivative tensor is computed eagerly.
# ASGL's noisy forwards the C++ forward scan computes, numbered by the same table (``Noisy`` enum).
_NOISY_FORMS = NOISY_KINDS


def inline_surrogate(surrogate: Surrogate) -> tuple[int, tuple[float, float, float, float]] | None:
    """(kind, four values) for the C++ backward, or None (evaluate ``derivative`` eagerly).

    Only where the class that declares ``kernel_form`` also declares the ``derivative`` in use
    (a subclass overriding ``derivative`` alone gets the eager path)."""
    owner = next((k for k in type(surrogate).__mro__ if "kernel_form" in vars(k)), None)
    if owner is None or owner is Surrogate or type(surrogate).derivative is not owner.derivative:
        return None
    form = surrogate.kernel_form()
    if form is None or form[0] not in SURROGATE_KINDS:
        return None
    values = tuple(form[1]) + (0.0,) * (4 - len(form[1]))
    return SURROGATE_KINDS[form[0]], values


def _noisy_form(surrogate):
    """How the training forward runs now: None (Heaviside: every backend), ``(form, α, p)``
    (a noisy forward the C++ scan computes), or ``False`` (only the reference loop can:
    ``fused = False`` without a form the scan knows)."""
    if getattr(surrogate, "fused", True) or not is_training(surrogate):
        return None
    noisy = surrogate.noisy_form()
    if noisy is None or noisy[0] not in _NOISY_FORMS:
        return False
    return _NOISY_FORMS[noisy[0]], noisy[1], noisy[2]


def _prepare(x, c: Coefficients, state):
    """Coefficients as tensors and the initial state, or ``None`` if the fast path doesn't apply."""
    if x.dim() < 2 or x.shape[0] == 0 or not x.is_floating_point():
        return None
    shape = x.shape[1:]
    coefs = []
    for k in c:
        if k is None:
            coefs.append(None)
            continue
        if not isinstance(k, torch.Tensor):
            k = torch.as_tensor(float(k), dtype=x.dtype, device=x.device)
        if k.dim() == 0 and (k.dtype != x.dtype or k.device != x.device) \
                and k.is_floating_point() and not k.requires_grad:
            k = k.to(device=x.device, dtype=x.dtype)  # a scalar operand computes in x's dtype
        if k.dtype != x.dtype or k.device != x.device:
            return None
        if k.dim() and not broadcasts_to(k.shape, shape):
            return None
        coefs.append(k)
    if (coefs[3] is None) != (coefs[4] is None):
        return None
    if state is None:
        v0 = torch.zeros(shape, dtype=x.dtype, device=x.device)
        i0 = torch.zeros(shape, dtype=x.dtype, device=x.device)
    else:
        v0, i0 = state.v, state.i
        for s in (v0, i0):
            if s.shape != shape or s.dtype != x.dtype or s.device != x.device:
                return None
    return coefs, v0, i0


def broadcasts_to(small: torch.Size, shape: torch.Size) -> bool:
    """Does a tensor of ``small`` shape broadcast to exactly ``shape``? (torch.broadcast_shapes
    is a slow Python reference implementation; this runs per layer call on the hot path.)"""
    if len(small) > len(shape):
        return False
    return all(a in (1, b) for a, b in zip(reversed(small), reversed(shape)))


def _choose_impl(x, backend):
    if backend in ("auto", "cpp") and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        module = _scan_cpp.load()
        if module is not None:
            return _CppImpl(module)
    return _TORCH_IMPL


# 0-dim coefficients that need no gradient (a LIF's decay, gain, threshold, ...) expanded to (M,)
# once and shared between calls: expanding each of a scan's seven coefficients on every call
# cost ~10 µs apiece (~70 µs per layer call, measured at any batch size). Keyed by the value
# (with the sign of a zero), dtype and M; at most _SCALAR_FLATS_MAX arrays of ≤ 1 MiB each.
# Nothing writes to them: the scans (C++ and PyTorch) only read their coefficients.
_SCALAR_FLATS: dict = {}
_SCALAR_FLATS_MAX = 16


def _flat(k, shape, m):
    """Coefficient ``k`` expanded to one time step's ``shape`` and flattened to (M,) (read only:
    a 0-dim coefficient's array may be shared with other calls)."""
    if k is None:
        return None
    if k.dim() == 0 and not k.requires_grad and k.device.type == "cpu" \
            and m * k.element_size() <= (1 << 20):
        value = k.item()
        if value == value:  # NaN never equals a key
            key = (value, math.copysign(1.0, value), k.dtype, m)
            shared = _SCALAR_FLATS.get(key)
            if shared is None:
                if len(_SCALAR_FLATS) >= _SCALAR_FLATS_MAX:
                    _SCALAR_FLATS.clear()
                shared = _SCALAR_FLATS[key] = k.detach().expand(m).contiguous()
            return shared
    return k.detach().expand(shape).reshape(m).contiguous()


def _forward_only(x, v0, i0, coefs, subtract, impl):
    t, shape = x.shape[0], x.shape[1:]
    m = math.prod(shape)
    flat = [_flat(k, shape, m) for k in coefs]
    v = v0.detach().reshape(m).clone()
    cur = i0.detach().reshape(m).clone() if i0 is not None else None
    z, _, _ = impl.forward(x.detach().reshape(t, m).contiguous(), v, cur, *flat, subtract,
                           save=False, save_i=False)
    return z.view(x.shape), v.view(shape), (cur.view(shape) if cur is not None else None)


def backward_surrogate(impl, surrogate, vpre, vth, coef_grad=False):
    """How a backward scan gets the surrogate derivative: ``(inline, None)`` where ``impl``
    evaluates the formula itself (``inline``: its (kind, values)), else ``(None, sg)`` with the
    eager derivative ``sg`` shaped like ``vpre`` (``vth`` broadcasts to it)."""
    inline = impl.inline(surrogate, coef_grad)
    if inline is not None:
        return inline, None
    with torch.no_grad():
        return None, surrogate.derivative(vpre - vth).to(vpre.dtype).contiguous()


def count_active(surrogate, inline, active, total):
    """Add the non-zero derivative count of a backward that evaluated the surrogate inline to
    its live density (what ``Surrogate._track`` counts on the eager path)."""
    live = surrogate.live
    if inline is not None and surrogate.compact and (live.track or live.track_diag):
        live.active += float(active)
        live.total += total


class _Scan(torch.autograd.Function):
    """Spikes and final state of the whole sequence; nothing recorded per step.

    ``noisy``: ``(form, α, p)`` for ASGL's analog training spikes (C++ only; ``alpha`` is α,
    which receives a gradient), else None."""

    @staticmethod
    def forward(ctx, x, v0, i0, dv, lv, gv, di, gi, vth, vr, alpha, surrogate, subtract, impl,
                noisy):
        t, shape = x.shape[0], x.shape[1:]
        m = math.prod(shape)
        coefs = (dv, lv, gv, di, gi, vth, vr)
        flat = [_flat(k, shape, m) for k in coefs]
        coef_grad = any(ctx.needs_input_grad[3:10])
        has_i = di is not None
        x2 = x.detach().reshape(t, m).contiguous()
        v = v0.detach().reshape(m).clone()
        cur = i0.detach().reshape(m).clone() if has_i else None
        z, vpre, iseq = impl.forward(x2, v, cur, *flat, subtract, save=True, save_i=coef_grad,
                                     noisy=noisy)
        keep = (x2, v0.detach().reshape(m), i0.detach().reshape(m) if has_i else None) \
            if coef_grad else (None, None, None)
        ctx.save_for_backward(vpre, iseq if coef_grad and has_i else None,
                              z if noisy is not None else None, *keep, *flat)
        ctx.meta = (surrogate, subtract, impl, coef_grad, x.shape, [
            None if k is None else (k.shape, k.requires_grad) for k in coefs])
        i_t = cur.view(shape) if has_i else x.new_empty(0)
        if not has_i:
            ctx.mark_non_differentiable(i_t)
        ctx.set_materialize_grads(False)  # unused outputs (the final state): None, not zeros
        return z.view(x.shape), v.view(shape), i_t

    @staticmethod
    @once_differentiable
    def backward(ctx, g_z, g_v, g_i):
        surrogate, subtract, impl, coef_grad, x_shape, coef_info = ctx.meta
        vpre, iseq, zs, x2, v0, i0, *flat = ctx.saved_tensors
        t, m = vpre.shape
        has_i = flat[3] is not None
        inline, sg = backward_surrogate(impl, surrogate, vpre, flat[5], coef_grad)
        gz = g_z.reshape(t, m).contiguous() if g_z is not None else vpre.new_zeros(t, m)
        gv = g_v.reshape(m).clone() if g_v is not None else vpre.new_zeros(m)
        gi = (g_i.reshape(m).clone() if g_i is not None else vpre.new_zeros(m)) if has_i else None
        out, g_alpha, active = impl.backward(gz, sg, vpre, zs, iseq, x2, v0, i0, gv, gi, *flat,
                                             subtract, coef_grad, inline)
        count_active(surrogate, inline, active, t * m)
        shape = x_shape[1:]
        grads = [out[0].view(x_shape), gv.view(shape), gi.view(shape) if has_i else None]
        for n, info in enumerate(coef_info):
            if info is None or not info[1] or not coef_grad:
                grads.append(None)
            else:
                grads.append(out[1 + n].view(shape).sum_to_size(info[0]))
        return (*grads, g_alpha, None, None, None, None)


class _BufferPool:
    """Reuses the C++ scans' large output buffers (spikes, saved membrane, input gradient) once
    nothing else holds them.

    A training step allocates the same (T, M) outputs at every call. glibc serves allocations
    of several MB with fresh pages (mmap, or heap memory it has trimmed back), and the first
    touch of each 4 KiB page faults: ~2 ms for a (100, 64·256) float32 tensor, more than the
    scan itself (measured ~4900 faults per step on the reference MLP workload, 80 for the
    matmul floor). Buffers are handed out as views; one is free again when its storage's use
    count is back to the value it had right after allocation (only the pool's tensor holds it).
    At most ``max_bytes`` are kept, least recently used dropped first; :func:`release_buffers`
    empties the pool. Buffers under ``min_bytes`` come from the allocator as usual. Off (plain
    allocations) where ``torch._C._storage_Use_Count`` does not exist.
    """

    def __init__(self, max_bytes: int = 512 << 20, min_bytes: int = 1 << 20):
        self.max_bytes, self.min_bytes = max_bytes, min_bytes
        self.entries: list[tuple[torch.Tensor, int]] = []  # (buffer, use count when free)
        self.lock = threading.Lock()
        self.enabled = hasattr(torch._C, "_storage_Use_Count")

    @staticmethod
    def _uses(t: torch.Tensor) -> int:
        return torch._C._storage_Use_Count(t.untyped_storage()._cdata)

    def take(self, like: torch.Tensor) -> torch.Tensor | None:
        """A free contiguous CPU buffer shaped like ``like`` (a new view), or None (too small,
        pool off): the caller then allocates as usual."""
        nbytes = like.numel() * like.element_size()
        if not self.enabled or nbytes < self.min_bytes or like.device.type != "cpu":
            return None
        with self.lock:
            for n, (buf, free_uses) in enumerate(self.entries):
                if buf.shape == like.shape and buf.dtype == like.dtype and self._uses(buf) == free_uses:
                    self.entries.append(self.entries.pop(n))  # most recently used last
                    return buf.view(buf.shape)
            buf = torch.empty(like.shape, dtype=like.dtype)
            self.entries.append((buf, self._uses(buf)))
            total = sum(b.numel() * b.element_size() for b, _ in self.entries)
            while total > self.max_bytes and len(self.entries) > 1:
                old, _ = self.entries.pop(0)
                total -= old.numel() * old.element_size()
            return buf.view(buf.shape)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


_POOL = _BufferPool()


def release_buffers() -> None:
    """Drop the scans' reusable output buffers (memory returns to the allocator)."""
    _POOL.clear()


class _CppImpl:
    """Adapter: the compiled scans of :mod:`neurodeploy.neurons._scan_cpp`."""

    def __init__(self, module):
        self.m = module

    @staticmethod
    def inline(surrogate, coef_grad):
        """(kind, values) if the C++ backward evaluates this surrogate itself, else None. The
        values are read at every backward, so schedules need no recompilation. With
        coefficient gradients only fast_sigmoid is inline (fewer compiled variants)."""
        form = inline_surrogate(surrogate)
        if form is None or (coef_grad and form[0] != SURROGATE_KINDS["fast_sigmoid"]):
            return None
        return form

    def forward(self, x, v, cur, dv, lv, gv, di, gi, vth, vr, subtract, save, save_i, noisy=None,
                write_z=True):
        """``write_z=False`` (Heaviside, ``save`` and not ``save_i``): z comes back ``None``,
        the spikes are read from v' by ``spike_csr``."""
        e = x.new_empty(0)
        if noisy is None:
            mode, alpha, seed, p = 0, 1.0, 0, 0.0
        else:  # a fresh mask per call, reproducible under torch.manual_seed
            mode, alpha, p = noisy[0], float(noisy[1]), noisy[2]
            seed = int(torch.randint(-2**62, 2**62, (), dtype=torch.int64))
        z_out = _POOL.take(x) if write_z else None
        vpre_out = _POOL.take(x) if save else None
        z, vpre, iseq = self.m.scan_forward(x, v, e if cur is None else cur, dv, lv, gv,
                                            e if di is None else di, e if gi is None else gi,
                                            vth, vr, subtract, save, save_i, mode, alpha, seed, p,
                                            e if z_out is None else z_out,
                                            e if vpre_out is None else vpre_out, write_z)
        return (z if write_z else None), (vpre if save else None), (iseq if iseq.numel() else None)

    def backward(self, gz, sg, vpre, zs, iseq, x, v0, i0, gv, gi, dv, lv, gvc, di, gic, vth, vr,
                 subtract, coef_grad, inline=None, gx_out=None):
        """``gx_out``: where to write ∂L/∂x (T, M), ``gz`` itself allowed when the caller owns
        it (the scan reads each ∂L/∂z element once, before it writes that element of ∂L/∂x);
        default a pooled buffer."""
        e = vpre.new_empty(0)
        o = lambda a: e if a is None else a  # noqa: E731
        kind, (p0, p1, p2, p3) = inline if inline is not None else (0, (0.0, 0.0, 0.0, 0.0))
        out = self.m.scan_backward(gz, o(sg), vpre, o(zs), o(iseq), o(x), o(v0), o(i0), gv,
                                   o(gi), dv, gvc, o(di), o(gic), vth, vr, subtract, coef_grad,
                                   kind, p0, p1, p2, p3,
                                   o(_POOL.take(vpre) if gx_out is None else gx_out))
        g_alpha = out[8] if zs is not None else None
        return (out[:8] if coef_grad else [out[0]] + [None] * 7), g_alpha, out[9]


class _TorchImpl:
    """The same scans as PyTorch ops per step (any device and dtype; no compiler)."""

    @staticmethod
    def inline(surrogate, coef_grad):
        return None

    @staticmethod
    def forward(x, v, cur, dv, lv, gv, di, gi, vth, vr, subtract, save, save_i, noisy=None):
        assert noisy is None, "noisy (ASGL) spikes run in the C++ scan or the reference loop"
        t_len = x.shape[0]
        z = torch.empty_like(x)
        vpre = torch.empty_like(x) if save else None
        iseq = torch.empty_like(x) if (save_i and cur is not None) else None
        for t in range(t_len):
            if cur is not None:
                cur.copy_(di * cur + gi * x[t])
                c = cur
                if iseq is not None:
                    iseq[t] = c
            else:
                c = x[t]
            vp = dv * v + lv + gv * c
            zz = (vp - vth > 0).to(x.dtype)
            if save:
                vpre[t] = vp
            z[t] = zz
            v.copy_(vp - zz * vth if subtract else vp - zz * (vp - vr))
        return z, vpre, iseq

    @staticmethod
    def backward(gz, sg, vpre, zs, iseq, x, v0, i0, gv, gi, dv, lv, gvc, di, gic, vth, vr,
                 subtract, coef_grad, inline=None):
        t_len = vpre.shape[0]
        has_i = di is not None
        gx = torch.empty_like(vpre)
        cg = [torch.zeros_like(gv) for _ in range(7)] if coef_grad else [None] * 7

        def post(q):
            zq = (q - vth > 0).to(q.dtype)
            return q - zq * vth if subtract else q - zq * (q - vr)

        for t in range(t_len - 1, -1, -1):
            vp, s = vpre[t], sg[t]
            zz = (vp - vth > 0).to(vp.dtype)
            gzt = gz[t] - gv * (vth if subtract else vp - vr)
            gvp = (gv if subtract else gv * (1 - zz)) + gzt * s
            gcur = gvp * gvc + (gi if has_i else 0)
            if coef_grad:
                vprev = post(vpre[t - 1]) if t > 0 else v0
                c = iseq[t] if has_i else x[t]
                cg[0] += gvp * vprev
                cg[1] += gvp
                cg[2] += gvp * c
                cg[5] -= gzt * s + (gv * zz if subtract else 0)
                if not subtract:
                    cg[6] += gv * zz
                if has_i:
                    cg[3] += gcur * (iseq[t - 1] if t > 0 else i0)
                    cg[4] += gcur * x[t]
            if has_i:
                gx[t] = gcur * gic
                gi.copy_(gcur * di)
            else:
                gx[t] = gcur
            gv.copy_(gvp * dv)
        return [gx, *cg], None, None  # (the eager derivative counts density for itself)


_TORCH_IMPL = _TorchImpl()
