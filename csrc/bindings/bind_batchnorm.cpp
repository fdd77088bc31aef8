// Bindings of batch normalization: validate every argument (before anything is written),
// allocate the outputs, release the GIL, call the kernel. fastdl/ops/batchnorm.py owns the
// public signatures and checks the scalar arguments.
//
// `out` (private, None from fastdl.ops) lets a caller hand in the (N, C, *spatial) output
// so that a benchmark can time the kernel without the allocation of a fresh array.
#include <optional>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "kernels/batchnorm.h"

namespace fastdl::bind {

namespace {

struct Geometry {
  int64_t N, C, S;
};

Geometry geometry(const char* fn, const py::array& x, const char* name) {
  if (x.ndim() < 2) {
    throw py::value_error(std::string(fn) + ": " + name +
                          " must have shape (N, C, *spatial) with ndim >= 2, got shape " +
                          shape_str(x));
  }
  Geometry g{static_cast<int64_t>(x.shape(0)), static_cast<int64_t>(x.shape(1)), 1};
  for (py::ssize_t d = 2; d < x.ndim(); ++d) g.S *= static_cast<int64_t>(x.shape(d));
  return g;
}

// A per-channel vector: dtype `dt`, shape (C,). Read-only ones are returned C-contiguous
// (copied when they are not); in-place ones must already be writable and C-contiguous.
py::array channel_vector(const char* fn, const char* name, const py::handle& obj, DType dt,
                         int64_t C, bool inplace, const char* why = "") {
  py::array a = expect_array(fn, name, obj);
  const std::string where = std::string(fn) + ": " + name;
  DType got;
  if (!float_dtype(a, &got) || got != dt) {
    throw dtype_error(where + " has dtype " + dtype_str(a) + ", expected " + dtype_name(dt) +
                      " like x");
  }
  if (a.ndim() != 1 || a.shape(0) != C) {
    throw py::value_error(where + " has shape " + shape_str(a) + ", expected (" +
                          std::to_string(C) + ",) (one value per channel of x)");
  }
  if (inplace) {
    using api = py::detail::npy_api;
    const int flags = a.flags();
    if (!(flags & api::NPY_ARRAY_WRITEABLE_)) throw py::value_error(where + " is read-only; " + why);
    if (!(flags & api::NPY_ARRAY_C_CONTIGUOUS_) || !(flags & api::NPY_ARRAY_ALIGNED_)) {
      throw py::value_error(where + " must be a C-contiguous, aligned array: " + why +
                            ", and a copy would lose the update");
    }
    return a;
  }
  return as_input(fn, name, a, dt, a, name);
}

// The (N, C, *spatial) output: a fresh array, or `out` checked like an in-place target.
py::array output(const char* fn, const py::handle& out, DType dt, const py::array& like) {
  if (out.is_none()) {
    const std::vector<py::ssize_t> shape(like.shape(), like.shape() + like.ndim());
    return dt == DType::f32 ? py::array(py::array_t<float>(shape))
                            : py::array(py::array_t<double>(shape));
  }
  py::array a = expect_array(fn, "out", out);
  check_inplace(fn, "out", a, dt, like, "x");
  return a;
}

py::array vector_out(DType dt, int64_t C) {
  return dt == DType::f32 ? py::array(py::array_t<float>(C)) : py::array(py::array_t<double>(C));
}

template <typename T>
T* ptr(py::array& a) {
  return static_cast<T*>(a.mutable_data());
}
template <typename T>
const T* cptr(const py::array& a) {
  return static_cast<const T*>(a.data());
}
// Calls f(float{}) or f(double{}): the kernel call, instantiated for the array dtype.
template <class F>
void with_dtype(DType dt, F&& f) {
  if (dt == DType::f32) {
    f(float{});
  } else {
    f(double{});
  }
}

using MaybeArray = std::optional<py::array>;
template <typename T>
T* opt(MaybeArray& a) {
  return a ? static_cast<T*>(a->mutable_data()) : nullptr;
}
template <typename T>
const T* copt(const MaybeArray& a) {
  return a ? static_cast<const T*>(a->data()) : nullptr;
}

py::tuple batch_norm(py::handle x_obj, py::handle gamma_obj, py::handle beta_obj,
                     py::handle rm_obj, py::handle rv_obj, bool training, double momentum,
                     double eps, py::handle out_obj) {
  const char* fn = "batch_norm";
  py::array x = expect_array(fn, "x", x_obj);
  const DType dt = expect_float(fn, "x", x);
  const Geometry geo = geometry(fn, x, "x");
  x = as_input(fn, "x", x, dt, x, "x");
  MaybeArray gamma, beta, rm, rv;
  if (!gamma_obj.is_none()) gamma = channel_vector(fn, "gamma", gamma_obj, dt, geo.C, false);
  if (!beta_obj.is_none()) beta = channel_vector(fn, "beta", beta_obj, dt, geo.C, false);
  if (rm_obj.is_none() != rv_obj.is_none()) {
    throw py::value_error(std::string(fn) +
                          ": running_mean and running_var must both be arrays or both be None, got " +
                          (rm_obj.is_none() ? "running_mean None" : "running_var None"));
  }
  const bool update = training && !rm_obj.is_none();
  if (!rm_obj.is_none()) {
    const char* why = "it is updated in place in training";
    rm = channel_vector(fn, "running_mean", rm_obj, dt, geo.C, update, why);
    rv = channel_vector(fn, "running_var", rv_obj, dt, geo.C, update, why);
    if (update && overlap(*rm, *rv)) {
      throw py::value_error(std::string(fn) + ": running_mean and running_var share memory; "
                            "both are updated in place");
    }
  }
  if (update) {
    // Inputs that share memory with the running stats (gamma passed as running_mean,
    // say) are copied once: the kernel writes the running stats before it reads gamma,
    // beta and x for the output.
    auto separate = [&](py::array& a) {
      if (overlap(a, *rm) || overlap(a, *rv)) a = aligned_copy(a);
    };
    separate(x);
    if (gamma) separate(*gamma);
    if (beta) separate(*beta);
  }
  if (training && geo.N * geo.S == 1) {
    throw py::value_error(std::string(fn) +
                          ": expected more than 1 value per channel when training, got input size " +
                          shape_str(x));
  }
  py::array y = output(fn, out_obj, dt, x);
  py::array save_mean = vector_out(dt, geo.C), save_invstd = vector_out(dt, geo.C);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    bn::Forward<T> a;
    a.N = geo.N;
    a.C = geo.C;
    a.S = geo.S;
    a.x = cptr<T>(x);
    a.gamma = copt<T>(gamma);
    a.beta = copt<T>(beta);
    // In eval the kernel only reads them (and they may be read-only arrays).
    a.running_mean = update ? opt<T>(rm) : const_cast<T*>(copt<T>(rm));
    a.running_var = update ? opt<T>(rv) : const_cast<T*>(copt<T>(rv));
    a.training = training;
    a.momentum = momentum;
    a.eps = eps;
    a.y = ptr<T>(y);
    a.save_mean = ptr<T>(save_mean);
    a.save_invstd = ptr<T>(save_invstd);
    py::gil_scoped_release release;
    bn::batch_norm<T>(a);
  };
  with_dtype(dt, run);
  return py::make_tuple(y, save_mean, save_invstd);
}

py::tuple batch_norm_backward(py::handle gy_obj, py::handle x_obj, py::handle gamma_obj,
                              py::handle mean_obj, py::handle invstd_obj, bool training,
                              py::handle out_obj) {
  const char* fn = "batch_norm_backward";
  py::array x = expect_array(fn, "x", x_obj);
  const DType dt = expect_float(fn, "x", x);
  const Geometry geo = geometry(fn, x, "x");
  x = as_input(fn, "x", x, dt, x, "x");
  py::array gy = as_input(fn, "grad_y", expect_array(fn, "grad_y", gy_obj), dt, x, "x");
  MaybeArray gamma;
  if (!gamma_obj.is_none()) gamma = channel_vector(fn, "gamma", gamma_obj, dt, geo.C, false);
  py::array mean = channel_vector(fn, "save_mean", mean_obj, dt, geo.C, false);
  py::array invstd = channel_vector(fn, "save_invstd", invstd_obj, dt, geo.C, false);
  py::array gx = output(fn, out_obj, dt, x);
  MaybeArray ggamma, gbeta;
  if (gamma) {
    ggamma = vector_out(dt, geo.C);
    gbeta = vector_out(dt, geo.C);
  }
  auto run = [&](auto tag) {
    using T = decltype(tag);
    bn::Backward<T> a;
    a.N = geo.N;
    a.C = geo.C;
    a.S = geo.S;
    a.grad_y = cptr<T>(gy);
    a.x = cptr<T>(x);
    a.gamma = copt<T>(gamma);
    a.save_mean = cptr<T>(mean);
    a.save_invstd = cptr<T>(invstd);
    a.training = training;
    a.grad_x = ptr<T>(gx);
    a.grad_gamma = opt<T>(ggamma);
    a.grad_beta = opt<T>(gbeta);
    py::gil_scoped_release release;
    bn::batch_norm_backward<T>(a);
  };
  with_dtype(dt, run);
  auto or_none = [](const MaybeArray& a) { return a ? py::object(*a) : py::object(py::none()); };
  return py::make_tuple(gx, or_none(ggamma), or_none(gbeta));
}

}  // namespace

void register_batchnorm(py::module_& m) {
  m.def("_batch_norm", &batch_norm, py::arg("x"), py::arg("gamma"), py::arg("beta"),
        py::arg("running_mean"), py::arg("running_var"), py::arg("training"),
        py::arg("momentum"), py::arg("eps"), py::arg("out") = py::none());
  m.def("_batch_norm_backward", &batch_norm_backward, py::arg("grad_y"), py::arg("x"),
        py::arg("gamma"), py::arg("save_mean"), py::arg("save_invstd"), py::arg("training"),
        py::arg("out") = py::none());
}

}  // namespace fastdl::bind
