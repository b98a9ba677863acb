"""Multi-step execution of a recurrent neuron layer: T steps as one autograd Function.

Each step adds the previous step's spikes through the recurrent weight ``W_rec`` (N, N)
(out, in) to the input current and then applies the shared neuron form of
:mod:`neurodeploy.neurons.functional`::

    u[t] = x[t] + z[t-1] · W_recᵀ                      (z[-1] = 0)
    i[t] = decay_i · i[t-1] + gain_i · u[t]            (CubaLIF only; otherwise i[t] = u[t])
    v'   = decay_v · v[t-1] + leak_v + gain_v · i[t]
    z[t] = H(v' − v_th)
    v[t] = v' − z·(v' − v_reset)   (reset="zero")   or   v' − z·v_th   (reset="subtract")

Layout: ``x`` (T, B, …, N) input currents (the output of the preceding Linear/Conv), the
recurrence acts on the last axis; internally (T, R, N) with R = B·….

Forward records nothing per step. In the PyTorch implementation (below) the recurrent product
is ``torch.mm`` into a preallocated buffer followed by the addition, in the reference loop's order
(``torch.addmm`` would round differently), so spikes and the final state are bitwise those of
:func:`~neurodeploy.neurons.kernels.reference_sequence`. Saved for backward: the pre-reset
membrane ``v'`` (T, B, …, N); spikes and post-reset membrane are recomputed from it. With a
coefficient that requires grad, also ``u`` and (CubaLIF) ``i``.

Backward is a reverse scan (BPTT through the membrane and the recurrent spikes)::

    ∂L/∂z[t]  = g_z[t] + ∂L/∂u[t+1] · W_rec                   (one ``addmm`` per step)
    ∂L/∂v'[t] = ∂L/∂v[t] · K[t] + ∂L/∂z[t] · σ'[t]
    K[t]      = 1 − z[t] − (v'[t] − v_reset) · σ'[t]   (zero)   or   1 − v_th · σ'[t]   (subtract)

with σ'[t] = ``surrogate.derivative(v'[t] − v_th)`` evaluated once on the whole saved membrane
(any fused surrogate; its live hyper-parameters are read at each backward, nothing is compiled)
and K precomputed for all steps. ``∂L/∂W_rec = Σ_t (∂L/∂u[t])ᵀ z[t-1]`` is one matmul over all
steps at the end, and so are the gradients of the coefficient tensors that require grad
(learnable τ, threshold, reset; sums over T of elementwise products, reduced to each
coefficient's shape). Gradients reach ``x``, the initial state, ``W_rec`` and the coefficients.
The backward is not itself differentiable (no double backward; use the reference backend).

Two implementations of that Function:

C++ (``_RecurrentScanCpp``, functions ``rec_forward`` / ``rec_backward`` / ``rec_wgrad`` of
``scan.cpp`` via :mod:`~neurodeploy.neurons._scan_cpp`): backends ``auto`` and ``cpp`` on CPU
float32/float64 when no coefficient requires grad (the usual case: fixed τ and threshold; a
learnable τ/threshold/reset keeps the PyTorch implementation below, which computes their
gradients). The rows R = B·… are independent (the recurrence acts within a row), so each thread
takes whole rows through all T steps, without synchronisation per step. Forward, per row and
step: the recurrent input is the sum of the rows of ``W_recᵀ`` of the neurons active at t − 1
(a gather-sum: binary spikes make every product exact, only the summation order differs from the
dense product), the neuron step is the scan's (same operations), and the step's active indices
are compacted from the row just written (it is still in L1) into a per-row list; with autograd
these lists become a CSR (offsets (R·T + 1), int32 indices), saved with ``v'``. Cost: O(active ·
N) per step instead of O(N²), e.g. ~4 % active on the bench's 256-neuron layer. Backward, reverse
over T: ``∂L/∂z[t] = g_z[t] + ∂L/∂u[t+1] · W_rec`` is dense (∂L/∂u is non-zero wherever the
surrogate is), one BLAS ``addmm`` per step; by default each thread runs its block of rows
(one single-threaded addmm per step, no barrier; ``BACKWARD_SPLIT_ROWS = False``: one
multi-threaded addmm over all rows per step, then the step's neurons in parallel), then the
scan's backward step (same code, every inline surrogate kind; others evaluated eagerly once).
``∂L/∂W_rec = Σ_t (∂L/∂u[t])ᵀ z[t-1]`` is built from the active lists only: for each active
(row, step t − 1, neuron k), row k of ``∂L/∂W_recᵀ`` gains ``∂L/∂u[t]`` of that row (per-thread
buffers, added in thread order). Forward spikes equal the reference's wherever no membrane lies
within rounding of the threshold; state and gradients agree to fp32 rounding
(``tests/test_recurrent_kernel.py``).

PyTorch (``_RecurrentScan``, the equations above as PyTorch ops per step: dense per-step
products): CUDA tensors, other dtypes, backend ``torch``, the C++ build missing, or coefficients
that require grad. Forward spikes and state are bitwise the reference loop's.

:func:`recurrent_sequence` returns ``None`` where neither applies (``W_rec`` not (N, N) for the
last axis, other dtype/device, input without a batch axis);
:func:`~neurodeploy.neurons.kernels.run_sequence` then runs the reference loop.
"""

from __future__ import annotations

import math

import torch
from torch.autograd.function import once_differentiable

from neurodeploy.neurons import _scan_cpp
from neurodeploy.neurons.functional import NeuronState
from neurodeploy.surrogates.base import Surrogate


def recurrent_sequence(x: torch.Tensor, coefs: list, v0: torch.Tensor, i0: torch.Tensor,
                       w_rec: torch.Tensor, surrogate: Surrogate, reset: str,
                       ) -> tuple[torch.Tensor, NeuronState] | None:
    """Spikes (T, B, …, N) and the final state, or ``None`` if the fast path does not apply.

    ``coefs``: the seven coefficient tensors in :class:`~neurodeploy.neurons.functional.Coefficients`
    order (``decay_i``/``gain_i`` ``None`` without a synaptic current), already in ``x``'s dtype
    and device and broadcastable to one step's shape (as prepared by ``kernels._prepare``);
    ``v0``, ``i0``: initial state (B, …, N)."""
    if (x.dim() < 3 or not isinstance(w_rec, torch.Tensor) or w_rec.dim() != 2
            or w_rec.shape[0] != x.shape[-1] or w_rec.shape[1] != x.shape[-1]
            or w_rec.dtype != x.dtype or w_rec.device != x.device):
        return None
    has_i = coefs[3] is not None
    subtract = reset != "zero"
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or v0.requires_grad or w_rec.requires_grad
        or (has_i and i0.requires_grad) or any(k is not None and k.requires_grad for k in coefs))
    module = _cpp_module(x, coefs)
    if module is not None:
        args = (x, v0, i0 if has_i else None, w_rec, *coefs, surrogate, subtract, module)
        if needs_grad:
            z, v_t, i_t = _RecurrentScanCpp.apply(*args)
        else:
            with torch.no_grad():
                z, v_t, i_t = _RecurrentScanCpp.forward(None, *args)
        i_t = i_t if has_i else None
    elif needs_grad:
        z, v_t, i_t = _RecurrentScan.apply(x, v0, i0 if has_i else None, w_rec, *coefs,
                                           surrogate, subtract)
    else:
        with torch.no_grad():
            rows = _rows(x.shape[1:])
            cur = i0.reshape(rows).clone() if has_i else None
            z, v_t, i_t, *_ = _forward(x.reshape(x.shape[0], *rows), v0.reshape(rows).clone(), cur,
                                       w_rec, [_as_rows(k, x.shape[1:]) for k in coefs],
                                       subtract, keep=False, keep_u=False)
        z, v_t = z.view(x.shape), v_t.view(x.shape[1:])
        i_t = i_t.view(x.shape[1:]) if has_i else None
    return z, NeuronState(v_t, i_t if has_i else i0)


def _rows(shape: torch.Size) -> tuple[int, int]:
    """One step's shape (B, …, N) as (R, N)."""
    return math.prod(shape[:-1]), shape[-1]


def _as_rows(k, shape):
    """Coefficient ``k`` (broadcastable to ``shape``) as something broadcastable to (R, N)."""
    if k is None:
        return None
    k = k.detach()
    if k.dim() <= 1:
        return k
    return k.expand(shape).reshape(_rows(shape))


def _forward(x, v, cur, w, coefs, subtract, keep, keep_u):
    """Scan over T. ``x`` (T, R, N); ``v``, ``cur`` (R, N) updated in place. Returns spikes,
    ``v``, ``cur``, the pre-reset membrane (if ``keep``), and ``u`` and ``i`` per step (if
    ``keep_u``). The operations and their order are those of ``functional.neuron_step``."""
    dv, lv, gv, di, gi, vth, vr = coefs
    t_len = x.shape[0]
    z = torch.empty_like(x)
    vpre = torch.empty_like(x) if keep else None
    useq = torch.empty_like(x) if keep_u else None
    iseq = torch.empty_like(x) if keep_u and cur is not None else None
    # zb holds the last spikes in a fresh (aligned) buffer: BLAS results depend on the operand's
    # alignment, and the reference multiplies a freshly allocated spike tensor, not a slice
    a, b, rec, vbuf, zb = (torch.empty_like(v) for _ in range(5))
    wt = w.detach().t()
    for t in range(t_len):
        if t == 0:
            u = x[0]  # z[-1] = 0: the reference adds an exact zero
        else:
            u = useq[t] if keep_u else b
            torch.mm(zb, wt, out=rec)
            torch.add(x[t], rec, out=u)
        if keep_u and t == 0:
            useq[0] = u
        if cur is not None:
            torch.mul(di, cur, out=a)
            torch.mul(gi, u, out=rec)
            torch.add(a, rec, out=cur)
            if iseq is not None:
                iseq[t] = cur
            c = cur
        else:
            c = u
        vp = vpre[t] if keep else vbuf
        torch.mul(dv, v, out=vp)
        vp.add_(lv)
        torch.mul(gv, c, out=a)
        vp.add_(a)
        torch.sub(vp, vth, out=a)
        torch.gt(a, 0, out=zb)
        z[t] = zb
        if subtract:
            torch.mul(zb, vth, out=a)
        else:
            torch.sub(vp, vr, out=a)
            a.mul_(zb)
        torch.sub(vp, a, out=v)
    return z, v, cur, vpre, useq, iseq


class _RecurrentScan(torch.autograd.Function):
    """Spikes and final state of a recurrent layer over the whole sequence."""

    @staticmethod
    def forward(ctx, x, v0, i0, w, dv, lv, gv, di, gi, vth, vr, surrogate, subtract):
        shape = x.shape[1:]
        rows = _rows(shape)
        coefs = (dv, lv, gv, di, gi, vth, vr)
        flat = [_as_rows(k, shape) for k in coefs]
        coef_grad = any(ctx.needs_input_grad[4:11])
        has_i = di is not None
        x3 = x.detach().reshape(x.shape[0], *rows)
        v = v0.detach().reshape(rows).clone()
        cur = i0.detach().reshape(rows).clone() if has_i else None
        z, v, cur, vpre, useq, iseq = _forward(x3, v, cur, w, flat, subtract, keep=True,
                                               keep_u=coef_grad)
        keep = (useq, iseq, v0.detach().reshape(rows), i0.detach().reshape(rows) if has_i else None) \
            if coef_grad else (None,) * 4
        ctx.save_for_backward(vpre, w.detach(), *keep, *flat)
        ctx.meta = (surrogate, subtract, coef_grad, x.shape,
                    [None if k is None else (k.shape, k.requires_grad) for k in coefs])
        i_t = cur.view(shape) if has_i else x.new_empty(0)
        if not has_i:
            ctx.mark_non_differentiable(i_t)
        return z.view(x.shape), v.view(shape), i_t

    @staticmethod
    @once_differentiable
    def backward(ctx, g_z, g_v, g_i):
        surrogate, subtract, coef_grad, x_shape, coef_info = ctx.meta
        vpre, w, useq, iseq, v0, i0, *flat = ctx.saved_tensors
        dv, lv, gvc, di, gic, vth, vr = flat
        t_len, shape = x_shape[0], x_shape[1:]
        has_i = di is not None
        with torch.no_grad():
            s = surrogate.derivative(vpre - vth).to(vpre.dtype)
            z = (vpre - vth > 0).to(vpre.dtype)
            # K[t] = ∂v[t]/∂v'[t] with the spike's surrogate path; DK = decay_v·K carries ∂L/∂v'
            # from step t+1 to step t
            k = (1 - vth * s) if subtract else (1 - z) - (vpre - vr) * s
            gz = g_z.reshape(vpre.shape)
            gvin_last = g_v.reshape(vpre.shape[1:])
            # ∂L/∂v'[t] and ∂L/∂i[t]: all steps kept only for the coefficient gradients,
            # otherwise two alternating buffers
            full = vpre.shape if coef_grad else (2, *vpre.shape[1:])
            gvp = vpre.new_empty(full)
            gcur = vpre.new_empty(full) if has_i else None
            gu = torch.empty_like(vpre)        # ∂L/∂u[t] (= ∂L/∂x[t])
            dz = torch.empty_like(gvin_last)
            last = t_len - 1
            j = (lambda t: t) if coef_grad else (lambda t: t & 1)  # noqa: E731
            torch.mul(gz[last], s[last], out=gvp[j(last)])
            gvp[j(last)].addcmul_(gvin_last, k[last])
            dk = k.mul_(dv)
            for t in range(last, -1, -1):
                now = j(t)
                if t < last:
                    torch.addmm(gz[t], gu[t + 1], w, out=dz)
                    torch.mul(dz, s[t], out=gvp[now])
                    gvp[now].addcmul_(gvp[j(t + 1)], dk[t])
                if has_i:
                    torch.mul(gvp[now], gvc, out=gcur[now])
                    if t < last:
                        gcur[now].addcmul_(gcur[j(t + 1)], di)
                    else:
                        gcur[now].add_(g_i.reshape(gcur[now].shape))
                    torch.mul(gcur[now], gic, out=gu[t])
                else:
                    torch.mul(gvp[now], gvc, out=gu[t])
            del dk, k, s
            n = vpre.shape[-1]
            g_w = gu[1:].reshape(-1, n).t() @ z[:-1].reshape(-1, n) if t_len > 1 \
                else torch.zeros_like(w)
            g_v0 = (gvp[0] * dv).view(shape)
            g_i0 = (gcur[0] * di).view(shape) if has_i else None
            cg = _coef_grads(gvp, gcur, z, vpre, useq, iseq, v0, i0, gvin_last, flat, subtract) \
                if coef_grad else [None] * 7
        grads = [gu.view(x_shape), g_v0, g_i0, g_w]
        for info, g in zip(coef_info, cg):
            if info is None or not info[1] or g is None:
                grads.append(None)
            else:
                grads.append(g.reshape(shape).sum_to_size(info[0]))
        return (*grads, None, None)


def _coef_grads(gvp, gcur, z, vpre, useq, iseq, v0, i0, gvin_last, flat, subtract):
    """Gradients of the seven coefficients, each (R, N) summed over T (vectorized, after the
    scan; the caller reduces them to each coefficient's shape)."""
    dv, lv, gvc, di, gic, vth, vr = flat
    has_i = di is not None
    gvin = torch.cat([gvp[1:] * dv, gvin_last[None]])  # ∂L/∂v[t] (post-reset)
    reset_term = z * vth if subtract else (vpre - vr) * z
    vprev = torch.cat([v0[None], (vpre - reset_term)[:-1]])
    c = iseq if has_i else useq
    # ∂L/∂z·σ' (the threshold's path through the spike) = ∂L/∂v' − ∂L/∂v·∂v/∂v' (direct part)
    through_spike = gvp - (gvin if subtract else gvin * (1 - z))
    g_vth = -(through_spike + gvin * z) if subtract else -through_spike
    out = [gvp * vprev, gvp, gvp * c, None, None, g_vth, None if subtract else gvin * z]
    if has_i:
        out[3] = gcur * torch.cat([i0[None], iseq[:-1]])
        out[4] = gcur * useq
    return [None if g is None else g.sum(0) for g in out]


# ---- C++ path: recurrent product from the active neurons only (scan.cpp, "recurrent layer") ----


# The C++ backward's threading: True (default), each thread takes a block of rows through all T
# steps (one single-threaded addmm per step and block, no barrier between threads per step);
# False, per step one multi-threaded addmm over all rows and the neurons in parallel (two barriers
# per step). Same arithmetic; read at forward; a switch for the benchmark (bench/train_step.py).
BACKWARD_SPLIT_ROWS = True


def _cpp_module(x, coefs):
    """The compiled extension if the C++ recurrent scan applies (CPU float32/float64, backend
    ``auto``/``cpp``, no coefficient that requires grad), else ``None``."""
    from neurodeploy.neurons.kernels import get_backend

    if (get_backend() not in ("auto", "cpp") or x.device.type != "cpu"
            or x.dtype not in (torch.float32, torch.float64)
            or any(k is not None and k.requires_grad for k in coefs)):
        return None
    return _scan_cpp.load()


class _RecurrentScanCpp(torch.autograd.Function):
    """The recurrent layer in C++: forward gathers W_recᵀ rows of the previous step's active
    neurons and records their indices; backward adds ∂L/∂u[t+1]·W_rec per step (BLAS) and builds
    ∂L/∂W_rec from the recorded active indices only. ``ctx`` is ``None`` for a forward without
    autograd (nothing saved, no index lists built)."""

    @staticmethod
    def forward(ctx, x, v0, i0, w, dv, lv, gv, di, gi, vth, vr, surrogate, subtract, module):
        from neurodeploy.neurons.kernels import _POOL, _flat

        shape = x.shape[1:]
        r, n = _rows(shape)
        m = r * n
        has_i = di is not None
        flat = [_flat(k, shape, m) for k in (dv, lv, gv, di, gi, vth, vr)]
        x3 = x.detach().reshape(x.shape[0], r, n).contiguous()
        v = v0.detach().reshape(m).clone()
        cur = i0.detach().reshape(m).clone() if has_i else None
        e = x3.new_empty(0)
        o = lambda a: e if a is None else a  # noqa: E731
        save = ctx is not None
        z, vpre, offs, cols = module.rec_forward(
            x3, v, o(cur), w.detach().t().contiguous(), *[o(k) for k in flat], subtract, save,
            o(_POOL.take(x3)), o(_POOL.take(x3) if save else None))
        i_t = cur.view(shape) if has_i else x.new_empty(0)
        if save:
            ctx.save_for_backward(vpre, w.detach().contiguous(), offs, cols, *flat)
            ctx.meta = (surrogate, subtract, module, x.shape, BACKWARD_SPLIT_ROWS)
            if not has_i:
                ctx.mark_non_differentiable(i_t)
        return z.view(x.shape), v.view(shape), i_t

    @staticmethod
    @once_differentiable
    def backward(ctx, g_z, g_v, g_i):
        from neurodeploy.neurons.kernels import _POOL, _CppImpl, backward_surrogate, count_active

        surrogate, subtract, module, x_shape, split_rows = ctx.meta
        vpre, w, offs, cols, *flat = ctx.saved_tensors
        dv, lv, gvc, di, gic, vth, vr = flat
        t_len, r, n = vpre.shape
        shape = x_shape[1:]
        has_i = di is not None
        e = vpre.new_empty(0)
        o = lambda a: e if a is None else a  # noqa: E731
        inline, sg = backward_surrogate(_CppImpl, surrogate, vpre, vth.view(r, n))
        kind, (p0, p1, p2, p3) = inline if inline is not None else (0, (0.0, 0.0, 0.0, 0.0))
        gz = g_z.reshape(vpre.shape).contiguous()
        gv = g_v.reshape(-1).clone()
        gi = g_i.reshape(-1).clone() if has_i else None
        gx, active = module.rec_backward(gz, o(sg), vpre, w, gv, o(gi), dv, gvc, o(di), o(gic), vth,
                                         vr, subtract, kind, p0, p1, p2, p3,
                                         o(_POOL.take(vpre)), split_rows)
        count_active(surrogate, inline, active, vpre.numel())
        g_w = module.rec_wgrad(offs, cols, gx) if ctx.needs_input_grad[3] else None
        return (gx.view(x_shape), gv.view(shape), gi.view(shape) if has_i else None, g_w,
                *([None] * 7), None, None, None)
