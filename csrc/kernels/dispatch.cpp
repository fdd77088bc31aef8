#include "kernels/dispatch.h"

#include <cstdlib>
#include <stdexcept>

namespace fastdl {

namespace {

// FASTDL_TEST_HIDE_ISA=avx512[,avx2]: behave as on a CPU without those instruction sets
// (tests only: it lets an AVX-512 machine check that asking for a missing ISA fails and
// that the default falls back to the next one; the CPUID probe is all it bypasses).
bool hidden_for_tests(const std::string& isa) {
  const char* env = std::getenv("FASTDL_TEST_HIDE_ISA");
  if (env == nullptr) return false;
  const std::string list = std::string(",") + env + ",";
  return list.find("," + isa + ",") != std::string::npos;
}

bool cpu_has(const std::string& isa) {
  if (isa == "baseline") return true;
  if (hidden_for_tests(isa)) return false;
#if defined(FASTDL_HAVE_X86_ISAS) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  // __builtin_cpu_supports also checks that the OS saves the wider register state.
  if (isa == "avx2") {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  if (isa == "avx512") {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
#endif
  return false;
}

KernelTable make_table(const std::string& isa) {
  KernelTable t;
#if defined(FASTDL_HAVE_ISA_AVX512)
  if (isa == "avx512") {
    t.isa = "avx512";
    avx512::fill_optim(t);
    avx512::fill_batchnorm(t);
    avx512::fill_gemm(t);
    avx512::fill_conv(t);
    return t;
  }
#endif
#if defined(FASTDL_HAVE_ISA_AVX2)
  if (isa == "avx2") {
    t.isa = "avx2";
    avx2::fill_optim(t);
    avx2::fill_batchnorm(t);
    avx2::fill_gemm(t);
    avx2::fill_conv(t);
    return t;
  }
#endif
  (void)isa;
  t.isa = "baseline";
  baseline::fill_optim(t);
  baseline::fill_batchnorm(t);
  baseline::fill_gemm(t);
  baseline::fill_conv(t);
  return t;
}

KernelTable choose() {
  const std::vector<std::string> avail = available_isas();
  if (const char* env = std::getenv("FASTDL_ISA"); env != nullptr && *env != '\0') {
    const std::string want(env);
    for (const auto& a : avail) {
      if (a == want) return make_table(want);
    }
    std::string msg = "FASTDL_ISA=" + want + " is not available on this CPU/build; choose one of:";
    for (const auto& a : avail) msg += " " + a;
    throw std::runtime_error(msg);
  }
  return make_table(avail.back());
}

}  // namespace

std::vector<std::string> compiled_isas() {
  // CMake's FASTDL_ISAS may leave some out (baseline is always there).
  std::vector<std::string> out = {"baseline"};
#if defined(FASTDL_HAVE_ISA_AVX2)
  out.push_back("avx2");
#endif
#if defined(FASTDL_HAVE_ISA_AVX512)
  out.push_back("avx512");
#endif
  return out;
}

std::vector<std::string> available_isas() {
  std::vector<std::string> out;
  for (const auto& isa : compiled_isas()) {
    if (cpu_has(isa)) out.push_back(isa);
  }
  return out;
}

const KernelTable& kernels() {
  static const KernelTable table = choose();  // thread-safe one-time initialisation
  return table;
}

}  // namespace fastdl
