// The loops of the fused optimizer steps. This file is compiled once per instruction
// set (FASTDL_ISA_NS = baseline, avx2 or avx512, with that ISA's -m flags), so the
// compiler vectorises the same source for each; dispatch.cpp picks one at import.
//
// Each loop makes one pass over memory: for Adam it reads param, grad, exp_avg and
// exp_avg_sq and writes param, exp_avg and exp_avg_sq (7 words per element), which is
// the whole cost of the step on any modern CPU. Options become template constants
// (with_bool), so the loops carry no per-element branches. Arithmetic follows ATen's
// order of operations (addcmul: self + (value*t1)*t2, addcdiv: self + (value*t1)/t2,
// lerp with weight < 0.5: self + w*(end-self)) with the scalars cast to T once.
#include <cmath>

#include "kernels/dispatch.h"
#include "kernels/optim_driver.h"

#ifndef FASTDL_ISA_NS
#error "FASTDL_ISA_NS must name the instruction set this unit is compiled for"
#endif

namespace fastdl::FASTDL_ISA_NS {

namespace {

using optim::for_each_chunk;
using optim::Tensors;

// torch's lerp: the formula flips at weight 0.5 for accuracy near both ends.
template <bool kLow, typename T>
FASTDL_INLINE T lerp(T self, T end, T w) {
  if constexpr (kLow) {
    return self + w * (end - self);
  } else {
    return end - (end - self) * (T(1) - w);
  }
}

// The per-element loops take their arrays as __restrict__ function parameters: GCC
// honours restrict there (not on local pointers inside lambdas), and without it the
// loops of the 4+-array optimizers are not vectorised at all (measured: Adam on
// ResNet-18 went from 29.8 ms to the bandwidth bound). Scalars come by value.

template <typename T>
struct SgdK { T lr, mom, omd, wd; };

template <typename T, bool kMax, bool kWd, bool kMom, bool kFirst, bool kNest>
void sgd_loop(int64_t n, T* FASTDL_RESTRICT p, const T* FASTDL_RESTRICT g, T* FASTDL_RESTRICT buf,
              const SgdK<T> c) {
  for (int64_t k = 0; k < n; ++k) {
    T d = kMax ? -g[k] : g[k];
    if constexpr (kWd) d = d + c.wd * p[k];
    if constexpr (kMom) {
      T m;
      if constexpr (kFirst) {
        m = d;  // torch: the buffer starts as a copy of the gradient
      } else {
        m = buf[k] * c.mom + c.omd * d;
      }
      buf[k] = m;
      d = kNest ? d + c.mom * m : m;
    }
    p[k] = p[k] + (-c.lr) * d;
  }
}

template <typename T>
void sgd(const Tensors<T>& t, const optim::SgdCoeffs& c) {
  const SgdK<T> k{T(c.lr), T(c.momentum), T(c.one_minus_dampening), T(c.weight_decay)};
  with_bool(c.maximize, [&](auto MAX) {
  with_bool(c.weight_decay != 0.0, [&](auto WD) {
  with_bool(c.use_momentum, [&](auto MOM) {
  with_bool(c.use_momentum && c.first_step, [&](auto FIRST) {
  with_bool(c.use_momentum && c.nesterov, [&](auto NEST) {
    for_each_chunk(t.size, [&](int64_t i, int64_t b, int64_t e) {
      sgd_loop<T, MAX, WD, MOM, FIRST, NEST>(e - b, t.param[i] + b, t.grad[i] + b,
                                             MOM ? t.state0[i] + b : nullptr, k);
    });
  });});});});});
}

template <typename T>
struct AdagradK { T clr, wd, eps; };

template <typename T, bool kMax, bool kWd>
void adagrad_loop(int64_t n, T* FASTDL_RESTRICT p, const T* FASTDL_RESTRICT g, T* FASTDL_RESTRICT s,
                  const AdagradK<T> c) {
  for (int64_t k = 0; k < n; ++k) {
    T d = kMax ? -g[k] : g[k];
    if constexpr (kWd) d = d + c.wd * p[k];
    const T sk = s[k] + d * d;
    s[k] = sk;
    p[k] = p[k] + ((-c.clr) * d) / (std::sqrt(sk) + c.eps);
  }
}

template <typename T>
void adagrad(const Tensors<T>& t, const optim::AdagradCoeffs& c) {
  const AdagradK<T> k{T(c.clr), T(c.weight_decay), T(c.eps)};
  with_bool(c.maximize, [&](auto MAX) {
  with_bool(c.weight_decay != 0.0, [&](auto WD) {
    for_each_chunk(t.size, [&](int64_t i, int64_t b, int64_t e) {
      adagrad_loop<T, MAX, WD>(e - b, t.param[i] + b, t.grad[i] + b, t.state0[i] + b, k);
    });
  });});
}

template <typename T>
struct AdadeltaK { T lr, rho, omr, eps, wd; };

template <typename T, bool kMax, bool kWd>
void adadelta_loop(int64_t n, T* FASTDL_RESTRICT p, const T* FASTDL_RESTRICT g,
                   T* FASTDL_RESTRICT sq, T* FASTDL_RESTRICT acc, const AdadeltaK<T> c) {
  for (int64_t k = 0; k < n; ++k) {
    T d = kMax ? -g[k] : g[k];
    if constexpr (kWd) d = d + c.wd * p[k];
    const T s = sq[k] * c.rho + (c.omr * d) * d;
    sq[k] = s;
    const T delta = std::sqrt(acc[k] + c.eps) / std::sqrt(s + c.eps) * d;
    acc[k] = acc[k] * c.rho + (c.omr * delta) * delta;
    p[k] = p[k] + (-c.lr) * delta;
  }
}

template <typename T>
void adadelta(const Tensors<T>& t, const optim::AdadeltaCoeffs& c) {
  const AdadeltaK<T> k{T(c.lr), T(c.rho), T(c.one_minus_rho), T(c.eps), T(c.weight_decay)};
  with_bool(c.maximize, [&](auto MAX) {
  with_bool(c.weight_decay != 0.0, [&](auto WD) {
    for_each_chunk(t.size, [&](int64_t i, int64_t b, int64_t e) {
      adadelta_loop<T, MAX, WD>(e - b, t.param[i] + b, t.grad[i] + b, t.state0[i] + b,
                                t.state1[i] + b, k);
    });
  });});
}

template <typename T>
struct RmspropK { T lr, alpha, oma, eps, wd, mom; };

template <typename T, bool kMax, bool kWd, bool kCen, bool kMom, bool kLow>
void rmsprop_loop(int64_t n, T* FASTDL_RESTRICT p, const T* FASTDL_RESTRICT g,
                  T* FASTDL_RESTRICT sq, T* FASTDL_RESTRICT ga, T* FASTDL_RESTRICT buf,
                  const RmspropK<T> c) {
  for (int64_t k = 0; k < n; ++k) {
    T d = kMax ? -g[k] : g[k];
    if constexpr (kWd) d = d + c.wd * p[k];
    const T s = sq[k] * c.alpha + (c.oma * d) * d;
    sq[k] = s;
    T avg;
    if constexpr (kCen) {
      const T a = lerp<kLow>(ga[k], d, c.oma);
      ga[k] = a;
      avg = std::sqrt(s + (T(-1) * a) * a) + c.eps;
    } else {
      avg = std::sqrt(s) + c.eps;
    }
    if constexpr (kMom) {
      const T m = buf[k] * c.mom + d / avg;
      buf[k] = m;
      p[k] = p[k] + (-c.lr) * m;
    } else {
      p[k] = p[k] + ((-c.lr) * d) / avg;
    }
  }
}

template <typename T>
void rmsprop(const Tensors<T>& t, const optim::RmspropCoeffs& c) {
  const RmspropK<T> k{T(c.lr), T(c.alpha), T(c.one_minus_alpha), T(c.eps), T(c.weight_decay),
                      T(c.momentum)};
  with_bool(c.maximize, [&](auto MAX) {
  with_bool(c.weight_decay != 0.0, [&](auto WD) {
  with_bool(c.centered, [&](auto CEN) {
  with_bool(c.use_momentum, [&](auto MOM) {
  with_bool(c.one_minus_alpha < 0.5, [&](auto LOW) {
    for_each_chunk(t.size, [&](int64_t i, int64_t b, int64_t e) {
      rmsprop_loop<T, MAX, WD, CEN, MOM, LOW>(e - b, t.param[i] + b, t.grad[i] + b,
                                              t.state0[i] + b, CEN ? t.state1[i] + b : nullptr,
                                              MOM ? t.state2[i] + b : nullptr, k);
    });
  });});});});});
}

template <typename T>
struct AdamK { T b1w, beta2, omb2, eps, wd, neg_step, inv_bc2s, decay; };

template <typename T, bool kMax, bool kCwd, bool kDwd, bool kAms, bool kLow>
void adam_loop(int64_t n, T* FASTDL_RESTRICT p, const T* FASTDL_RESTRICT g, T* FASTDL_RESTRICT m,
               T* FASTDL_RESTRICT v, T* FASTDL_RESTRICT vmax, const AdamK<T> c) {
  for (int64_t k = 0; k < n; ++k) {
    T pk = p[k];
    T d = kMax ? -g[k] : g[k];
    if constexpr (kDwd) pk = pk * c.decay;
    if constexpr (kCwd) d = d + c.wd * pk;
    const T mk = lerp<kLow>(m[k], d, c.b1w);
    const T vk = v[k] * c.beta2 + (c.omb2 * d) * d;
    m[k] = mk;
    v[k] = vk;
    T vd = vk;
    if constexpr (kAms) {
      const T old = vmax[k];
      vd = (old > vk || std::isnan(old)) ? old : vk;  // torch.maximum propagates NaN
      vmax[k] = vd;
    }
    const T denom = std::sqrt(vd) * c.inv_bc2s + c.eps;
    p[k] = pk + (c.neg_step * mk) / denom;
  }
}

template <typename T>
void adam(const Tensors<T>& t, const optim::AdamCoeffs& c) {
  const AdamK<T> k{T(c.one_minus_beta1), T(c.beta2), T(c.one_minus_beta2), T(c.eps),
                   T(c.weight_decay), T(-c.step_size), T(1.0 / c.bias_correction2_sqrt),
                   T(c.decay_factor)};
  with_bool(c.maximize, [&](auto MAX) {
  with_bool(c.coupled_decay, [&](auto CWD) {
  with_bool(c.decoupled_decay, [&](auto DWD) {
  with_bool(c.amsgrad, [&](auto AMS) {
  with_bool(c.one_minus_beta1 < 0.5, [&](auto LOW) {
    for_each_chunk(t.size, [&](int64_t i, int64_t b, int64_t e) {
      adam_loop<T, MAX, CWD, DWD, AMS, LOW>(e - b, t.param[i] + b, t.grad[i] + b,
                                            t.state0[i] + b, t.state1[i] + b,
                                            AMS ? t.state2[i] + b : nullptr, k);
    });
  });});});});});
}

template <typename T>
struct NadamK { T b1w, beta2, omb2, eps, wd, bc2, cg, cm, decay; };

template <typename T, bool kMax, bool kCwd, bool kDwd, bool kLow>
void nadam_loop(int64_t n, T* FASTDL_RESTRICT p, const T* FASTDL_RESTRICT g, T* FASTDL_RESTRICT m,
                T* FASTDL_RESTRICT v, const NadamK<T> c) {
  for (int64_t k = 0; k < n; ++k) {
    T pk = p[k];
    T d = kMax ? -g[k] : g[k];
    if constexpr (kDwd) pk = pk * c.decay;
    if constexpr (kCwd) d = d + c.wd * pk;
    const T mk = lerp<kLow>(m[k], d, c.b1w);
    const T vk = v[k] * c.beta2 + (c.omb2 * d) * d;
    m[k] = mk;
    v[k] = vk;
    const T denom = std::sqrt(vk / c.bc2) + c.eps;
    pk = pk + (c.cg * d) / denom;
    p[k] = pk + (c.cm * mk) / denom;
  }
}

template <typename T>
void nadam(const Tensors<T>& t, const optim::NadamCoeffs& c) {
  const NadamK<T> k{T(c.one_minus_beta1), T(c.beta2), T(c.one_minus_beta2), T(c.eps),
                    T(c.weight_decay), T(c.bias_correction2), T(c.grad_coeff), T(c.avg_coeff),
                    T(c.decay_factor)};
  with_bool(c.maximize, [&](auto MAX) {
  with_bool(c.coupled_decay, [&](auto CWD) {
  with_bool(c.decoupled_decay, [&](auto DWD) {
  with_bool(c.one_minus_beta1 < 0.5, [&](auto LOW) {
    for_each_chunk(t.size, [&](int64_t i, int64_t b, int64_t e) {
      nadam_loop<T, MAX, CWD, DWD, LOW>(e - b, t.param[i] + b, t.grad[i] + b, t.state0[i] + b,
                                        t.state1[i] + b, k);
    });
  });});});});
}

template <typename T>
void fill(OptimTable<T>& o) {
  o.sgd = &sgd<T>;
  o.adagrad = &adagrad<T>;
  o.adadelta = &adadelta<T>;
  o.rmsprop = &rmsprop<T>;
  o.adam = &adam<T>;
  o.nadam = &nadam<T>;
}

}  // namespace

void fill_optim(KernelTable& table) {
  fill(table.optim_f32);
  fill(table.optim_f64);
}

}  // namespace fastdl::FASTDL_ISA_NS
