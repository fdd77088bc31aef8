// Fused multi-tensor optimizer steps. Each call updates every tensor of a list in place,
// in one pass over memory, with the update equations of torch.optim's functional forms.
//
// A call gets parallel arrays of pointers: param[i], grad[i] and the state arrays of
// tensor i all hold size[i] elements of one dtype T (float or double). Unused state
// lists are empty. The caller has validated everything; these functions cannot fail.
#pragma once

#include <cstdint>
#include <vector>

namespace fastdl::optim {

template <typename T>
struct Tensors {
  std::vector<T*> param;
  std::vector<const T*> grad;
  std::vector<T*> state0, state1, state2;  // meaning depends on the optimizer
  std::vector<int64_t> size;
};

// Hyperparameters as the user gives them (torch's names). `step` is the 1-based index of
// the step being taken.
struct SgdOptions {
  double lr, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
  int64_t step = 1;
};
struct AdagradOptions {
  double lr, lr_decay = 0, weight_decay = 0, eps = 1e-10;
  bool maximize = false;
  int64_t step = 1;
};
struct AdadeltaOptions {
  double lr = 1.0, rho = 0.9, eps = 1e-6, weight_decay = 0;
  bool maximize = false;
};
struct RmspropOptions {
  double lr, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
  bool centered = false, maximize = false;
};
struct AdamOptions {
  double lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool amsgrad = false, maximize = false, decoupled_weight_decay = false;
  int64_t step = 1;
};
struct NadamOptions {
  double lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0,
      momentum_decay = 4e-3, mu_product = 1.0;
  bool decoupled_weight_decay = false, maximize = false;
  int64_t step = 1;
};

// state0 = momentum_buffer (empty when momentum == 0)
template <typename T> void sgd_step(const Tensors<T>& t, const SgdOptions& o);
// state0 = state_sum
template <typename T> void adagrad_step(const Tensors<T>& t, const AdagradOptions& o);
// state0 = square_avg, state1 = acc_delta
template <typename T> void adadelta_step(const Tensors<T>& t, const AdadeltaOptions& o);
// state0 = square_avg, state1 = grad_avg (centered), state2 = momentum_buffer (momentum > 0)
template <typename T> void rmsprop_step(const Tensors<T>& t, const RmspropOptions& o);
// state0 = exp_avg, state1 = exp_avg_sq, state2 = max_exp_avg_sq (amsgrad)
template <typename T> void adam_step(const Tensors<T>& t, const AdamOptions& o);
// state0 = exp_avg, state1 = exp_avg_sq; returns the new mu_product
template <typename T> double nadam_step(const Tensors<T>& t, const NadamOptions& o);

// Scalars of one step, derived in double from the options (as ATen's fused Adam does for
// its bias corrections) and handed to the per-ISA loops, which cast them to T once.
struct SgdCoeffs {
  double lr, momentum, one_minus_dampening, weight_decay;
  bool use_momentum, first_step, nesterov, maximize;
};
struct AdagradCoeffs {
  double clr, weight_decay, eps;
  bool maximize;
};
struct AdadeltaCoeffs {
  double lr, rho, one_minus_rho, eps, weight_decay;
  bool maximize;
};
struct RmspropCoeffs {
  double lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
  bool centered, use_momentum, maximize;
};
struct AdamCoeffs {
  double lr, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay;
  double step_size, bias_correction2_sqrt, decay_factor;
  bool amsgrad, maximize, coupled_decay, decoupled_decay;
};
struct NadamCoeffs {
  double beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay;
  double bias_correction2, grad_coeff, avg_coeff, decay_factor;
  bool maximize, coupled_decay, decoupled_decay;
};

}  // namespace fastdl::optim
