// One kernel table per instruction set. Each per-ISA translation unit (isa/*.cpp,
// compiled once as baseline, AVX2+FMA and AVX-512) fills the table entries it owns;
// dispatch.cpp picks one table at first use from CPUID, or from FASTDL_ISA.
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/conv_kernel.h"
#include "kernels/gemm_kernel.h"
#include "kernels/optim.h"

namespace fastdl {

template <typename T>
struct OptimTable {
  void (*sgd)(const optim::Tensors<T>&, const optim::SgdCoeffs&) = nullptr;
  void (*adagrad)(const optim::Tensors<T>&, const optim::AdagradCoeffs&) = nullptr;
  void (*adadelta)(const optim::Tensors<T>&, const optim::AdadeltaCoeffs&) = nullptr;
  void (*rmsprop)(const optim::Tensors<T>&, const optim::RmspropCoeffs&) = nullptr;
  void (*adam)(const optim::Tensors<T>&, const optim::AdamCoeffs&) = nullptr;
  void (*nadam)(const optim::Tensors<T>&, const optim::NadamCoeffs&) = nullptr;
};

struct KernelTable {
  const char* isa = "baseline";
  OptimTable<float> optim_f32;
  OptimTable<double> optim_f64;
  bn::BatchNormLoops<float> batchnorm_f32;
  bn::BatchNormLoops<double> batchnorm_f64;
  gemm::MicroKernel<float> gemm_f32;
  gemm::MicroKernel<double> gemm_f64;
  conv::ConvLoops<float> conv_f32;
  conv::ConvLoops<double> conv_f64;

  template <typename T>
  const OptimTable<T>& optim() const {
    if constexpr (std::is_same_v<T, float>) {
      return optim_f32;
    } else {
      return optim_f64;
    }
  }
  template <typename T>
  const bn::BatchNormLoops<T>& batchnorm() const {
    if constexpr (std::is_same_v<T, float>) {
      return batchnorm_f32;
    } else {
      return batchnorm_f64;
    }
  }
  template <typename T>
  const gemm::MicroKernel<T>& gemm() const {
    if constexpr (std::is_same_v<T, float>) {
      return gemm_f32;
    } else {
      return gemm_f64;
    }
  }
  template <typename T>
  const conv::ConvLoops<T>& conv() const {
    if constexpr (std::is_same_v<T, float>) {
      return conv_f32;
    } else {
      return conv_f64;
    }
  }
};

// The table in use. Chosen once; throws std::runtime_error if FASTDL_ISA names an
// instruction set this CPU or this build lacks.
const KernelTable& kernels();
// Instruction sets compiled into this build that this CPU can run, slowest first.
std::vector<std::string> available_isas();
// Instruction sets compiled into this build.
std::vector<std::string> compiled_isas();

// Each ISA unit defines fill_<family> in its own namespace.
namespace baseline { void fill_optim(KernelTable& t); }
namespace avx2 { void fill_optim(KernelTable& t); }
namespace avx512 { void fill_optim(KernelTable& t); }
namespace baseline { void fill_batchnorm(KernelTable& t); }
namespace avx2 { void fill_batchnorm(KernelTable& t); }
namespace avx512 { void fill_batchnorm(KernelTable& t); }
namespace baseline { void fill_gemm(KernelTable& t); }
namespace avx2 { void fill_gemm(KernelTable& t); }
namespace avx512 { void fill_gemm(KernelTable& t); }
namespace baseline { void fill_conv(KernelTable& t); }
namespace avx2 { void fill_conv(KernelTable& t); }
namespace avx512 { void fill_conv(KernelTable& t); }

}  // namespace fastdl
