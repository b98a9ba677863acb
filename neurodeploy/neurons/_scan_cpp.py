"""C++ (CPU) forward and backward scans of the shared neuron form, and the exact sparse
binary first layer (CSR build, forward, weight gradient), built on first use.

The sources below are compiled with ``torch.utils.cpp_extension.load_inline`` the first time a
fast CPU scan runs in a fresh environment (needs a C++ compiler and ninja; about 30-60 s on 2
cores), then loaded from torch's extension cache (``$TORCH_EXTENSIONS_DIR`` or
``~/.cache/torch_extensions``) in well under a second. If the build fails, :func:`load` warns once
and returns ``None``; the caller then uses the pure-PyTorch scan.

Layout: every tensor is flattened to (T, M) or (M,) with M = B·(neurons), contiguous; the
coefficients are expanded per element by the caller. Arithmetic follows the reference step
(``functional.neuron_step``) operation by operation, compiled with ``-ffp-contract=off`` so that no
multiply-add is fused: forward spikes and membranes equal the reference loop bit for bit.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings

import torch

_CPP = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <atomic>
#include <vector>

namespace {
constexpr int64_t BLOCK = 512;   // elements per block: state and coefficients stay in L1 over T

// Block functions take __restrict__ pointers (a lambda capture would lose them, and with them
// the vectorisation of the inner loop over elements).
template <typename s_t, bool HAS_I, bool SUB, bool SAVE, bool SAVE_I>
__attribute__((noinline)) void fwd_block(
         const s_t* __restrict__ x, s_t* __restrict__ z, s_t* __restrict__ vpre,
         s_t* __restrict__ iseq, s_t* __restrict__ v, s_t* __restrict__ cur,
         const s_t* __restrict__ dv, const s_t* __restrict__ lv, const s_t* __restrict__ gv,
         const s_t* __restrict__ di, const s_t* __restrict__ gi, const s_t* __restrict__ vth,
         const s_t* __restrict__ vr, int64_t T, int64_t M, int64_t lo, int64_t hi) {
      for (int64_t t = 0; t < T; ++t) {
        const s_t* xt = x + t * M;
        s_t* zt = z + t * M;
        s_t* vt = vpre + t * M;
        s_t* it = iseq + t * M;
        for (int64_t j = lo; j < hi; ++j) {
          s_t c;
          if (HAS_I) {
            c = di[j] * cur[j] + gi[j] * xt[j];
            cur[j] = c;
            if (SAVE_I) it[j] = c;
          } else {
            c = xt[j];
          }
          const s_t vp = dv[j] * v[j] + lv[j] + gv[j] * c;
          const s_t u = vp - vth[j];
          const s_t zz = u > s_t(0) ? s_t(1) : s_t(0);
          if (SAVE) vt[j] = vp;
          zt[j] = zz;
          v[j] = SUB ? vp - zz * vth[j] : vp - zz * (vp - vr[j]);
        }
      }
}

template <typename s_t, bool HAS_I, bool SUB, bool SAVE, bool SAVE_I>
void fwd(const s_t* x, s_t* z, s_t* vpre, s_t* iseq, s_t* v, s_t* cur, const s_t* dv,
         const s_t* lv, const s_t* gv, const s_t* di, const s_t* gi, const s_t* vth,
         const s_t* vr, int64_t T, int64_t M) {
  at::parallel_for(0, (M + BLOCK - 1) / BLOCK, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t lo = blk * BLOCK, hi = std::min(M, lo + BLOCK);
      fwd_block<s_t, HAS_I, SUB, SAVE, SAVE_I>(x, z, vpre, iseq, v, cur, dv, lv, gv, di, gi,
                                               vth, vr, T, M, lo, hi);
    }
  });
}

template <typename s_t, bool HAS_I, bool SUB, bool CG, bool FS>
__attribute__((noinline)) void bwd_block(s_t fs_h, s_t fs_w, const s_t* __restrict__ gz, const s_t* __restrict__ sg, const s_t* __restrict__ vpre,
         const s_t* __restrict__ iseq, const s_t* __restrict__ x, const s_t* __restrict__ v0,
         const s_t* __restrict__ i0, s_t* __restrict__ gx, s_t* __restrict__ gv,
         s_t* __restrict__ gi, const s_t* __restrict__ dv, const s_t* __restrict__ gvc,
         const s_t* __restrict__ di, const s_t* __restrict__ gic, const s_t* __restrict__ vth,
         const s_t* __restrict__ vr, s_t* __restrict__ g_dv, s_t* __restrict__ g_lv,
         s_t* __restrict__ g_gv, s_t* __restrict__ g_di, s_t* __restrict__ g_gi,
         s_t* __restrict__ g_vth, s_t* __restrict__ g_vr, int64_t T, int64_t M, int64_t lo,
         int64_t hi) {
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t o = t * M;
        for (int64_t j = lo; j < hi; ++j) {
          const s_t vp = vpre[o + j];
          const s_t u = vp - vth[j];
          const s_t zz = u > s_t(0) ? s_t(1) : s_t(0);
          s_t s;
          if (FS) {  // FastSigmoid, as its eager derivative computes it: h · 1/(1 + |u|/w)²
            const s_t y = s_t(1) + std::abs(u) / fs_w;
            s = fs_h * (s_t(1) / (y * y));
          } else {
            s = sg[o + j];
          }
          const s_t gvn = gv[j];
          // v = v' - z (v' - v_reset)   or   v = v' - z v_th
          const s_t gzt = gz[o + j] - gvn * (SUB ? vth[j] : (vp - vr[j]));
          const s_t gvp = (SUB ? gvn : gvn * (s_t(1) - zz)) + gzt * s;
          const s_t gcur = gvp * gvc[j] + (HAS_I ? gi[j] : s_t(0));
          if (CG) {
            s_t vprev;
            if (t > 0) {
              const s_t q = vpre[o - M + j];
              const s_t zq = (q - vth[j]) > s_t(0) ? s_t(1) : s_t(0);
              vprev = SUB ? q - zq * vth[j] : q - zq * (q - vr[j]);
            } else {
              vprev = v0[j];
            }
            const s_t c = HAS_I ? iseq[o + j] : x[o + j];
            g_dv[j] += gvp * vprev;
            g_lv[j] += gvp;
            g_gv[j] += gvp * c;
            g_vth[j] -= gzt * s + (SUB ? gvn * zz : s_t(0));
            if (!SUB) g_vr[j] += gvn * zz;
            if (HAS_I) {
              const s_t iprev = t > 0 ? iseq[o - M + j] : i0[j];
              g_di[j] += gcur * iprev;
              g_gi[j] += gcur * x[o + j];
            }
          }
          if (HAS_I) {
            gx[o + j] = gcur * gic[j];
            gi[j] = gcur * di[j];
          } else {
            gx[o + j] = gcur;
          }
          gv[j] = gvp * dv[j];
        }
      }
}

// gv / gi enter holding dL/d(final v, final i) and leave holding dL/d(v0, i0).
template <typename s_t, bool HAS_I, bool SUB, bool CG, bool FS>
void bwd(s_t fs_h, s_t fs_w, const s_t* gz, const s_t* sg, const s_t* vpre, const s_t* iseq, const s_t* x,
         const s_t* v0, const s_t* i0, s_t* gx, s_t* gv, s_t* gi, const s_t* dv, const s_t* gvc,
         const s_t* di, const s_t* gic, const s_t* vth, const s_t* vr, s_t* g_dv, s_t* g_lv,
         s_t* g_gv, s_t* g_di, s_t* g_gi, s_t* g_vth, s_t* g_vr, int64_t T, int64_t M) {
  at::parallel_for(0, (M + BLOCK - 1) / BLOCK, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t lo = blk * BLOCK, hi = std::min(M, lo + BLOCK);
      bwd_block<s_t, HAS_I, SUB, CG, FS>(fs_h, fs_w, gz, sg, vpre, iseq, x, v0, i0, gx, gv, gi, dv, gvc, di, gic,
                                     vth, vr, g_dv, g_lv, g_gv, g_di, g_gi, g_vth, g_vr, T, M,
                                     lo, hi);
    }
  });
}

template <typename s_t> const s_t* cp(const torch::Tensor& t) {
  return t.defined() && t.numel() ? t.data_ptr<s_t>() : nullptr;
}
template <typename s_t> s_t* mp(torch::Tensor& t) {
  return t.defined() && t.numel() ? t.data_ptr<s_t>() : nullptr;
}

#define NDP_BOOL(cond, NAME, ...) \
  if (cond) { constexpr bool NAME = true; __VA_ARGS__ } else { constexpr bool NAME = false; __VA_ARGS__ }
}  // namespace

// ---- exact sparse first layer: binary (R, F) input, CSR of its ones -------------------------

// Returns {crow (R+1) int64, cols (nnz) int32}, or {empty} when x has an entry other than 0/1
// or more than max_density·R·F ones.
std::vector<torch::Tensor> binary_csr(torch::Tensor x, double max_density) {
  const int64_t R = x.size(0), F = x.size(1);
  const float* xp = x.data_ptr<float>();
  auto counts = torch::zeros({R + 1}, x.options().dtype(torch::kLong));
  int64_t* cnt = counts.data_ptr<int64_t>();
  std::atomic<bool> ok{true};
  at::parallel_for(0, R, 64, [&](int64_t r0, int64_t r1) {
    bool good = true;
    for (int64_t r = r0; r < r1; ++r) {
      const float* row = xp + r * F;
      int64_t n = 0, bad = 0;
      for (int64_t k = 0; k < F; ++k) {
        n += row[k] != 0.0f;
        bad += (row[k] != 0.0f) & (row[k] != 1.0f);
      }
      cnt[r + 1] = n;
      good = good && bad == 0;
    }
    if (!good) ok = false;
  });
  if (!ok) return {torch::empty({0}, counts.options())};
  for (int64_t r = 0; r < R; ++r) cnt[r + 1] += cnt[r];
  const int64_t nnz = cnt[R];
  if ((double)nnz > max_density * (double)R * (double)F) return {torch::empty({0}, counts.options())};
  auto cols = torch::empty({nnz}, x.options().dtype(torch::kInt));
  int32_t* cp_ = cols.data_ptr<int32_t>();
  at::parallel_for(0, R, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* row = xp + r * F;
      int64_t o = cnt[r];
      for (int64_t k = 0; k < F; ++k)
        if (row[k] != 0.0f) cp_[o++] = (int32_t)k;
    }
  });
  return {counts, cols};
}

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__clang__)
#define NDP_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NDP_CLONES
#endif
NDP_CLONES static void add_row(float* __restrict__ y, const float* __restrict__ w, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] += w[j];
}

// y[r] = bias + Σ_{k ∈ cols of row r} wt[k]   (wt = Wᵀ, (F, N) contiguous; ascending k)
torch::Tensor csr_linear(torch::Tensor crow, torch::Tensor cols, torch::Tensor wt,
                         torch::Tensor bias) {
  const int64_t R = crow.size(0) - 1, N = wt.size(1);
  auto y = torch::empty({R, N}, wt.options());
  const int64_t* cr = crow.data_ptr<int64_t>();
  const int32_t* cc = cols.data_ptr<int32_t>();
  const float* w = wt.data_ptr<float>();
  const float* b = bias.numel() ? bias.data_ptr<float>() : nullptr;
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, R, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* yr = yp + r * N;
      for (int64_t j = 0; j < N; ++j) yr[j] = b ? b[j] : 0.0f;
      for (int64_t e = cr[r]; e < cr[r + 1]; ++e) add_row(yr, w + (int64_t)cc[e] * N, N);
    }
  });
  return y;
}

// gwt[k] = Σ_{rows r with a one at k} gy[r]   ((F, N)). Each thread sums a contiguous range
// of rows into its own (F, N) buffer (ascending rows), then the buffers are added in thread order.
torch::Tensor csr_linear_wgrad(torch::Tensor crow, torch::Tensor cols, torch::Tensor gy,
                               int64_t F) {
  const int64_t R = crow.size(0) - 1, N = gy.size(1);
  const int64_t nt = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), (R + 255) / 256));
  auto parts = torch::zeros({nt, F, N}, gy.options());
  const int64_t* cr = crow.data_ptr<int64_t>();
  const int32_t* cc = cols.data_ptr<int32_t>();
  const float* g = gy.data_ptr<float>();
  float* pp = parts.data_ptr<float>();
  at::parallel_for(0, nt, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* gw = pp + p * F * N;
      const int64_t r0 = R * p / nt, r1 = R * (p + 1) / nt;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t e = cr[r]; e < cr[r + 1]; ++e)
          add_row(gw + (int64_t)cc[e] * N, g + r * N, N);
    }
  });
  if (nt == 1) return parts[0];
  auto gwt = parts[0].clone();
  for (int64_t p = 1; p < nt; ++p) gwt.add_(parts[p]);
  return gwt;
}

// x (T, M); v, cur (M,) running state, updated in place to the final state;
// coefficients (M,) each (di, gi empty without a synaptic current).
// Returns z (T, M), vpre (T, M) (empty unless save), iseq (T, M) (empty unless save_i).
std::vector<torch::Tensor> scan_forward(torch::Tensor x, torch::Tensor v, torch::Tensor cur,
    torch::Tensor dv, torch::Tensor lv, torch::Tensor gv, torch::Tensor di, torch::Tensor gi,
    torch::Tensor vth, torch::Tensor vr, bool subtract, bool save, bool save_i) {
  const int64_t T = x.size(0), M = x.size(1);
  const bool has_i = di.numel() > 0;
  auto z = torch::empty_like(x);
  auto vpre = save ? torch::empty_like(x) : torch::empty({0}, x.options());
  auto iseq = (save_i && has_i) ? torch::empty_like(x) : torch::empty({0}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "scan_forward", [&] {
    NDP_BOOL(has_i, HI, NDP_BOOL(subtract, SB, NDP_BOOL(save, SV, NDP_BOOL(save_i && has_i, SI,
      fwd<scalar_t, HI, SB, SV, SI>(x.data_ptr<scalar_t>(), z.data_ptr<scalar_t>(),
          mp<scalar_t>(vpre), mp<scalar_t>(iseq), v.data_ptr<scalar_t>(), mp<scalar_t>(cur),
          cp<scalar_t>(dv), cp<scalar_t>(lv), cp<scalar_t>(gv), cp<scalar_t>(di),
          cp<scalar_t>(gi), cp<scalar_t>(vth), cp<scalar_t>(vr), T, M);))))
  });
  return {z, vpre, iseq};
}

// gv, gi (M,): in: grads of the final state; out: grads of the initial state (in place).
// sg: surrogate derivative (T, M), or empty with fs_w > 0: FastSigmoid(fs_h, fs_w) inline.
// Returns gx (T, M) and, if coef_grad, seven (M,) per-element coefficient grads
// (decay_v, leak_v, gain_v, decay_i, gain_i, v_th, v_reset).
std::vector<torch::Tensor> scan_backward(torch::Tensor gz, torch::Tensor sg, torch::Tensor vpre,
    torch::Tensor iseq, torch::Tensor x, torch::Tensor v0, torch::Tensor i0, torch::Tensor gv,
    torch::Tensor gi, torch::Tensor dv, torch::Tensor gvc, torch::Tensor di, torch::Tensor gic,
    torch::Tensor vth, torch::Tensor vr, bool subtract, bool coef_grad, double fs_h,
    double fs_w) {
  const int64_t T = vpre.size(0), M = vpre.size(1);
  const bool has_i = di.numel() > 0;
  auto gx = torch::empty_like(vpre);
  std::vector<torch::Tensor> out{gx};
  std::vector<torch::Tensor> cg;
  for (int k = 0; k < 7; ++k)
    cg.push_back(coef_grad ? torch::zeros({M}, vpre.options()) : torch::empty({0}, vpre.options()));
  AT_DISPATCH_FLOATING_TYPES(vpre.scalar_type(), "scan_backward", [&] {
    NDP_BOOL(has_i, HI, NDP_BOOL(subtract, SB, NDP_BOOL(coef_grad, CG, NDP_BOOL(fs_w > 0, FS,
      bwd<scalar_t, HI, SB, CG, FS>((scalar_t)fs_h, (scalar_t)fs_w, gz.data_ptr<scalar_t>(),
          cp<scalar_t>(sg),
          vpre.data_ptr<scalar_t>(), cp<scalar_t>(iseq), cp<scalar_t>(x), cp<scalar_t>(v0),
          cp<scalar_t>(i0), gx.data_ptr<scalar_t>(), gv.data_ptr<scalar_t>(), mp<scalar_t>(gi),
          cp<scalar_t>(dv), cp<scalar_t>(gvc), cp<scalar_t>(di), cp<scalar_t>(gic),
          cp<scalar_t>(vth), cp<scalar_t>(vr), mp<scalar_t>(cg[0]), mp<scalar_t>(cg[1]),
          mp<scalar_t>(cg[2]), mp<scalar_t>(cg[3]), mp<scalar_t>(cg[4]), mp<scalar_t>(cg[5]),
          mp<scalar_t>(cg[6]), T, M);))))
  });
  if (coef_grad) out.insert(out.end(), cg.begin(), cg.end());
  return out;
}
"""

_VERSION = 5
_lock = threading.Lock()
_module = None
_failed = False


def load():
    """The compiled extension module, or ``None`` (after one warning) if it cannot be built."""
    global _module, _failed
    if _module is not None or _failed:
        return _module
    with _lock:
        if _module is not None or _failed:
            return _module
        try:
            from torch.utils.cpp_extension import load_inline

            tag = torch.__version__.split("+")[0].replace(".", "_")
            # One build per environment: torch's cache folder is shared by every venv of a user,
            # and a build with another torch's include paths would be redone at every switch.
            env = hashlib.sha256(os.path.dirname(torch.__file__).encode()).hexdigest()[:8]
            _module = load_inline(
                name=f"neurodeploy_scan_v{_VERSION}_torch{tag}_{env}",
                cpp_sources=[_CPP],
                functions=["scan_forward", "scan_backward", "binary_csr", "csr_linear",
                           "csr_linear_wgrad"],
                extra_cflags=["-O3", "-ffp-contract=off", "-fopenmp"],
                extra_ldflags=["-fopenmp"],
                verbose=False,
            )
        except Exception as exc:  # compiler, ninja or headers missing, or a build error
            _failed = True
            warnings.warn(
                "neurodeploy: could not build the C++ neuron scan "
                f"({type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}); "
                "using the pure-PyTorch scan instead (same results, slower). Install a C++ "
                "compiler and ninja, or set NEURODEPLOY_KERNEL=torch to silence this.",
                RuntimeWarning, stacklevel=3)
    return _module
