#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <vector>

namespace {
constexpr int64_t BLOCK = 1024;  // elements per group of samples: their membranes stay in cache over T

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__clang__)
#define NDP_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NDP_CLONES
#endif

// PE: one coefficient per neuron (else c[0] for all).
template <typename s_t, bool SUB, bool PE>
NDP_CLONES __attribute__((noinline)) void count_group(
    const s_t* __restrict__ vpre, const s_t* __restrict__ z, const s_t* __restrict__ c,
    s_t* __restrict__ prev, int32_t* __restrict__ spk, int64_t* __restrict__ chg,
    int64_t T, int64_t M, int64_t N, int64_t b0, int64_t b1) {
  const s_t c0 = c[0];
  for (int64_t t = 0; t < T; ++t) {
    const s_t* vt = vpre + t * M;
    const s_t* zt = z + t * M;
    int32_t* st = spk + t * N;
    int64_t changed = 0;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t o = b * N;
      s_t* pv = prev + (b - b0) * N;
      int32_t row = 0;  // ≤ N per row: 32-bit lanes vectorise with the float ones
      for (int64_t i = 0; i < N; ++i) {
        const s_t vp = vt[o + i];
        const s_t zz = zt[o + i];
        const s_t ck = PE ? c[i] : c0;
        const s_t post = SUB ? vp - zz * ck : vp - zz * (vp - ck);
        row += post != pv[i];
        pv[i] = post;
        st[i] += zz != s_t(0);
      }
      changed += row;
    }
    if (t > 0) chg[t] += changed;
  }
}

template <typename s_t, bool SUB, bool PE>
void count_all(const s_t* vpre, const s_t* z, const s_t* c, int32_t* spk, int64_t* chg,
               int64_t T, int64_t M, int64_t N, int64_t nt) {
  const int64_t B = N > 0 ? M / N : 0;
  const int64_t group = std::max<int64_t>(1, BLOCK / std::max<int64_t>(N, 1));
  at::parallel_for(0, nt, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t lo = B * p / nt, hi = B * (p + 1) / nt;
      std::vector<s_t> prev(std::min(group, std::max<int64_t>(hi - lo, 1)) * N);
      for (int64_t g = lo; g < hi; g += group)
        count_group<s_t, SUB, PE>(vpre, z, c, prev.data(), spk + p * T * N, chg + p * T, T, M,
                                  N, g, std::min(hi, g + group));
    }
  });
}

template <typename s_t>
NDP_CLONES __attribute__((noinline)) void column_counts(const s_t* __restrict__ w,
                                                        int32_t* __restrict__ cnt, int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; ++r) {
    const s_t* row = w + r * C;
    for (int64_t c = 0; c < C; ++c) cnt[c] += row[c] != s_t(0);
  }
}

#define NDP_BOOL(cond, NAME, ...) \
  if (cond) { constexpr bool NAME = true; __VA_ARGS__ } else { constexpr bool NAME = false; __VA_ARGS__ }
}  // namespace

// Non-zero entries (NaN included, ±0 not) per column of a (R, C) contiguous matrix: (C,) float64.
// One thread: a layer's weights are small, and a parallel region costs more than it saves.
torch::Tensor column_nonzeros(torch::Tensor w) {
  const int64_t R = w.size(0), C = w.size(1);
  std::vector<int32_t> cnt(C, 0);
  AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "column_nonzeros", [&] {
    column_counts<scalar_t>(w.data_ptr<scalar_t>(), cnt.data(), R, C);
  });
  auto out = torch::empty({C}, w.options().dtype(torch::kDouble));
  double* o = out.data_ptr<double>();
  for (int64_t c = 0; c < C; ++c) o[c] = (double)cnt[c];
  return out;
}

// vpre, z: (T, M) contiguous, same floating dtype; c: v_th (subtract) or v_reset (zero reset),
// one value or (N,) per neuron, same dtype; N: neurons per sample (M = B·N).
// Returns {membrane updates per step (T,) float64, spikes per step and neuron (T, N) float64}.
std::vector<torch::Tensor> neuron_counts(torch::Tensor vpre, torch::Tensor z, torch::Tensor c,
                                         bool subtract, int64_t N) {
  const int64_t T = vpre.size(0), M = vpre.size(1);
  const int64_t B = N > 0 ? M / N : 0;
  const int64_t nt = std::max<int64_t>(1, std::min<int64_t>({(int64_t)at::get_num_threads(), B,
                                                             (M + 16383) / 16384}));
  auto i32 = vpre.options().dtype(torch::kInt);
  auto spk = torch::zeros({nt, T, N}, i32);
  auto chg = torch::zeros({nt, T}, vpre.options().dtype(torch::kLong));
  AT_DISPATCH_FLOATING_TYPES(vpre.scalar_type(), "neuron_counts", [&] {
    NDP_BOOL(subtract, SB, NDP_BOOL(c.numel() > 1, PE,
      count_all<scalar_t, SB, PE>(vpre.data_ptr<scalar_t>(), z.data_ptr<scalar_t>(),
          c.data_ptr<scalar_t>(), spk.data_ptr<int32_t>(), chg.data_ptr<int64_t>(), T, M, N,
          nt);))
  });
  auto f64 = vpre.options().dtype(torch::kDouble);
  auto mem = torch::empty({T}, f64);
  auto spikes = torch::empty({T, N}, f64);
  const int64_t* cg = chg.data_ptr<int64_t>();
  const int32_t* sp = spk.data_ptr<int32_t>();
  double* mp = mem.data_ptr<double>();
  double* so = spikes.data_ptr<double>();
  for (int64_t t = 0; t < T; ++t) {
    int64_t n = 0;
    for (int64_t p = 0; p < nt; ++p) n += cg[p * T + t];
    mp[t] = t == 0 ? (double)M : (double)n;  // step 0: every neuron
  }
  for (int64_t k = 0; k < T * N; ++k) {
    int64_t n = 0;
    for (int64_t p = 0; p < nt; ++p) n += sp[p * T * N + k];
    so[k] = (double)n;
  }
  return {mem, spikes};
}
