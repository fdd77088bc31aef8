// Entry points of the fused optimizer steps: derive the step's scalars in double, then
// call the loops of the instruction set chosen at import.
#include "kernels/optim.h"

#include <cmath>

#include "kernels/dispatch.h"

namespace fastdl::optim {

template <typename T>
void sgd_step(const Tensors<T>& t, const SgdOptions& o) {
  SgdCoeffs c{};
  c.lr = o.lr;
  c.momentum = o.momentum;
  c.one_minus_dampening = 1.0 - o.dampening;
  c.weight_decay = o.weight_decay;
  c.use_momentum = o.momentum != 0.0;
  c.first_step = o.step == 1;
  c.nesterov = o.nesterov;
  c.maximize = o.maximize;
  kernels().optim<T>().sgd(t, c);
}

template <typename T>
void adagrad_step(const Tensors<T>& t, const AdagradOptions& o) {
  AdagradCoeffs c{};
  c.clr = o.lr / (1.0 + static_cast<double>(o.step - 1) * o.lr_decay);
  c.weight_decay = o.weight_decay;
  c.eps = o.eps;
  c.maximize = o.maximize;
  kernels().optim<T>().adagrad(t, c);
}

template <typename T>
void adadelta_step(const Tensors<T>& t, const AdadeltaOptions& o) {
  AdadeltaCoeffs c{};
  c.lr = o.lr;
  c.rho = o.rho;
  c.one_minus_rho = 1.0 - o.rho;
  c.eps = o.eps;
  c.weight_decay = o.weight_decay;
  c.maximize = o.maximize;
  kernels().optim<T>().adadelta(t, c);
}

template <typename T>
void rmsprop_step(const Tensors<T>& t, const RmspropOptions& o) {
  RmspropCoeffs c{};
  c.lr = o.lr;
  c.alpha = o.alpha;
  c.one_minus_alpha = 1.0 - o.alpha;
  c.eps = o.eps;
  c.weight_decay = o.weight_decay;
  c.momentum = o.momentum;
  c.centered = o.centered;
  c.use_momentum = o.momentum > 0.0;
  c.maximize = o.maximize;
  kernels().optim<T>().rmsprop(t, c);
}

template <typename T>
void adam_step(const Tensors<T>& t, const AdamOptions& o) {
  const double step = static_cast<double>(o.step);
  AdamCoeffs c{};
  c.lr = o.lr;
  c.beta1 = o.beta1;
  c.one_minus_beta1 = 1.0 - o.beta1;
  c.beta2 = o.beta2;
  c.one_minus_beta2 = 1.0 - o.beta2;
  c.eps = o.eps;
  c.weight_decay = o.weight_decay;
  const double bias_correction1 = 1.0 - std::pow(o.beta1, step);
  const double bias_correction2 = 1.0 - std::pow(o.beta2, step);
  c.step_size = o.lr / bias_correction1;
  c.bias_correction2_sqrt = std::sqrt(bias_correction2);
  c.decay_factor = 1.0 - o.lr * o.weight_decay;
  c.amsgrad = o.amsgrad;
  c.maximize = o.maximize;
  c.coupled_decay = o.weight_decay != 0.0 && !o.decoupled_weight_decay;
  c.decoupled_decay = o.weight_decay != 0.0 && o.decoupled_weight_decay;
  kernels().optim<T>().adam(t, c);
}

template <typename T>
double nadam_step(const Tensors<T>& t, const NadamOptions& o) {
  const double step = static_cast<double>(o.step);
  const double mu = o.beta1 * (1.0 - 0.5 * std::pow(0.96, step * o.momentum_decay));
  const double mu_next = o.beta1 * (1.0 - 0.5 * std::pow(0.96, (step + 1.0) * o.momentum_decay));
  const double mu_product = o.mu_product * mu;
  const double mu_product_next = mu_product * mu_next;
  NadamCoeffs c{};
  c.beta1 = o.beta1;
  c.one_minus_beta1 = 1.0 - o.beta1;
  c.beta2 = o.beta2;
  c.one_minus_beta2 = 1.0 - o.beta2;
  c.eps = o.eps;
  c.weight_decay = o.weight_decay;
  c.bias_correction2 = 1.0 - std::pow(o.beta2, step);
  c.grad_coeff = -o.lr * (1.0 - mu) / (1.0 - mu_product);
  c.avg_coeff = -o.lr * mu_next / (1.0 - mu_product_next);
  c.decay_factor = 1.0 - o.lr * o.weight_decay;
  c.maximize = o.maximize;
  c.coupled_decay = o.weight_decay != 0.0 && !o.decoupled_weight_decay;
  c.decoupled_decay = o.weight_decay != 0.0 && o.decoupled_weight_decay;
  kernels().optim<T>().nadam(t, c);
  return mu_product;
}

#define FASTDL_INSTANTIATE(T)                                                   \
  template void sgd_step<T>(const Tensors<T>&, const SgdOptions&);             \
  template void adagrad_step<T>(const Tensors<T>&, const AdagradOptions&);     \
  template void adadelta_step<T>(const Tensors<T>&, const AdadeltaOptions&);   \
  template void rmsprop_step<T>(const Tensors<T>&, const RmspropOptions&);     \
  template void adam_step<T>(const Tensors<T>&, const AdamOptions&);           \
  template double nadam_step<T>(const Tensors<T>&, const NadamOptions&);
FASTDL_INSTANTIATE(float)
FASTDL_INSTANTIATE(double)
#undef FASTDL_INSTANTIATE

}  // namespace fastdl::optim
