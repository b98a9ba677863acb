#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>
#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace {
constexpr int64_t BLOCK = 512;   // the scans' smallest block (lanes); lanes per recurrent task

// Lanes per block of the scans (fwd, bwd): one 4 KiB page of every (T, M) stream per step (1024
// floats, 512 doubles) where that still makes at least 8 blocks, else BLOCK. A block's state and
// per-lane coefficients stay in L1 over T. Measured against 512-lane blocks at 2 threads, same
// bits: forward 0.90x and backward 0.95-0.97x the time on a (100, 64·256) LIF scan, forward
// 0.77x on an unfused conv layer's (16, 32·16·32·32), within 1 % in the MLP training step; with
// fewer blocks to share between threads (a (100, 64·20) scan) 1.2-1.4x slower: the minimum.
template <typename s_t> constexpr int64_t page_block() { return 4096 / (int64_t)sizeof(s_t); }
template <typename s_t> int64_t scan_block(int64_t M) {
  return M >= 8 * page_block<s_t>() ? page_block<s_t>() : BLOCK;
}

// at::parallel_for with work stealing: [0, n) is cut into chunks of at most ``grain`` items and
// every intra-op thread gets a contiguous share, as at::parallel_for gives it, which it runs
// front to back (f(b0, b1) per chunk); a thread done with its share takes chunks from the back
// of the others'. An idle worker sleeps, and waking it cost ~0.3 ms here (a 2-vCPU VM); with
// static shares the caller then sat idle with the worker's half undone, now it runs that half
// and the worker takes what is left (the region still ends only once the worker has woken).
// Measured on a (100, 64·256) LIF scan called in a training-like loop: 1.3-1.4 → 1.2 ms.
// Contiguous shares keep the hardware prefetcher's run-ahead on the same core (chunks dealt
// out round-robin from one counter measured 1.6x slower on the scans). Each item's result must
// not depend on the thread that runs it (true for every caller here).
template <typename F>
void dynamic_for(int64_t n, int64_t grain, const F& f) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (n + grain - 1) / grain;
  const int64_t P = std::min<int64_t>(chunks, std::max(1, at::get_num_threads()));
  TORCH_CHECK(chunks < (int64_t(1) << 31), "dynamic_for: too many chunks");
  // share p: chunks [front, back) packed as back << 32 | front
  std::vector<std::atomic<uint64_t>> share(P);
  for (int64_t p = 0; p < P; ++p)
    share[p] = (uint64_t)(chunks * (p + 1) / P) << 32 | (uint64_t)(chunks * p / P);
  auto take = [&](int64_t p, bool front, int64_t& c) {
    uint64_t s = share[p].load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t f_ = s & 0xffffffffu, b_ = s >> 32;
      if (f_ >= b_) return false;
      const uint64_t next = front ? (b_ << 32 | (f_ + 1)) : ((b_ - 1) << 32 | f_);
      if (share[p].compare_exchange_weak(s, next, std::memory_order_relaxed)) {
        c = (int64_t)(front ? f_ : b_ - 1);
        return true;
      }
    }
  };
  auto run = [&](int64_t c) { f(c * grain, std::min(n, (c + 1) * grain)); };
  at::parallel_for(0, P, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      int64_t c;
      while (take(p, true, c)) run(c);
      for (int64_t q = 1; q < P; ++q)
        while (take((p + q) % P, false, c)) run(c);
    }
  });
}

// ---- surrogate derivatives evaluated inside the backward scan ------------------------------
// The Kind enum (K_TENSOR for 0, one K_<FORM> per formula, K_COUNT) is generated from the table
// neurodeploy/neurons/surrogate_kinds.py and compiled before this file. Each formula follows
// the surrogate's eager ``derivative`` (neurodeploy/surrogates/) operation by operation;
// p0..p3 are its live values, read at every call (schedules never recompile anything).
using namespace ndp_kinds;

// exp(x), float: Cephes' expf (range reduction by ln 2, degree-6 polynomial, ~1 ulp), written
// without calls or branches so the loops over elements stay vectorised.
template <typename s_t> inline s_t vexp(s_t x) { return std::exp(x); }
template <> inline float vexp<float>(float x) {
  x = x > 88.3762626647949f ? 88.3762626647949f : (x < -87.3365447504f ? -87.3365447504f : x);
  const float t = x * 1.44269504088896341f + 0.5f;
  int32_t n = (int32_t)t;
  n -= (float)n > t;                                       // floor
  const float fx = (float)n;
  float r = x - fx * 0.693359375f;
  r = r - fx * -2.12194440e-4f;
  const float z = r * r;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * z + r + 1.0f;
  int32_t bits = (n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}
template <typename s_t> inline s_t sigm(s_t x) { return s_t(1) / (s_t(1) + vexp(-x)); }

template <typename s_t, int KIND>
inline s_t surrogate(s_t u, s_t p0, s_t p1, s_t p2, s_t p3) {
  if constexpr (KIND == K_FAST_SIGMOID) {        // h / (1 + |u|/w)²          p0 = h, p1 = w
    const s_t y = s_t(1) + std::abs(u) / p1;
    return p0 * (s_t(1) / (y * y));
  } else if constexpr (KIND == K_SIGMOID) {      // 4h σ(u/w)(1 − σ(u/w))
    const s_t s = sigm(u / p1);
    return s_t(4) * p0 * s * (s_t(1) - s);
  } else if constexpr (KIND == K_ARCTAN) {       // h / (1 + (u/w)²)
    const s_t q = u / p1;
    return p0 / (s_t(1) + q * q);
  } else if constexpr (KIND == K_TRIANGLE) {     // h max(0, 1 − |u|/w)
    const s_t q = s_t(1) - std::abs(u) / p1;
    return p0 * (q > s_t(0) ? q : s_t(0));
  } else if constexpr (KIND == K_RECTANGLE) {    // h 1[|u| ≤ w]
    return std::abs(u) <= p1 ? p0 : s_t(0);
  } else if constexpr (KIND == K_GAUSSIAN) {     // h exp(−½ (u/w)²)
    const s_t q = u / p1;
    return p0 * vexp(s_t(-0.5) * (q * q));
  } else if constexpr (KIND == K_STRAIGHT_THROUGH) { // h
    return p0;
  } else if constexpr (KIND == K_ADALI) {        // p0 on [−L, 0), p1 on [0, R]   p2 = L, p3 = R
    const s_t side = u < s_t(0) ? p0 : p1;
    return (u >= -p2) & (u <= p3) ? side : s_t(0);
  } else if constexpr (KIND == K_ASY) {          // max(0, u/(2β) + h) on |u| ≤ β   p0 = β, p1 = h
    const s_t q = u / (s_t(2) * p0) + p1;
    return std::abs(u) <= p0 ? (q > s_t(0) ? q : s_t(0)) : s_t(0);
  } else if constexpr (KIND == K_ASGL_CLIP) {    // 1/α on |u| ≤ α/2               p0 = α
    return std::abs(u) <= p0 / s_t(2) ? s_t(1) / p0 : s_t(0);
  } else if constexpr (KIND == K_ASGL_SIGMOID) { // (4/α) σ(4u/α)(1 − σ(4u/α))
    const s_t s = sigm(s_t(4) * u / p0);
    return s_t(4) / p0 * s * (s_t(1) - s);
  } else {
    return s_t(0);
  }
}

// ASGL's Bernoulli(p) mask, one draw per (step t, element j): a counter-based hash of (t, j)
// and a 64-bit seed (from torch's generator), so the mask does not depend on the thread count
// and ``asgl_mask`` can reproduce it. mix32 (a bijection on 32 bits) makes the draws of one
// step distinct; 32-bit integer arithmetic only, so the loop over j stays vectorised.
inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16; x *= 0x7feb352dU; x ^= x >> 15; x *= 0x846ca68bU; x ^= x >> 16;
  return x;
}
struct AsglFwd { double alpha; uint32_t seed_lo, seed_hi, thresh; };
inline uint32_t step_key(const AsglFwd& as, int64_t t) {
  return (uint32_t)t * 0x9e3779b9U + as.seed_hi;
}
inline bool mask_bit(uint32_t j, uint32_t key, uint32_t seed_lo, uint32_t thresh) {
  return (mix32(mix32(j + seed_lo) ^ key) >> 1) < thresh;  // thresh = round(p · 2³¹)
}
inline AsglFwd asgl_args(double alpha, int64_t seed, double p) {
  const double scaled = std::ldexp(std::min(std::max(p, 0.0), 1.0), 31);
  return {alpha, (uint32_t)(uint64_t)seed, (uint32_t)((uint64_t)seed >> 32),
          (uint32_t)std::llround(scaled)};
}

// Block functions take __restrict__ pointers (a lambda capture would lose them, and with them
// the vectorisation of the inner loop over elements).
// AS: N_HEAVISIDE spikes, or ASGL's noisy analog spikes with H_α = clip (N_CLIP) / sigmoid
// (N_SIGMOID); the Noisy enum is generated from surrogate_kinds.NOISY_FORMS.
// WZ: write the spikes z (false: only v' is kept; a following Linear reads its spikes from v').
template <typename s_t, bool HAS_I, bool SUB, bool SAVE, bool SAVE_I, int AS, bool WZ>
__attribute__((noinline)) void fwd_block(
         const s_t* __restrict__ x, s_t* __restrict__ z, s_t* __restrict__ vpre,
         s_t* __restrict__ iseq, s_t* __restrict__ v, s_t* __restrict__ cur,
         const s_t* __restrict__ dv, const s_t* __restrict__ lv, const s_t* __restrict__ gv,
         const s_t* __restrict__ di, const s_t* __restrict__ gi, const s_t* __restrict__ vth,
         const s_t* __restrict__ vr, AsglFwd as, int64_t T, int64_t M, int64_t lo, int64_t hi) {
      const s_t alpha = (s_t)as.alpha;
      const uint32_t seed_lo = as.seed_lo, thresh = as.thresh;
      for (int64_t t = 0; t < T; ++t) {
        const uint32_t key = step_key(as, t);
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
          const s_t theta = u > s_t(0) ? s_t(1) : s_t(0);
          s_t zz = theta;
          if constexpr (AS != N_HEAVISIDE) {   // ŝ = H_α(u) + m (Θ(u) − H_α(u))
            s_t h;
            if constexpr (AS == N_CLIP) {
              h = u / alpha + s_t(0.5);
              h = h < s_t(0) ? s_t(0) : (h > s_t(1) ? s_t(1) : h);
            } else {
              static_assert(AS == N_SIGMOID, "a noisy form of NOISY_FORMS without a branch here");
              h = sigm(s_t(4) * u / alpha);
            }
            const bool m = mask_bit((uint32_t)j, key, seed_lo, thresh);
            zz = h + (m ? theta - h : s_t(0));
          }
          if (SAVE) vt[j] = vp;
          if (WZ) zt[j] = zz;
          v[j] = SUB ? vp - zz * vth[j] : vp - zz * (vp - vr[j]);
        }
      }
}

template <typename s_t, bool HAS_I, bool SUB, bool SAVE, bool SAVE_I, int AS, bool WZ>
void fwd(const s_t* x, s_t* z, s_t* vpre, s_t* iseq, s_t* v, s_t* cur, const s_t* dv,
         const s_t* lv, const s_t* gv, const s_t* di, const s_t* gi, const s_t* vth,
         const s_t* vr, AsglFwd as, int64_t T, int64_t M) {
  const int64_t BL = scan_block<s_t>(M);
  dynamic_for((M + BL - 1) / BL, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t lo = blk * BL, hi = std::min(M, lo + BL);
      fwd_block<s_t, HAS_I, SUB, SAVE, SAVE_I, AS, WZ>(x, z, vpre, iseq, v, cur, dv, lv, gv, di, gi,
                                                   vth, vr, as, T, M, lo, hi);
    }
  });
}

struct SurrogateArgs { double p0, p1, p2, p3; };

// KIND: the surrogate (K_TENSOR: read ``sg``). ZS (ASGL training): the spikes were analog, so
// the reset's derivative reads them from ``zs`` instead of recomputing Θ(u), and
// dL/dα (α = p0) is accumulated per element into ``g_alpha``. ``active[blk]``: number of
// non-zero surrogate values in this block (compute density).
template <typename s_t, bool HAS_I, bool SUB, bool CG, int KIND, bool ZS>
__attribute__((noinline)) void bwd_block(SurrogateArgs sa, const s_t* __restrict__ gz, const s_t* __restrict__ sg, const s_t* __restrict__ vpre,
         const s_t* __restrict__ zs, s_t* __restrict__ g_alpha,
         const s_t* __restrict__ iseq, const s_t* __restrict__ x, const s_t* __restrict__ v0,
         const s_t* __restrict__ i0, s_t* __restrict__ gx, s_t* __restrict__ gv,
         s_t* __restrict__ gi, const s_t* __restrict__ dv, const s_t* __restrict__ gvc,
         const s_t* __restrict__ di, const s_t* __restrict__ gic, const s_t* __restrict__ vth,
         const s_t* __restrict__ vr, s_t* __restrict__ g_dv, s_t* __restrict__ g_lv,
         s_t* __restrict__ g_gv, s_t* __restrict__ g_di, s_t* __restrict__ g_gi,
         s_t* __restrict__ g_vth, s_t* __restrict__ g_vr, int64_t T, int64_t M, int64_t lo,
         int64_t hi, int64_t* active) {
      const s_t p0 = (s_t)sa.p0, p1 = (s_t)sa.p1, p2 = (s_t)sa.p2, p3 = (s_t)sa.p3;
      int32_t nonzero = 0;   // int32 (a block holds 1024·T < 2³¹ values): keeps the loop vectorised
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t o = t * M;
        for (int64_t j = lo; j < hi; ++j) {
          const s_t vp = vpre[o + j];
          const s_t u = vp - vth[j];
          const s_t zz = ZS ? zs[o + j] : (u > s_t(0) ? s_t(1) : s_t(0));
          const s_t s = KIND == K_TENSOR ? sg[o + j] : surrogate<s_t, KIND>(u, p0, p1, p2, p3);
          nonzero += (int32_t)(s != s_t(0));
          const s_t gvn = gv[j];
          // v = v' - z (v' - v_reset)   or   v = v' - z v_th
          const s_t gzt = gz[o + j] - gvn * (SUB ? vth[j] : (vp - vr[j]));
          const s_t gvp = (SUB ? gvn : gvn * (s_t(1) - zz)) + gzt * s;
          if constexpr (ZS) g_alpha[j] += gzt * s * (-u / p0);   // dH_α/dα = −(u/α) dH_α/du
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
      *active = nonzero;
}

// gv / gi enter holding dL/d(final v, final i) and leave holding dL/d(v0, i0).
template <typename s_t, bool HAS_I, bool SUB, bool CG, int KIND, bool ZS>
void bwd(SurrogateArgs sa, const s_t* gz, const s_t* sg, const s_t* vpre, const s_t* zs,
         s_t* g_alpha, const s_t* iseq, const s_t* x,
         const s_t* v0, const s_t* i0, s_t* gx, s_t* gv, s_t* gi, const s_t* dv, const s_t* gvc,
         const s_t* di, const s_t* gic, const s_t* vth, const s_t* vr, s_t* g_dv, s_t* g_lv,
         s_t* g_gv, s_t* g_di, s_t* g_gi, s_t* g_vth, s_t* g_vr, int64_t T, int64_t M,
         int64_t* active) {
  const int64_t BL = scan_block<s_t>(M);
  dynamic_for((M + BL - 1) / BL, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t lo = blk * BL, hi = std::min(M, lo + BL);
      bwd_block<s_t, HAS_I, SUB, CG, KIND, ZS>(sa, gz, sg, vpre, zs, g_alpha, iseq, x, v0, i0,
                                               gx, gv, gi, dv, gvc, di, gic, vth, vr, g_dv, g_lv,
                                               g_gv, g_di, g_gi, g_vth, g_vr, T, M, lo, hi,
                                               active + blk);
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

// ---- exact sparse Linear: binary (R, F) input, CSR of its ones -------------------------------
// Used by every nn.Linear of a SpikingSequential whose input is binary spikes (first layer and
// spike-fed hidden layers; neurodeploy/neurons/sequential.py says when it runs). fp32 adds only,
// each output element summed in ascending input (forward) or row (weight gradient) order.

// 16 floats, whatever SIMD width the build targets (GCC/Clang vector extension); loads and
// stores through memcpy (unaligned).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"   // portable build: 64-byte vectors in static helpers only
#endif
typedef float ndp_v16 __attribute__((vector_size(64)));
static inline ndp_v16 v16_load(const float* p) { ndp_v16 v; std::memcpy(&v, p, 64); return v; }
static inline void v16_store(float* p, ndp_v16 v) { std::memcpy(p, &v, 64); }

// Returns {crow (R+1) int64, cols (nnz) int32}, or {empty} when x has an entry other than 0/1
// (-0.0 counts as 0) or more than max_density·R·F ones. One pass over x: each block of rows
// appends the indices of its ones to its own buffer (8 entries tested at once, zeros skipped),
// stopping early once the running total exceeds the limit; the buffers are then copied into
// cols at their row offsets (a pass over the nnz indices only).
// SPIKE: the ones are the spikes of a neuron scan's pre-reset membrane x = v', entry (r, k) is
// one where v' − v_th > 0 (the scan's own test, same arithmetic) with v_th = th[(r mod P)·F + k]
// (rows r = t·P + b of a (T, P·F) scan); no binary check.
template <bool SPIKE>
std::vector<torch::Tensor> csr_build(const torch::Tensor& x, const float* th, int64_t P,
                                     double max_density) {
  const int64_t R = x.size(0), F = x.size(1);
  const float* xp = x.data_ptr<float>();
  auto counts = torch::empty({R + 1}, x.options().dtype(torch::kLong));
  int64_t* cnt = counts.data_ptr<int64_t>();
  cnt[0] = 0;
  const double limit = max_density * (double)R * (double)F;
  constexpr int64_t ROWS = 64;
  const int64_t nblk = (R + ROWS - 1) / ROWS;
  // per block: its indices in an uninitialised buffer (a zero-filled std::vector cost a write
  // of max_density·R·F ints per call)
  struct Indices {
    std::unique_ptr<int32_t[]> p;
    int64_t cap = 0, n = 0;
    void reserve(int64_t c) {
      if (c <= cap) return;
      std::unique_ptr<int32_t[]> q(new int32_t[c]);
      if (n) std::memcpy(q.get(), p.get(), n * sizeof(int32_t));
      p = std::move(q);
      cap = c;
    }
  };
  std::vector<Indices> bufs(nblk);
  std::atomic<int64_t> total{0};
  std::atomic<bool> stop{false};   // not binary, or over the limit
  dynamic_for(nblk, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1 && !stop.load(std::memory_order_relaxed); ++b) {
      const int64_t r0 = b * ROWS, r1 = std::min(R, r0 + ROWS);
      Indices& buf = bufs[b];
      buf.reserve((int64_t)(std::min(1.0, max_density) * (double)((r1 - r0) * F)) + 2 * F);
      int64_t o = 0;
      bool bad = false;
      for (int64_t r = r0; r < r1; ++r) {
        if (buf.cap < o + F) {   // room for a full row
          buf.n = o;
          buf.reserve(std::max(o + F, 2 * buf.cap));
        }
        int32_t* out = buf.p.get();
        const float* row = xp + r * F;
        const float* thr = SPIKE ? th + (r % P) * F : nullptr;
        const int64_t o_row = o;
        int64_t k = 0;
#if defined(__AVX512F__)
        const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
        (void)one;
        __m512i ks = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for (; k + 16 <= F; k += 16) {
          const __m512 v = _mm512_loadu_ps(row + k);
          __mmask16 nz;
          if constexpr (SPIKE) {
            nz = _mm512_cmp_ps_mask(_mm512_sub_ps(v, _mm512_loadu_ps(thr + k)), zero, _CMP_GT_OQ);
          } else {
            nz = _mm512_cmp_ps_mask(v, zero, _CMP_NEQ_UQ);
            bad |= _mm512_mask_cmp_ps_mask(nz, v, one, _CMP_NEQ_UQ) != 0;
          }
          // compress in a register, then store all 16 lanes (room for a full row is reserved):
          // the memory form (vpcompressd m512) is microcoded on AMD Zen 4, ~10× slower here
          _mm512_storeu_si512(out + o, _mm512_maskz_compress_epi32(nz, ks));
          o += __builtin_popcount((unsigned)nz);
          ks = _mm512_add_epi32(ks, _mm512_set1_epi32(16));
        }
#endif
        for (; k + 8 <= F; k += 8) {
          uint32_t mask = 0;   // bit i: row[k + i] != 0 (NaN included); SPIKE: a spike
#if defined(__AVX__)
          if constexpr (SPIKE)
            mask = (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(
                _mm256_sub_ps(_mm256_loadu_ps(row + k), _mm256_loadu_ps(thr + k)),
                _mm256_setzero_ps(), _CMP_GT_OQ));
          else
            mask = (uint32_t)_mm256_movemask_ps(
                _mm256_cmp_ps(_mm256_loadu_ps(row + k), _mm256_setzero_ps(), _CMP_NEQ_UQ));
#else
          for (int i = 0; i < 8; ++i)
            mask |= (uint32_t)(SPIKE ? (row[k + i] - thr[k + i]) > 0.0f : row[k + i] != 0.0f) << i;
#endif
          while (mask) {
            const int i = __builtin_ctz(mask);
            mask &= mask - 1;
            if (!SPIKE) bad |= row[k + i] != 1.0f;
            out[o++] = (int32_t)(k + i);
          }
        }
        for (; k < F; ++k) {
          const float v = row[k];
          const bool on = SPIKE ? (v - thr[k]) > 0.0f : v != 0.0f;
          out[o] = (int32_t)k;
          o += on;
          if (!SPIKE) bad |= on & (v != 1.0f);
        }
        cnt[r + 1] = o - o_row;
      }
      buf.n = o;
      if (bad || (double)(total.fetch_add(o) + o) > limit) stop = true;
    }
  });
  if (stop) return {torch::empty({0}, counts.options())};
  for (int64_t r = 0; r < R; ++r) cnt[r + 1] += cnt[r];
  auto cols = torch::empty({cnt[R]}, x.options().dtype(torch::kInt));
  int32_t* cp_ = cols.data_ptr<int32_t>();
  at::parallel_for(0, nblk, 16, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      if (bufs[b].n) std::memcpy(cp_ + cnt[b * ROWS], bufs[b].p.get(), bufs[b].n * sizeof(int32_t));
  });
  return {counts, cols};
}

std::vector<torch::Tensor> binary_csr(torch::Tensor x, double max_density) {
  return csr_build<false>(x, nullptr, 1, max_density);
}

// The CSR of the spikes of a scan over (T, M = P·F) lanes, read from its pre-reset membrane
// vpre (T·P, F) (rows r = t·P + b) and thresholds vth (P·F,): entry (r, k) is a spike where
// vpre[r, k] − vth[(r mod P)·F + k] > 0, the forward scan's test. {empty} past max_density.
std::vector<torch::Tensor> spike_csr(torch::Tensor vpre, torch::Tensor vth, int64_t P,
                                     double max_density) {
  TORCH_CHECK(vpre.dim() == 2 && vpre.is_contiguous() && vpre.scalar_type() == torch::kFloat &&
              vth.is_contiguous() && vth.scalar_type() == torch::kFloat &&
              P > 0 && vth.numel() == P * vpre.size(1) && vpre.size(0) % P == 0,
              "spike_csr: vpre (T·P, F) and vth (P·F) contiguous float32");
  return csr_build<true>(vpre, vth.data_ptr<float>(), P, max_density);
}

// y[0:16·NV] = b + Σ_e w[idx[e]·N : …]: the sum stays in NV vector registers over the inputs.
template <int NV>
static inline void gather_sum(float* y, const float* __restrict__ w, int64_t N,
                              const int32_t* __restrict__ idx, int64_t n, const float* b) {
  ndp_v16 acc[NV];
  for (int v = 0; v < NV; ++v) acc[v] = b ? v16_load(b + 16 * v) : ndp_v16{};
  for (int64_t e = 0; e < n; ++e) {
    const float* wr = w + (int64_t)idx[e] * N;
    for (int v = 0; v < NV; ++v) acc[v] += v16_load(wr + 16 * v);
  }
  for (int v = 0; v < NV; ++v) v16_store(y + 16 * v, acc[v]);
}

// yr (N) = bias + Σ_e wt[idx[e]]   (wt = Wᵀ, (F, N) contiguous; ascending e)
static inline void csr_row(float* yr, const float* w, const float* b, int64_t N,
                           const int32_t* idx, int64_t n) {
  int64_t j = 0;
  for (; j + 128 <= N; j += 128) gather_sum<8>(yr + j, w + j, N, idx, n, b ? b + j : nullptr);
  for (; j + 16 <= N; j += 16) gather_sum<1>(yr + j, w + j, N, idx, n, b ? b + j : nullptr);
  for (; j < N; ++j) {
    float s = b ? b[j] : 0.0f;
    for (int64_t e = 0; e < n; ++e) s += w[(int64_t)idx[e] * N + j];
    yr[j] = s;
  }
}

// y[r] = bias + Σ_{k ∈ cols of row r} wt[k]   (ascending k)
static void rows_linear(const int64_t* cr, const int32_t* cc, const float* w, const float* b,
                        float* yp, int64_t R, int64_t N) {
  dynamic_for(R, 32, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) csr_row(yp + r * N, w, b, N, cc + cr[r], cr[r + 1] - cr[r]);
  });
}

// gwt[k] = Σ_{rows r with a one at k} gy[r]   ((F, N)), summed in ascending r for every k
// (the same result at any thread count); with bias_grad, a row F more: Σ_r gy[r] (an input that
// is always active), so the result is (F + 1, N). Rows go in chunks of about 1 MiB of gy (kept
// in cache). First every chunk's indices are transposed (the rows of each input k, ascending;
// chunks in parallel), then chunk by chunk each gwt[k] adds the sum of its rows of gy,
// accumulated in registers as in csr_linear (each thread a range of inputs k).
static void rows_wgrad(const int64_t* cr, const int32_t* cc, const float* g, float* o, int64_t R,
                       int64_t N, int64_t F, bool bias_grad) {
  const int64_t K = F + (bias_grad ? 1 : 0);
  const int64_t RC = std::max<int64_t>(64, (int64_t(1) << 18) / std::max<int64_t>(N, 1));
  const int64_t nc = (R + RC - 1) / RC;
  std::fill(o, o + K * N, 0.0f);
  // chunk c's entries start at off(c) = cr[c·RC] (+ c·RC with the bias rows)
  auto off = [&](int64_t c) { return cr[c * RC] + (bias_grad ? c * RC : 0); };
  std::vector<int64_t> kp(nc * (K + 1), 0);         // per chunk: offsets of each k in rows
  std::vector<int32_t> rows(cr[R] + (bias_grad ? R : 0));
  dynamic_for(nc, 1, [&](int64_t q0, int64_t q1) {
    std::vector<int64_t> fill(K);
    for (int64_t c = q0; c < q1; ++c) {
      const int64_t c0 = c * RC, c1 = std::min(R, c0 + RC);
      int64_t* p = kp.data() + c * (K + 1);
      for (int64_t e = cr[c0]; e < cr[c1]; ++e) ++p[cc[e] + 1];
      if (bias_grad) p[F + 1] = c1 - c0;
      for (int64_t k = 0; k < K; ++k) p[k + 1] += p[k];
      std::copy(p, p + K, fill.begin());
      int32_t* rc = rows.data() + off(c);
      for (int64_t r = c0; r < c1; ++r)
        for (int64_t e = cr[r]; e < cr[r + 1]; ++e) rc[fill[cc[e]]++] = (int32_t)r;
      if (bias_grad)
        for (int64_t r = c0; r < c1; ++r) rc[fill[F]++] = (int32_t)r;
    }
  });
  // each thread owns a range of k and walks the chunks in order (no barrier between chunks;
  // static shares: a chunk of gy stays in cache for the whole range)
  at::parallel_for(0, K, 16, [&](int64_t k0, int64_t k1) {
    for (int64_t c = 0; c < nc; ++c) {
      const int64_t* p = kp.data() + c * (K + 1);
      const int32_t* rc = rows.data() + off(c);
      for (int64_t k = k0; k < k1; ++k) {
        const int64_t n = p[k + 1] - p[k];
        if (n == 0) continue;
        float* ok = o + k * N;
        const int32_t* idx = rc + p[k];
        int64_t j = 0;
        for (; j + 128 <= N; j += 128) gather_sum<8>(ok + j, g + j, N, idx, n, ok + j);
        for (; j + 16 <= N; j += 16) gather_sum<1>(ok + j, g + j, N, idx, n, ok + j);
        for (; j < N; ++j) {
          float s = ok[j];
          for (int64_t e = 0; e < n; ++e) s += g[(int64_t)idx[e] * N + j];
          ok[j] = s;
        }
      }
    }
  });
}

// Two layouts of the same sums (each output element summed in the same order, so both give
// the same bits): wide layers gather whole rows of Wᵀ / ∂L/∂y (rows_linear, rows_wgrad: 16·NV
// outputs in registers per input, L2-bound); narrow ones (N ≤ TILE_MAX_N) work on 16-column
// tiles whose inputs stay in L1 (tiled_linear, tiled_wgrad: 1.5-3x faster there, measured on
// 256→20..64 and 700→64 at 1-2 threads; slower from ~128 columns up).
constexpr int64_t TILE = 16;          // columns per tile: one 64-byte vector
constexpr int64_t TILE_MAX_N = 64;

#if defined(__AVX__)
// d[j·ld + i] = s[i·ls + j] for i, j < 8 (unpack, shuffle, lane swap: 24 shuffles, no scalar moves)
static inline void transpose8x8(const float* s, int64_t ls, float* d, int64_t ld) {
  __m256 r[8], t[8], u[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(s + i * ls);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {
    _mm256_storeu_ps(d + j * ld, _mm256_permute2f128_ps(u[j], u[j + 4], 0x20));
    _mm256_storeu_ps(d + (j + 4) * ld, _mm256_permute2f128_ps(u[j], u[j + 4], 0x31));
  }
}
#endif

// dst (C, R) = src (R, C)ᵀ, both contiguous, in 8×8 blocks (AVX shuffles where the build has
// AVX: 0.49 → 0.19 ms for 256×700 at 1 thread, 0.18 → 0.06 ms at 2, measured; scalar
// otherwise and at the edges).
static void transpose_into(const float* src, float* dst, int64_t R, int64_t C) {
  dynamic_for((R + 7) / 8, 8, [&](int64_t i0, int64_t i1) {
    for (int64_t r0 = i0 * 8; r0 < std::min(R, i1 * 8); r0 += 8)
      for (int64_t c0 = 0; c0 < C; c0 += 8) {
#if defined(__AVX__)
        if (r0 + 8 <= R && c0 + 8 <= C) {
          transpose8x8(src + r0 * C + c0, C, dst + c0 * R + r0, R);
          continue;
        }
#endif
        for (int64_t r = r0; r < std::min(R, r0 + 8); ++r)
          for (int64_t c = c0; c < std::min(C, c0 + 8); ++c) dst[c * R + r] = src[r * C + c];
      }
  });
}

// Room for n floats, 64-byte aligned: ``kept`` (a per-thread buffer reused between calls, since
// a fresh multi-100-KiB buffer page-faults on first touch) up to 16 MiB, else ``tmp`` (freed by
// the caller's return, so a huge layer does not pin its size for the life of the process).
// Aligned because the kernels load whole 64-byte vectors: from malloc's 16-byte alignment every
// load straddled two cache lines, and the gather-sum ran 1.3-1.65x slower (measured, 700→256).
static float* aligned64(float* p) {
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}
static float* scratch(std::vector<float>& kept, std::vector<float>& tmp, int64_t n) {
  std::vector<float>& v = n <= (int64_t(1) << 22) ? kept : tmp;
  if ((int64_t)v.size() < n + TILE) v.resize(n + TILE);
  return aligned64(v.data());
}

static inline ndp_v16 v16_load_n(const float* p, int64_t n) {   // n ≤ 16 floats, rest 0
  if (n == TILE) return v16_load(p);
  float t[TILE] = {};
  std::memcpy(t, p, n * sizeof(float));
  return v16_load(t);
}
static inline void v16_store_n(float* p, ndp_v16 v, int64_t n) {
  if (n == TILE) { v16_store(p, v); return; }
  float t[TILE];
  v16_store(t, v);
  std::memcpy(p, t, n * sizeof(float));
}

// y (R, N) from W (N, F), tile by tile: the tile's columns of Wᵀ ((F, 16), zero-padded) in a
// local buffer, then per row the sum of its inputs' entries, four rows at a time (four
// independent chains of adds; each row still sums in ascending k from the bias).
static void tiled_linear(const int64_t* cr, const int32_t* cc, const float* w, const float* b,
                         float* yp, int64_t R, int64_t N, int64_t F) {
  const int64_t nt = (N + TILE - 1) / TILE;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(R / 256,
      (4 * at::get_num_threads() + nt - 1) / nt));          // row parts per tile: ≥ 4 tasks/thread
  dynamic_for(nt * parts, 1, [&](int64_t q0, int64_t q1) {
    std::vector<float> tile_buf(F * TILE + TILE);
    float* bp = aligned64(tile_buf.data());
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t j0 = q / parts * TILE, wd = std::min(TILE, N - j0), part = q % parts;
      for (int64_t k = 0; k < F; ++k)
        for (int64_t jj = 0; jj < TILE; ++jj) bp[k * TILE + jj] = jj < wd ? w[(j0 + jj) * F + k] : 0.0f;
      const ndp_v16 b0 = b ? v16_load_n(b + j0, wd) : ndp_v16{};
      const int64_t r1 = R * (part + 1) / parts;
      int64_t r = R * part / parts;
      for (; r + 4 <= r1; r += 4) {
        ndp_v16 a[4] = {b0, b0, b0, b0};
        const int32_t* c[4];
        int64_t n[4];
        for (int i = 0; i < 4; ++i) { c[i] = cc + cr[r + i]; n[i] = cr[r + i + 1] - cr[r + i]; }
        const int64_t common = std::min(std::min(n[0], n[1]), std::min(n[2], n[3]));
        for (int64_t e = 0; e < common; ++e)
          for (int i = 0; i < 4; ++i) a[i] += v16_load(bp + (int64_t)c[i][e] * TILE);
        for (int i = 0; i < 4; ++i) {
          for (int64_t e = common; e < n[i]; ++e) a[i] += v16_load(bp + (int64_t)c[i][e] * TILE);
          v16_store_n(yp + (r + i) * N + j0, a[i], wd);
        }
      }
      for (; r < r1; ++r) {
        ndp_v16 acc = b0;
        for (int64_t e = cr[r]; e < cr[r + 1]; ++e) acc += v16_load(bp + (int64_t)cc[e] * TILE);
        v16_store_n(yp + r * N + j0, acc, wd);
      }
    }
  });
}

// gw (N, F) and gb (N, or nullptr) tile by tile: task (tile, input range) keeps the range's
// accumulators ((≤ 384 inputs, 16) floats, ≤ 24 KiB: L1) over all rows in ascending order and
// adds the tile of ∂L/∂y's row r to the accumulator of each of its inputs.
static void tiled_wgrad(const int64_t* cr, const int32_t* cc, const float* g, float* gwp,
                        float* gbp, int64_t R, int64_t N, int64_t F) {
  const int64_t nt = (N + TILE - 1) / TILE;
  const int64_t ns = std::max<int64_t>(1, (F + 383) / 384);
  std::vector<int64_t> pos;   // pos[r·(ns+1) + s]: row r's first entry with k ≥ F·s/ns
  if (ns > 1) {
    pos.resize(R * (ns + 1));
    dynamic_for(R, 256, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t e = cr[r];
        for (int64_t s = 0; s < ns; ++s) {
          while (e < cr[r + 1] && cc[e] < F * s / ns) ++e;
          pos[r * (ns + 1) + s] = e;
        }
        pos[r * (ns + 1) + ns] = cr[r + 1];
      }
    });
  }
  dynamic_for(nt * ns, 1, [&](int64_t q0, int64_t q1) {
    std::vector<ndp_v16> acc;
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t j0 = q / ns * TILE, wd = std::min(TILE, N - j0), s = q % ns;
      const int64_t k0 = F * s / ns, k1 = F * (s + 1) / ns;
      const bool with_b = gbp != nullptr && s == 0;
      acc.assign(k1 - k0, ndp_v16{});
      ndp_v16* a = acc.data() - k0;
      ndp_v16 bacc{};
      for (int64_t r = 0; r < R; ++r) {
        const ndp_v16 gr = v16_load_n(g + r * N + j0, wd);
        const int64_t e0 = ns > 1 ? pos[r * (ns + 1) + s] : cr[r];
        const int64_t e1 = ns > 1 ? pos[r * (ns + 1) + s + 1] : cr[r + 1];
        for (int64_t e = e0; e < e1; ++e) a[cc[e]] += gr;
        if (with_b) bacc += gr;
      }
      for (int64_t k = k0; k < k1; ++k) {
        float t[TILE];
        v16_store(t, a[k]);
        for (int64_t jj = 0; jj < wd; ++jj) gwp[(j0 + jj) * F + k] = t[jj];
      }
      if (with_b) v16_store_n(gbp + j0, bacc, wd);
    }
  });
}

// y (R, N) = bias + Σ_{k ∈ cols of row r} W[:, k] for W (N, F) contiguous; each y[r, j] summed
// from the bias in ascending k.
torch::Tensor csr_linear(torch::Tensor crow, torch::Tensor cols, torch::Tensor weight,
                         torch::Tensor bias) {
  TORCH_CHECK(weight.dim() == 2 && weight.is_contiguous() && weight.scalar_type() == torch::kFloat,
              "csr_linear: weight must be (N, F) contiguous float32");
  const int64_t R = crow.size(0) - 1, N = weight.size(0), F = weight.size(1);
  auto y = torch::empty({R, N}, weight.options());
  const int64_t* cr = crow.data_ptr<int64_t>();
  const int32_t* cc = cols.data_ptr<int32_t>();
  const float* b = bias.numel() ? bias.data_ptr<float>() : nullptr;
  if (N <= TILE_MAX_N) {
    tiled_linear(cr, cc, weight.data_ptr<float>(), b, y.data_ptr<float>(), R, N, F);
  } else {
    static thread_local std::vector<float> wt_buf;
    std::vector<float> tmp;
    float* wt = scratch(wt_buf, tmp, F * N);
    transpose_into(weight.data_ptr<float>(), wt, N, F);
    rows_linear(cr, cc, wt, b, y.data_ptr<float>(), R, N);
  }
  return y;
}

// {gw (N, F), gb (N) or empty}: gw[j, k] = Σ_{rows r with a one at k} ∂L/∂y[r, j] and
// gb = Σ_r ∂L/∂y[r] (with bias_grad), each summed in ascending r (the same bits at any thread
// count).
std::vector<torch::Tensor> csr_linear_wgrad(torch::Tensor crow, torch::Tensor cols,
                                            torch::Tensor gy, int64_t F, bool bias_grad) {
  const int64_t R = crow.size(0) - 1, N = gy.size(1);
  auto gw = torch::empty({N, F}, gy.options());
  auto gb = torch::empty({bias_grad ? N : 0}, gy.options());
  const int64_t* cr = crow.data_ptr<int64_t>();
  const int32_t* cc = cols.data_ptr<int32_t>();
  float* gbp = bias_grad ? gb.data_ptr<float>() : nullptr;
  if (N <= TILE_MAX_N) {
    tiled_wgrad(cr, cc, gy.data_ptr<float>(), gw.data_ptr<float>(), gbp, R, N, F);
  } else {
    static thread_local std::vector<float> gwt_buf;
    std::vector<float> tmp;
    float* gwt = scratch(gwt_buf, tmp, (F + 1) * N);
    rows_wgrad(cr, cc, gy.data_ptr<float>(), gwt, R, N, F, bias_grad);
    transpose_into(gwt, gw.data_ptr<float>(), F, N);
    if (bias_grad) std::memcpy(gbp, gwt + F * N, N * sizeof(float));
  }
  return {gw, gb};
}

// A caller-provided output buffer (the Python side reuses buffers between calls: fresh
// multi-megabyte allocations page-fault on first touch), or a new tensor when it is empty.
static torch::Tensor out_like(const torch::Tensor& given, const torch::Tensor& like) {
  if (!given.defined() || given.numel() == 0) return torch::empty_like(like);
  TORCH_CHECK(given.sizes() == like.sizes() && given.dtype() == like.dtype() &&
              given.is_contiguous(), "scan: output buffer does not match");
  return given;
}

// x (T, M); v, cur (M,) running state, updated in place to the final state;
// z_out, vpre_out: output buffers (T, M) or empty (allocate).
// coefficients (M,) each (di, gi empty without a synaptic current).
// asgl: N_HEAVISIDE spikes, N_CLIP / N_SIGMOID ASGL noisy spikes (H_α; width alpha, mask from
// seed and probability p); needs save and not save_i.
// write_z false (Heaviside spikes with save and not save_i only): the spikes are not written,
// z comes back empty (spike_csr reads them from vpre).
// Returns z (T, M), vpre (T, M) (empty unless save), iseq (T, M) (empty unless save_i).
std::vector<torch::Tensor> scan_forward(torch::Tensor x, torch::Tensor v, torch::Tensor cur,
    torch::Tensor dv, torch::Tensor lv, torch::Tensor gv, torch::Tensor di, torch::Tensor gi,
    torch::Tensor vth, torch::Tensor vr, bool subtract, bool save, bool save_i, int64_t asgl,
    double alpha, int64_t seed, double p, torch::Tensor z_out, torch::Tensor vpre_out,
    bool write_z) {
  const int64_t T = x.size(0), M = x.size(1);
  const bool has_i = di.numel() > 0;
  TORCH_CHECK(asgl >= N_HEAVISIDE && asgl < N_COUNT && (asgl == N_HEAVISIDE || (save && !save_i)),
              "scan_forward: ASGL spikes need save=True, save_i=False");
  TORCH_CHECK(write_z || (asgl == N_HEAVISIDE && save && !save_i),
              "scan_forward: write_z=False needs Heaviside spikes, save=True, save_i=False");
  auto z = write_z ? out_like(z_out, x) : torch::empty({0}, x.options());
  auto vpre = save ? out_like(vpre_out, x) : torch::empty({0}, x.options());
  auto iseq = (save_i && has_i) ? torch::empty_like(x) : torch::empty({0}, x.options());
  const AsglFwd as = asgl_args(alpha, seed, p);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "scan_forward", [&] {
    auto run = [&](auto hi_, auto sb_, auto sv_, auto si_, auto as_, auto wz_) {
      fwd<scalar_t, decltype(hi_)::value, decltype(sb_)::value, decltype(sv_)::value,
          decltype(si_)::value, decltype(as_)::value, decltype(wz_)::value>(
          x.data_ptr<scalar_t>(), mp<scalar_t>(z),
          mp<scalar_t>(vpre), mp<scalar_t>(iseq), v.data_ptr<scalar_t>(), mp<scalar_t>(cur),
          cp<scalar_t>(dv), cp<scalar_t>(lv), cp<scalar_t>(gv), cp<scalar_t>(di),
          cp<scalar_t>(gi), cp<scalar_t>(vth), cp<scalar_t>(vr), as, T, M);
    };
    using I0 = std::integral_constant<int, N_HEAVISIDE>;
    using Tr = std::true_type;
    using Fa = std::false_type;
    NDP_BOOL(has_i, HI, NDP_BOOL(subtract, SB,
      using HT = std::bool_constant<HI>; using ST = std::bool_constant<SB>;
      if (asgl == N_CLIP) run(HT{}, ST{}, Tr{}, Fa{}, std::integral_constant<int, N_CLIP>{}, Tr{});
      else if (asgl == N_SIGMOID) run(HT{}, ST{}, Tr{}, Fa{}, std::integral_constant<int, N_SIGMOID>{}, Tr{});
      else if (!write_z) run(HT{}, ST{}, Tr{}, Fa{}, I0{}, Fa{});
      else NDP_BOOL(save, SV, NDP_BOOL(save_i && has_i, SI,
        run(HT{}, ST{}, std::bool_constant<SV>{}, std::bool_constant<SI>{}, I0{}, Tr{});))))
  });
  return {z, vpre, iseq};
}

// Calls run(has_i, subtract, coef_grad, kind, zsaved) with compile-time values, instantiating
// only the combinations the Python side uses: coefficient grads with kinds 0 and 1, analog
// spikes with the ASGL kinds, every kind otherwise.
#define NDP_KIND(K, CGT, ZST) case K: run(HT{}, ST{}, CGT{}, std::integral_constant<int, K>{}, ZST{}); break;
template <bool HI, bool SB, typename Run>
void pick_kind(Run& run, bool coef_grad, bool zsaved, int64_t kind) {
  using HT = std::bool_constant<HI>;
  using ST = std::bool_constant<SB>;
  using F = std::false_type;
  using Tr = std::true_type;
  if (coef_grad) {
    switch (kind) {
      NDP_KIND(K_FAST_SIGMOID, Tr, F)
      default: run(HT{}, ST{}, Tr{}, std::integral_constant<int, K_TENSOR>{}, F{});
    }
  } else if (zsaved) {
    switch (kind) {
      NDP_KIND(K_ASGL_SIGMOID, F, Tr)
      default: run(HT{}, ST{}, F{}, std::integral_constant<int, K_ASGL_CLIP>{}, Tr{});
    }
  } else {
    switch (kind) {
      NDP_KIND(K_FAST_SIGMOID, F, F) NDP_KIND(K_SIGMOID, F, F) NDP_KIND(K_ARCTAN, F, F)
      NDP_KIND(K_TRIANGLE, F, F) NDP_KIND(K_RECTANGLE, F, F) NDP_KIND(K_GAUSSIAN, F, F)
      NDP_KIND(K_STRAIGHT_THROUGH, F, F) NDP_KIND(K_ADALI, F, F) NDP_KIND(K_ASY, F, F)
      NDP_KIND(K_ASGL_CLIP, F, F) NDP_KIND(K_ASGL_SIGMOID, F, F)
      default: run(HT{}, ST{}, F{}, std::integral_constant<int, K_TENSOR>{}, F{});
    }
  }
}
#undef NDP_KIND

// gv, gi (M,): in: grads of the final state; out: grads of the initial state (in place).
// kind: the surrogate (surrogate_kinds.py); 0: read sg (T, M). p0..p3: its values.
// zs: ASGL's analog training spikes (T, M), or empty (binary spikes, recomputed from vpre).
// gx_out: output buffer (T, M) or empty (allocate).
// Returns gx (T, M); seven (M,) per-element coefficient grads if coef_grad (decay_v, leak_v,
// gain_v, decay_i, gain_i, v_th, v_reset), else seven empty tensors; dL/dα (0-dim, ASGL's
// width p0) or empty; the number of non-zero surrogate values (0-dim int64).
std::vector<torch::Tensor> scan_backward(torch::Tensor gz, torch::Tensor sg, torch::Tensor vpre,
    torch::Tensor zs, torch::Tensor iseq, torch::Tensor x, torch::Tensor v0, torch::Tensor i0,
    torch::Tensor gv, torch::Tensor gi, torch::Tensor dv, torch::Tensor gvc, torch::Tensor di,
    torch::Tensor gic, torch::Tensor vth, torch::Tensor vr, bool subtract, bool coef_grad,
    int64_t kind, double p0, double p1, double p2, double p3, torch::Tensor gx_out) {
  const int64_t T = vpre.size(0), M = vpre.size(1);
  const bool has_i = di.numel() > 0;
  const bool zsaved = zs.numel() > 0;
  TORCH_CHECK(kind >= 0 && kind < K_COUNT, "scan_backward: unknown surrogate kind ", kind);
  TORCH_CHECK(!coef_grad || kind == K_TENSOR || kind == K_FAST_SIGMOID,
              "scan_backward: coefficient gradients need kind 0 or 1");
  TORCH_CHECK(!zsaved || (!coef_grad && (kind == K_ASGL_CLIP || kind == K_ASGL_SIGMOID)),
              "scan_backward: analog spikes need an ASGL kind and no coefficient gradients");
  TORCH_CHECK(kind != K_TENSOR || sg.numel() == T * M, "scan_backward: kind 0 needs sg");
  auto gx = out_like(gx_out, vpre);
  std::vector<torch::Tensor> cg;
  for (int k = 0; k < 7; ++k)
    cg.push_back(coef_grad ? torch::zeros({M}, vpre.options()) : torch::empty({0}, vpre.options()));
  auto g_alpha = zsaved ? torch::zeros({M}, vpre.options()) : torch::empty({0}, vpre.options());
  // one count per block of bwd (BLOCK lanes or more: unused entries stay 0)
  auto active = torch::zeros({(M + BLOCK - 1) / BLOCK}, vpre.options().dtype(torch::kLong));
  const SurrogateArgs sa{p0, p1, p2, p3};
  AT_DISPATCH_FLOATING_TYPES(vpre.scalar_type(), "scan_backward", [&] {
    auto run = [&](auto hi_, auto sb_, auto cg_, auto kind_, auto zs_) {
      bwd<scalar_t, decltype(hi_)::value, decltype(sb_)::value, decltype(cg_)::value,
          decltype(kind_)::value, decltype(zs_)::value>(
          sa, gz.data_ptr<scalar_t>(), cp<scalar_t>(sg), vpre.data_ptr<scalar_t>(),
          cp<scalar_t>(zs), mp<scalar_t>(g_alpha), cp<scalar_t>(iseq), cp<scalar_t>(x),
          cp<scalar_t>(v0), cp<scalar_t>(i0), gx.data_ptr<scalar_t>(), gv.data_ptr<scalar_t>(),
          mp<scalar_t>(gi), cp<scalar_t>(dv), cp<scalar_t>(gvc), cp<scalar_t>(di),
          cp<scalar_t>(gic), cp<scalar_t>(vth), cp<scalar_t>(vr), mp<scalar_t>(cg[0]),
          mp<scalar_t>(cg[1]), mp<scalar_t>(cg[2]), mp<scalar_t>(cg[3]), mp<scalar_t>(cg[4]),
          mp<scalar_t>(cg[5]), mp<scalar_t>(cg[6]), T, M, active.data_ptr<int64_t>());
    };
    NDP_BOOL(has_i, HI, NDP_BOOL(subtract, SB, pick_kind<HI, SB>(run, coef_grad, zsaved, kind);))
  });
  std::vector<torch::Tensor> out{gx};
  out.insert(out.end(), cg.begin(), cg.end());
  out.push_back(zsaved ? g_alpha.sum() : g_alpha);
  out.push_back(active.sum());
  return out;
}

// ---- conv: the neuron scan fused with the SumPool2d after it ---------------------------------
// A spiking conv layer's neurons (T, P, H, W), P = B·C planes of H·W neurons, feed a
// non-overlapping k×k sum pool. pool_scan_forward writes each step's pooled spike counts
// p (T, P, Ho, Wo), Ho = H / k, Wo = W / k (floor: rows/columns past Ho·k, Wo·k are scanned but
// pooled nowhere, as avg_pool2d drops them) and never the full-size spikes; pool_scan_backward
// reads ∂L/∂p and gives every neuron of a window that window's gradient (0 outside every window),
// which is what SumPool2d's backward hands the unfused scan. Spikes are 0/1, so each pooled sum is
// a small integer, exact in any order. Work unit: one plane (its state and coefficients stay in
// L1/L2 over T). Coefficients: (1,) (broadcast) or (P·H·W,) per neuron. The state starts at zero
// and lives in a plane-sized scratch buffer (its final value is not needed: SpikingSequential
// discards it), so does the backward's.
namespace {
struct PoolGeom { int64_t T, P, H, W, k, Ho, Wo; };

template <typename s_t> struct Coef { const s_t* p; bool scalar; };
template <typename s_t> inline Coef<s_t> coef(const torch::Tensor& t) {
  return {t.numel() ? t.data_ptr<s_t>() : nullptr, t.numel() == 1};
}
// plane q's values of c into dst (n values)
template <typename s_t> inline void plane_coef(Coef<s_t> c, s_t* dst, int64_t q, int64_t n) {
  if (c.p == nullptr) return;
  if (c.scalar) std::fill(dst, dst + n, c.p[0]);
  else std::memcpy(dst, c.p + q * n, n * sizeof(s_t));
}

template <typename s_t>
inline void pool_plane(const s_t* __restrict__ zl, s_t* __restrict__ pt, const PoolGeom& g) {
  for (int64_t ho = 0; ho < g.Ho; ++ho) {
    for (int64_t wo = 0; wo < g.Wo; ++wo) {
      s_t s = s_t(0);
      for (int64_t a = 0; a < g.k; ++a) {
        const s_t* row = zl + (ho * g.k + a) * g.W + wo * g.k;
        for (int64_t b = 0; b < g.k; ++b) s += row[b];
      }
      pt[ho * g.Wo + wo] = s;
    }
  }
}

template <typename s_t>
inline void unpool_plane(const s_t* __restrict__ gpt, s_t* __restrict__ gzl, const PoolGeom& g) {
  const int64_t hk = g.Ho * g.k, wk = g.Wo * g.k;
  for (int64_t h = 0; h < g.H; ++h) {
    s_t* row = gzl + h * g.W;
    if (h >= hk) { std::fill(row, row + g.W, s_t(0)); continue; }
    const s_t* src = gpt + (h / g.k) * g.Wo;
    for (int64_t wo = 0; wo < g.Wo; ++wo)
      for (int64_t b = 0; b < g.k; ++b) row[wo * g.k + b] = src[wo];
    std::fill(row + wk, row + g.W, s_t(0));
  }
}

// One plane forward over T: the step of fwd_block (Heaviside spikes), spikes into zl, then pooled.
// l: local coefficients, n values each: dv lv gv di gi vth vr.
template <typename s_t, bool HAS_I, bool SUB, bool SAVE>
__attribute__((noinline)) void pool_fwd_plane(
    const s_t* __restrict__ x, s_t* __restrict__ p, s_t* __restrict__ vpre,
    s_t* __restrict__ v, s_t* __restrict__ cur, const s_t* __restrict__ dv,
    const s_t* __restrict__ lv, const s_t* __restrict__ gv, const s_t* __restrict__ di,
    const s_t* __restrict__ gi, const s_t* __restrict__ vth, const s_t* __restrict__ vr,
    s_t* __restrict__ zl, const PoolGeom& g, int64_t q) {
  const int64_t n = g.H * g.W, M = g.P * n, no = g.Ho * g.Wo, Mo = g.P * no;
  for (int64_t t = 0; t < g.T; ++t) {
    const s_t* xt = x + t * M + q * n;
    s_t* vt = vpre + t * M + q * n;
    for (int64_t j = 0; j < n; ++j) {
      s_t c;
      if (HAS_I) {
        c = di[j] * cur[j] + gi[j] * xt[j];
        cur[j] = c;
      } else {
        c = xt[j];
      }
      const s_t vp = dv[j] * v[j] + lv[j] + gv[j] * c;
      const s_t zz = (vp - vth[j]) > s_t(0) ? s_t(1) : s_t(0);
      if (SAVE) vt[j] = vp;
      zl[j] = zz;
      v[j] = SUB ? vp - zz * vth[j] : vp - zz * (vp - vr[j]);
    }
    pool_plane(zl, p + t * Mo + q * no, g);
  }
}

// One plane backward over T (bwd_block without coefficient gradients or analog spikes), the
// spikes' gradient read from the pooled gradient gp.
template <typename s_t, bool HAS_I, bool SUB, int KIND>
__attribute__((noinline)) void pool_bwd_plane(
    SurrogateArgs sa, const s_t* __restrict__ gp, const s_t* __restrict__ sg,
    const s_t* __restrict__ vpre, s_t* __restrict__ gx, s_t* __restrict__ gv,
    s_t* __restrict__ gi, const s_t* __restrict__ dv, const s_t* __restrict__ gvc,
    const s_t* __restrict__ di, const s_t* __restrict__ gic, const s_t* __restrict__ vth,
    const s_t* __restrict__ vr, s_t* __restrict__ gzl, const PoolGeom& g, int64_t q,
    int64_t* active) {
  const s_t p0 = (s_t)sa.p0, p1 = (s_t)sa.p1, p2 = (s_t)sa.p2, p3 = (s_t)sa.p3;
  const int64_t n = g.H * g.W, M = g.P * n, no = g.Ho * g.Wo, Mo = g.P * no;
  int32_t nonzero = 0;
  for (int64_t t = g.T - 1; t >= 0; --t) {
    unpool_plane(gp + t * Mo + q * no, gzl, g);
    const int64_t o = t * M + q * n;
    for (int64_t j = 0; j < n; ++j) {
      const s_t vp = vpre[o + j];
      const s_t u = vp - vth[j];
      const s_t zz = u > s_t(0) ? s_t(1) : s_t(0);
      const s_t s = KIND == K_TENSOR ? sg[o + j] : surrogate<s_t, KIND>(u, p0, p1, p2, p3);
      nonzero += (int32_t)(s != s_t(0));
      const s_t gvn = gv[j];
      const s_t gzt = gzl[j] - gvn * (SUB ? vth[j] : (vp - vr[j]));
      const s_t gvp = (SUB ? gvn : gvn * (s_t(1) - zz)) + gzt * s;
      const s_t gcur = gvp * gvc[j] + (HAS_I ? gi[j] : s_t(0));
      if (HAS_I) {
        gx[o + j] = gcur * gic[j];
        gi[j] = gcur * di[j];
      } else {
        gx[o + j] = gcur;
      }
      gv[j] = gvp * dv[j];
    }
  }
  *active += nonzero;
}

inline PoolGeom pool_geom(const torch::Tensor& x, int64_t P, int64_t H, int64_t W, int64_t k) {
  TORCH_CHECK(k >= 1 && H >= k && W >= k && x.dim() == 2 && x.size(1) == P * H * W &&
              x.is_contiguous(), "pool_scan: x must be (T, P·H·W) contiguous with H, W ≥ k ≥ 1");
  return {x.size(0), P, H, W, k, H / k, W / k};
}
inline int64_t plane_grain(int64_t n) { return std::max<int64_t>(1, 1024 / n); }
}  // namespace

// x (T, P·H·W); coefficients (1,) or (P·H·W,) (di, gi empty without a synaptic current); p_out (T, P·Ho·Wo)
// and vpre_out (T, P·H·W): buffers or empty (allocate). Returns {p, vpre (empty unless save)}.
std::vector<torch::Tensor> pool_scan_forward(torch::Tensor x, torch::Tensor dv, torch::Tensor lv, torch::Tensor gv, torch::Tensor di, torch::Tensor gi,
    torch::Tensor vth, torch::Tensor vr, bool subtract, bool save, int64_t P, int64_t H,
    int64_t W, int64_t k, torch::Tensor p_out, torch::Tensor vpre_out) {
  const PoolGeom g = pool_geom(x, P, H, W, k);
  const bool has_i = di.numel() > 0;
  auto p = out_like(p_out, torch::empty({g.T, P * g.Ho * g.Wo}, x.options()));
  auto vpre = save ? out_like(vpre_out, x) : torch::empty({0}, x.options());
  const int64_t n = H * W;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "pool_scan_forward", [&] {
    const Coef<scalar_t> cs[7] = {coef<scalar_t>(dv), coef<scalar_t>(lv), coef<scalar_t>(gv),
                                  coef<scalar_t>(di), coef<scalar_t>(gi), coef<scalar_t>(vth),
                                  coef<scalar_t>(vr)};
    scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* pp = p.data_ptr<scalar_t>();
    scalar_t* vpp = mp<scalar_t>(vpre);
    at::parallel_for(0, P, plane_grain(n), [&](int64_t q0, int64_t q1) {
      std::vector<scalar_t> buf(10 * n);
      scalar_t* l[7];
      for (int c = 0; c < 7; ++c) l[c] = buf.data() + c * n;
      scalar_t* zl = buf.data() + 7 * n;
      scalar_t* v = buf.data() + 8 * n;
      scalar_t* cur = buf.data() + 9 * n;
      for (int64_t q = q0; q < q1; ++q) {
        for (int c = 0; c < 7; ++c) plane_coef(cs[c], l[c], q, n);
        std::fill(v, v + 2 * n, scalar_t(0));
        NDP_BOOL(has_i, HI, NDP_BOOL(subtract, SB, NDP_BOOL(save, SV,
          pool_fwd_plane<scalar_t, HI, SB, SV>(xp, pp, vpp, v, cur, l[0], l[1], l[2], l[3],
                                               l[4], l[5], l[6], zl, g, q);)))
      }
    });
  });
  return {p, vpre};
}

#define NDP_PK(K) case K: run(HT{}, ST{}, std::integral_constant<int, K>{}); break;
// gp (T, P·Ho·Wo): ∂L/∂p. vpre (T, P·H·W) from the forward (the final state's gradient is
// zero, the initial state's is not returned). sg: kind 0's derivative (T, P·H·W)
// or empty. gx_out: buffer or empty. Returns {gx (T, P·H·W), non-zero surrogate values (0-dim)}.
std::vector<torch::Tensor> pool_scan_backward(torch::Tensor gp, torch::Tensor sg,
    torch::Tensor vpre, torch::Tensor dv, torch::Tensor gvc,
    torch::Tensor di, torch::Tensor gic, torch::Tensor vth, torch::Tensor vr, bool subtract,
    int64_t kind, double p0, double p1, double p2, double p3, int64_t P, int64_t H, int64_t W,
    int64_t k, torch::Tensor gx_out) {
  const PoolGeom g = pool_geom(vpre, P, H, W, k);
  TORCH_CHECK(gp.is_contiguous() && gp.numel() == g.T * P * g.Ho * g.Wo,
              "pool_scan_backward: gp must be (T, P·Ho·Wo) contiguous");
  TORCH_CHECK(kind >= 0 && kind < K_COUNT, "pool_scan_backward: unknown surrogate kind ", kind);
  TORCH_CHECK(kind != K_TENSOR || sg.numel() == vpre.numel(), "pool_scan_backward: kind 0 needs sg");
  const bool has_i = di.numel() > 0;
  auto gx = out_like(gx_out, vpre);
  const int64_t n = H * W;
  const int64_t nblk = (P + plane_grain(n) - 1) / plane_grain(n);
  auto active = torch::zeros({nblk}, vpre.options().dtype(torch::kLong));
  const SurrogateArgs sa{p0, p1, p2, p3};
  AT_DISPATCH_FLOATING_TYPES(vpre.scalar_type(), "pool_scan_backward", [&] {
    const Coef<scalar_t> cs[7] = {coef<scalar_t>(dv), coef<scalar_t>(gvc), coef<scalar_t>(di),
                                  coef<scalar_t>(gic), coef<scalar_t>(vth), coef<scalar_t>(vr),
                                  {nullptr, false}};
    const scalar_t* gpp = gp.data_ptr<scalar_t>();
    const scalar_t* sgp = cp<scalar_t>(sg);
    const scalar_t* vpp = vpre.data_ptr<scalar_t>();
    scalar_t* gxp = gx.data_ptr<scalar_t>();
    int64_t* act = active.data_ptr<int64_t>();
    const int64_t grain = plane_grain(n);
    at::parallel_for(0, nblk, 1, [&](int64_t b0, int64_t b1) {
      std::vector<scalar_t> buf(9 * n);
      scalar_t* l[6];
      for (int c = 0; c < 6; ++c) l[c] = buf.data() + c * n;
      scalar_t* gzl = buf.data() + 6 * n;
      scalar_t* gvl = buf.data() + 7 * n;
      scalar_t* gil = buf.data() + 8 * n;
      for (int64_t blk = b0; blk < b1; ++blk) {
        for (int64_t q = blk * grain; q < std::min(P, (blk + 1) * grain); ++q) {
          for (int c = 0; c < 6; ++c) plane_coef(cs[c], l[c], q, n);
          std::fill(gvl, gvl + 2 * n, scalar_t(0));
          auto run = [&](auto hi_, auto sb_, auto kind_) {
            constexpr bool HI = decltype(hi_)::value;
            pool_bwd_plane<scalar_t, HI, decltype(sb_)::value, decltype(kind_)::value>(
                sa, gpp, sgp, vpp, gxp, gvl, gil, l[0], l[1],
                l[2], l[3], l[4], l[5], gzl, g, q, act + blk);
          };
          NDP_BOOL(has_i, HI, NDP_BOOL(subtract, SB,
            using HT = std::bool_constant<HI>; using ST = std::bool_constant<SB>;
            switch (kind) {
              NDP_PK(K_FAST_SIGMOID) NDP_PK(K_SIGMOID) NDP_PK(K_ARCTAN) NDP_PK(K_TRIANGLE)
              NDP_PK(K_RECTANGLE) NDP_PK(K_GAUSSIAN) NDP_PK(K_STRAIGHT_THROUGH) NDP_PK(K_ADALI)
              NDP_PK(K_ASY) NDP_PK(K_ASGL_CLIP) NDP_PK(K_ASGL_SIGMOID)
              default: run(HT{}, ST{}, std::integral_constant<int, K_TENSOR>{});
            }))
        }
      }
    });
  });
  return {gx, active.sum()};
}
#undef NDP_PK

// ASGL's mask as scan_forward draws it: (T, M) uint8, 1 with probability p (tests, reference).
torch::Tensor asgl_mask(int64_t T, int64_t M, int64_t seed, double p) {
  auto m = torch::empty({T, M}, torch::TensorOptions().dtype(torch::kByte));
  uint8_t* mp_ = m.data_ptr<uint8_t>();
  const AsglFwd as = asgl_args(1.0, seed, p);
  at::parallel_for(0, T, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const uint32_t key = step_key(as, t);
      for (int64_t j = 0; j < M; ++j)
        mp_[t * M + j] = mask_bit((uint32_t)j, key, as.seed_lo, as.thresh);
    }
  });
  return m;
}

// ==== recurrent layer: the recurrent product from the previous step's active neurons =========
// (neurodeploy/neurons/recurrent.py). Layout: x, z, vpre, gz, gx (T, R, N) contiguous, R = rows
// (batch and any other leading axes), N neurons; the recurrence acts within a row, so rows are
// independent and run in parallel, each over all T steps (no synchronisation per step).
// Forward, per row and step: rec = Σ_{k active at t-1} W_recᵀ[k] (ascending k, from 0: binary
// spikes make every product exact, so this is the dense product's sum in its order), then
// u = x + rec and the neuron step of fwd_block (same operations), then the step's active
// indices are compacted from the row just written (in L1). Backward, per step (reverse):
// dL/dz[t] = gz[t] + dL/du[t+1]·W_rec (one BLAS addmm per step over all rows), then bwd_block
// on that step (the scan's backward, same surrogate kinds); dL/dW_rec from the active lists.

namespace {
// rec = Σ_e wt[idx[e]] (ascending e, from 0). Blocks of 8 explicit 32-byte vectors accumulate
// in registers, so each weight row is read once and rec written once. GCC vectorised the plain
// loop across e with gathers: the forward was 1.9× slower at 6 % active, 3.4× at 100 % (CPU time,
// one thread, also with the rows-outer loop order rec_fwd had then).
template <typename s_t>
__attribute__((noinline)) void rec_gather(s_t* __restrict__ rec, const s_t* __restrict__ wt,
                                          const int32_t* __restrict__ idx, int64_t n, int64_t N) {
  typedef s_t V __attribute__((vector_size(32)));
  constexpr int64_t L = 32 / sizeof(s_t), U = 8;
  int64_t j0 = 0;
  for (; j0 + U * L <= N; j0 += U * L) {
    V acc[U];
    for (int64_t u = 0; u < U; ++u) acc[u] = V{};
    for (int64_t e = 0; e < n; ++e) {
      const s_t* w = wt + (int64_t)idx[e] * N + j0;
      for (int64_t u = 0; u < U; ++u) {
        V a;
        std::memcpy(&a, w + u * L, sizeof a);
        acc[u] += a;
      }
    }
    for (int64_t u = 0; u < U; ++u) std::memcpy(rec + j0 + u * L, &acc[u], sizeof(V));
  }
  for (; j0 + L <= N; j0 += L) {
    V acc = V{};
    for (int64_t e = 0; e < n; ++e) {
      V a;
      std::memcpy(&a, wt + (int64_t)idx[e] * N + j0, sizeof a);
      acc += a;
    }
    std::memcpy(rec + j0, &acc, sizeof(V));
  }
  for (int64_t j = j0; j < N; ++j) {
    s_t a = s_t(0);
    for (int64_t e = 0; e < n; ++e) a += wt[(int64_t)idx[e] * N + j];
    rec[j] = a;
  }
}

// One step of one row: u = x + rec, then fwd_block's neuron step (operation by operation).
template <typename s_t, bool HAS_I, bool SUB, bool SAVE>
__attribute__((noinline)) void rec_row_step(
    const s_t* __restrict__ x, const s_t* __restrict__ rec, s_t* __restrict__ z,
    s_t* __restrict__ vpre, s_t* __restrict__ v, s_t* __restrict__ cur,
    const s_t* __restrict__ dv, const s_t* __restrict__ lv, const s_t* __restrict__ gv,
    const s_t* __restrict__ di, const s_t* __restrict__ gi, const s_t* __restrict__ vth,
    const s_t* __restrict__ vr, int64_t N) {
  for (int64_t j = 0; j < N; ++j) {
    const s_t u = x[j] + rec[j];
    s_t c;
    if (HAS_I) {
      c = di[j] * cur[j] + gi[j] * u;
      cur[j] = c;
    } else {
      c = u;
    }
    const s_t vp = dv[j] * v[j] + lv[j] + gv[j] * c;
    const s_t zz = (vp - vth[j]) > s_t(0) ? s_t(1) : s_t(0);
    if (SAVE) vpre[j] = vp;
    z[j] = zz;
    v[j] = SUB ? vp - zz * vth[j] : vp - zz * (vp - vr[j]);
  }
}

template <typename s_t>
inline int64_t rec_compact(const s_t* __restrict__ z, int32_t* __restrict__ idx, int64_t N) {
  int64_t n = 0;
  for (int64_t j = 0; j < N; ++j) {
    idx[n] = (int32_t)j;
    n += z[j] != s_t(0);
  }
  return n;
}

template <typename s_t, bool HAS_I, bool SUB, bool SAVE>
void rec_fwd(const s_t* x, s_t* z, s_t* vpre, s_t* v, s_t* cur, const s_t* wt, const s_t* dv,
             const s_t* lv, const s_t* gv, const s_t* di, const s_t* gi, const s_t* vth,
             const s_t* vr, int64_t T, int64_t R, int64_t N, int64_t* counts,
             std::vector<std::vector<int32_t>>& lists) {
  const int64_t M = R * N;
  // each thread a block of rows; within it steps outer, rows inner (x, z, vpre read and
  // written sequentially)
  at::parallel_for(0, R, 1, [&](int64_t r0, int64_t r1) {
    std::vector<s_t> rec((size_t)N);
    std::vector<int64_t> prev((size_t)(r1 - r0), 0), prev_n((size_t)(r1 - r0), 0);
    for (int64_t r = r0; r < r1; ++r) {
      lists[r].clear();
      lists[r].reserve((size_t)(N * 2));
    }
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t r = r0; r < r1; ++r) {
        std::vector<int32_t>& act = lists[r];
        const int64_t o = r * N, q = r - r0;
        rec_gather<s_t>(rec.data(), wt, act.data() + prev[q], prev_n[q], N);
        const int64_t ot = t * M + o;
        rec_row_step<s_t, HAS_I, SUB, SAVE>(
            x + ot, rec.data(), z + ot, SAVE ? vpre + ot : nullptr, v + o,
            HAS_I ? cur + o : nullptr, dv + o, lv + o, gv + o, HAS_I ? di + o : nullptr,
            HAS_I ? gi + o : nullptr, vth + o, vr + o, N);
        const size_t base = act.size();
        act.resize(base + (size_t)N);
        const int64_t n = rec_compact<s_t>(z + ot, act.data() + base, N);
        act.resize(base + (size_t)n);
        counts[r * T + t] = n;
        prev[q] = (int64_t)base;
        prev_n[q] = n;
      }
    }
  });
}
}  // namespace

// x (T, R, N); v, cur (R·N,) running state, updated in place to the final state; wt = W_recᵀ
// (N, N) contiguous (row k: the weights out of neuron k); coefficients (R·N,) each (di, gi empty
// without a synaptic current); z_out, vpre_out: output buffers (T, R, N) or empty (allocate).
// Returns z (T, R, N); vpre (T, R, N) (empty unless save); the active neurons of every (row,
// step) as CSR in (row, step) order: offsets (R·T + 1) int64 and indices (nnz) int32 (both
// empty unless save).
std::vector<torch::Tensor> rec_forward(torch::Tensor x, torch::Tensor v, torch::Tensor cur,
    torch::Tensor wt, torch::Tensor dv, torch::Tensor lv, torch::Tensor gv, torch::Tensor di,
    torch::Tensor gi, torch::Tensor vth, torch::Tensor vr, bool subtract, bool save,
    torch::Tensor z_out, torch::Tensor vpre_out) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous() && wt.is_contiguous() &&
              wt.size(0) == x.size(2) && wt.size(1) == x.size(2),
              "rec_forward: x (T, R, N) and W_recᵀ (N, N) contiguous");
  const int64_t T = x.size(0), R = x.size(1), N = x.size(2);
  const bool has_i = di.numel() > 0;
  auto z = out_like(z_out, x);
  auto vpre = save ? out_like(vpre_out, x) : torch::empty({0}, x.options());
  auto counts = torch::empty({R * T}, x.options().dtype(torch::kLong));
  std::vector<std::vector<int32_t>> lists((size_t)R);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rec_forward", [&] {
    NDP_BOOL(has_i, HI, NDP_BOOL(subtract, SB, NDP_BOOL(save, SV,
      rec_fwd<scalar_t, HI, SB, SV>(
          x.data_ptr<scalar_t>(), z.data_ptr<scalar_t>(), mp<scalar_t>(vpre),
          v.data_ptr<scalar_t>(), mp<scalar_t>(cur), wt.data_ptr<scalar_t>(),
          cp<scalar_t>(dv), cp<scalar_t>(lv), cp<scalar_t>(gv), cp<scalar_t>(di),
          cp<scalar_t>(gi), cp<scalar_t>(vth), cp<scalar_t>(vr), T, R, N,
          counts.data_ptr<int64_t>(), lists);)))
  });
  auto lopt = x.options().dtype(torch::kLong);
  if (!save) return {z, vpre, torch::empty({0}, lopt), torch::empty({0}, x.options().dtype(torch::kInt))};
  auto offs = torch::empty({R * T + 1}, lopt);
  int64_t* op = offs.data_ptr<int64_t>();
  const int64_t* cn = counts.data_ptr<int64_t>();
  op[0] = 0;
  for (int64_t k = 0; k < R * T; ++k) op[k + 1] = op[k] + cn[k];
  auto cols = torch::empty({op[R * T]}, x.options().dtype(torch::kInt));
  int32_t* cl = cols.data_ptr<int32_t>();
  for (int64_t r = 0; r < R; ++r)
    if (!lists[r].empty())
      std::memcpy(cl + op[r * T], lists[r].data(), lists[r].size() * sizeof(int32_t));
  return {z, vpre, offs, cols};
}

// gz, vpre (T, R, N); sg: the surrogate derivative (T, R, N) when kind is 0, else empty;
// w = W_rec (N, N) (out, in) contiguous; gv, gi (R·N,): in: grads of the final state; out:
// grads of the initial state (in place); coefficients (R·N,). kind, p0..p3: as scan_backward.
// gx_out: output buffer (T, R, N) or empty. Returns gx = dL/du = dL/dx (T, R, N) and the number
// of non-zero surrogate values (0-dim int64).
// split_rows (default): each thread takes a contiguous block of rows through all T steps, one
// single-threaded addmm (its rows × N × N) per step: no synchronisation between threads per step
// (on a loaded machine a per-step barrier waits for a descheduled thread). Otherwise: per step,
// one multi-threaded addmm over all rows, then the step's neurons in parallel (two barriers per
// step); kept for measurement (bench/train_step.py's rec part).
std::vector<torch::Tensor> rec_backward(torch::Tensor gz, torch::Tensor sg, torch::Tensor vpre,
    torch::Tensor w, torch::Tensor gv, torch::Tensor gi, torch::Tensor dv, torch::Tensor gvc,
    torch::Tensor di, torch::Tensor gic, torch::Tensor vth, torch::Tensor vr, bool subtract,
    int64_t kind, double p0, double p1, double p2, double p3, torch::Tensor gx_out,
    bool split_rows) {
  TORCH_CHECK(vpre.dim() == 3 && vpre.is_contiguous() && gz.is_contiguous() &&
              gz.sizes() == vpre.sizes() && w.is_contiguous(), "rec_backward: layouts");
  TORCH_CHECK(kind >= 0 && kind < K_COUNT, "rec_backward: unknown surrogate kind ", kind);
  const int64_t T = vpre.size(0), R = vpre.size(1), N = vpre.size(2), M = R * N;
  TORCH_CHECK(kind != K_TENSOR || sg.numel() == T * M, "rec_backward: kind 0 needs sg");
  const bool has_i = di.numel() > 0;
  auto gx = out_like(gx_out, vpre);
  auto dz = torch::empty({R, N}, vpre.options());
  const int64_t nt = split_rows ? std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), R)) : 1;
  const int64_t rb = std::max<int64_t>(1, BLOCK / std::max<int64_t>(N, 1));  // rows per task
  const int64_t ntask = (R + rb - 1) / rb;
  std::vector<int64_t> active((size_t)std::max(ntask, nt), 0);
  const SurrogateArgs sa{p0, p1, p2, p3};
  AT_DISPATCH_FLOATING_TYPES(vpre.scalar_type(), "rec_backward", [&] {
    auto run = [&](auto hi_, auto sb_, auto cg_, auto kind_, auto zs_) {
      constexpr bool HI = decltype(hi_)::value, SB = decltype(sb_)::value;
      constexpr bool CG = decltype(cg_)::value, ZS = decltype(zs_)::value;
      constexpr int KIND = decltype(kind_)::value;
      // rows [r0, r1) of step t; dL/dz[t] = gz[t] + dL/du[t+1] · W_rec first (dz_t holds it)
      auto step = [&](int64_t t, int64_t r0, int64_t r1, const scalar_t* dzp) -> int64_t {
        int64_t a = 0;
        bwd_block<scalar_t, HI, SB, CG, KIND, ZS>(
            sa, dzp, KIND == K_TENSOR ? sg.data_ptr<scalar_t>() + t * M : nullptr,
            vpre.data_ptr<scalar_t>() + t * M, nullptr, nullptr, nullptr, nullptr, nullptr,
            nullptr, gx.data_ptr<scalar_t>() + t * M, gv.data_ptr<scalar_t>(), mp<scalar_t>(gi),
            cp<scalar_t>(dv), cp<scalar_t>(gvc), cp<scalar_t>(di), cp<scalar_t>(gic),
            cp<scalar_t>(vth), cp<scalar_t>(vr), nullptr, nullptr, nullptr, nullptr, nullptr,
            nullptr, nullptr, 1, M, r0 * N, r1 * N, &a);
        return a;
      };
      if (split_rows) {
        at::parallel_for(0, nt, 1, [&](int64_t q0, int64_t q1) {
          for (int64_t q = q0; q < q1; ++q) {
            const int64_t r0 = R * q / nt, r1 = R * (q + 1) / nt;
            if (r1 == r0) continue;
            auto dzq = dz.narrow(0, r0, r1 - r0);
            for (int64_t t = T - 1; t >= 0; --t) {
              const scalar_t* dzp = gz.data_ptr<scalar_t>() + t * M;
              if (t < T - 1) {
                at::addmm_out(dzq, gz[t].narrow(0, r0, r1 - r0), gx[t + 1].narrow(0, r0, r1 - r0), w);
                dzp = dz.data_ptr<scalar_t>();
              }
              active[q] += step(t, r0, r1, dzp);
            }
          }
        });
      } else {
        for (int64_t t = T - 1; t >= 0; --t) {
          const scalar_t* dzp = gz.data_ptr<scalar_t>() + t * M;
          if (t < T - 1) {
            at::addmm_out(dz, gz[t], gx[t + 1], w);
            dzp = dz.data_ptr<scalar_t>();
          }
          at::parallel_for(0, ntask, 1, [&](int64_t b0, int64_t b1) {
            for (int64_t b = b0; b < b1; ++b)
              active[b] += step(t, b * rb, std::min(R, (b + 1) * rb), dzp);
          });
        }
      }
    };
    NDP_BOOL(has_i, HI, NDP_BOOL(subtract, SB, pick_kind<HI, SB>(run, false, false, kind);))
  });
  int64_t total = 0;
  for (int64_t a : active) total += a;
  return {gx, torch::scalar_tensor(total, vpre.options().dtype(torch::kLong))};
}

// dL/dW_rec (N, N) (out, in): Σ over rows r and steps t ≥ 1 of gx[t, r]ᵀ z[t-1, r], as sums of
// gx rows over the active lists of rec_forward (offsets, indices). Each thread sums a contiguous
// range of rows into its own (N, N) buffer; the buffers are added in thread order.
torch::Tensor rec_wgrad(torch::Tensor offs, torch::Tensor cols, torch::Tensor gx) {
  const int64_t T = gx.size(0), R = gx.size(1), N = gx.size(2), M = R * N;
  TORCH_CHECK(gx.is_contiguous() && offs.numel() == R * T + 1, "rec_wgrad: layouts");
  const int64_t nt = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), R));
  auto parts = torch::zeros({nt, N, N}, gx.options());
  const int64_t* op = offs.data_ptr<int64_t>();
  const int32_t* cl = cols.data_ptr<int32_t>();
  AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "rec_wgrad", [&] {
    const scalar_t* g = gx.data_ptr<scalar_t>();
    scalar_t* pp = parts.data_ptr<scalar_t>();
    at::parallel_for(0, nt, 1, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        scalar_t* gwt = pp + q * N * N;   // (in, out)
        for (int64_t r = R * q / nt; r < R * (q + 1) / nt; ++r)
          for (int64_t t = 1; t < T; ++t) {
            const scalar_t* __restrict__ row = g + t * M + r * N;
            for (int64_t e = op[r * T + t - 1]; e < op[r * T + t]; ++e) {
              scalar_t* __restrict__ dst = gwt + (int64_t)cl[e] * N;
              for (int64_t j = 0; j < N; ++j) dst[j] += row[j];
            }
          }
      }
    });
  });
  auto gwt = parts[0];
  for (int64_t q = 1; q < nt; ++q) gwt.add_(parts[q]);
  return gwt.t().contiguous();
}
