// Bindings of the GEMM family: matmul, linear, linear_backward, and _gemm (the full
// C++ entry, in place, for tests). Everything is unpacked and validated first, then the
// GIL is released and the kernel runs.
#include <string>
#include <utility>
#include <vector>

#include "bindings/arrays.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"

namespace fastdl::bind {

namespace {

std::string shape_of(const std::vector<py::ssize_t>& s) {
  std::string r = "(";
  for (size_t d = 0; d < s.size(); ++d) {
    r += std::to_string(s[d]);
    if (s.size() == 1 || d + 1 < s.size()) r += d + 1 < s.size() ? ", " : ",";
  }
  return r + ")";
}

[[noreturn]] void fail(const char* fn, const std::string& msg) {
  throw py::value_error(std::string(fn) + ": " + msg);
}

void expect_ndim(const char* fn, const char* what, const py::array& a, int ndim) {
  if (a.ndim() != ndim) {
    fail(fn, std::string(what) + " must be " + std::to_string(ndim) + "-D, got shape " + shape_str(a));
  }
}

// dtype check against the first array's; DTypeError (a TypeError and a ValueError).
void expect_dtype(const char* fn, const char* what, const py::array& a, DType dt, const char* like) {
  const DType got = expect_float(fn, what, a);  // raises for an unsupported dtype
  if (got != dt) {
    throw dtype_error(std::string(fn) + ": " + what + " has dtype " + dtype_str(a) + ", expected " +
                      dtype_name(dt) + " like " + like);
  }
}

// A 2-D input read only, as a strided view (no copy when its strides are whole elements
// and it is aligned; otherwise one contiguous copy).
struct View2D {
  py::array keep;
  const void* p;
  int64_t rs, cs;
};

View2D view2d(const py::array& a) {
  const auto item = static_cast<py::ssize_t>(a.itemsize());
  const bool aligned = (a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_) != 0;
  if (aligned && a.strides(0) % item == 0 && a.strides(1) % item == 0) {
    return {a, a.data(), a.strides(0) / item, a.strides(1) / item};
  }
  py::array c = aligned_copy(a);
  return {c, c.data(), c.shape(1), 1};
}

template <typename T>
gemm::MatrixRef<T> ref(const View2D& v) {
  return {static_cast<const T*>(v.p), v.rs, v.cs};
}

py::array matmul(py::handle a_obj, py::handle b_obj) {
  const char* fn = "matmul";
  py::array a = expect_array(fn, "a", a_obj);
  py::array b = expect_array(fn, "b", b_obj);
  const DType dt = expect_float(fn, "a", a);
  expect_float(fn, "b", b);
  expect_ndim(fn, "a", a, 2);
  expect_ndim(fn, "b", b, 2);
  expect_dtype(fn, "b", b, dt, "a");
  if (b.shape(0) != a.shape(1)) {
    fail(fn, "b has shape " + shape_str(b) + ", expected (" + std::to_string(a.shape(1)) +
                 ", N) to match a of shape " + shape_str(a));
  }
  const int64_t M = a.shape(0), K = a.shape(1), N = b.shape(1);
  const View2D va = view2d(a), vb = view2d(b);
  py::array c = empty(dt, {M, N}, fn);
  void* cp = c.mutable_data();
  run_released(dt, [&](auto zero) {
    using T = decltype(zero);
    gemm::GemmArgs<T> g;
    g.M = M;
    g.N = N;
    g.K = K;
    g.A = ref<T>(va);
    g.B = ref<T>(vb);
    g.C = static_cast<T*>(cp);
    g.ldc = N;
    gemm::gemm(g);
  });
  return c;
}

// x (*, in) -> (rows, in) with rows the product of the leading dimensions.
int64_t leading(const py::array& x) {
  int64_t rows = 1;
  for (py::ssize_t d = 0; d + 1 < x.ndim(); ++d) rows *= x.shape(d);
  return rows;
}

std::vector<py::ssize_t> with_last(const py::array& x, py::ssize_t last) {
  std::vector<py::ssize_t> s(x.shape(), x.shape() + x.ndim());
  s.back() = last;
  return s;
}

py::array linear(py::handle x_obj, py::handle w_obj, py::handle b_obj) {
  const char* fn = "linear";
  py::array x = expect_array(fn, "x", x_obj);
  py::array w = expect_array(fn, "weight", w_obj);
  const DType dt = expect_float(fn, "x", x);
  expect_float(fn, "weight", w);
  if (x.ndim() < 1) fail(fn, "x must have at least 1 dimension (*, in), got shape " + shape_str(x));
  expect_ndim(fn, "weight", w, 2);
  expect_dtype(fn, "weight", w, dt, "x");
  const int64_t in = x.shape(x.ndim() - 1), out = w.shape(0);
  if (w.shape(1) != in) {
    fail(fn, "weight has shape " + shape_str(w) + ", expected (out_features, " + std::to_string(in) +
                 ") to match x of shape " + shape_str(x));
  }
  py::array b;  // (a default py::array is an empty array, not null: test has_bias)
  const bool has_bias = !b_obj.is_none();
  if (has_bias) {
    b = expect_array(fn, "bias", b_obj);
    expect_float(fn, "bias", b);
    expect_dtype(fn, "bias", b, dt, "x");
    if (b.ndim() != 1 || b.shape(0) != out) {
      fail(fn, "bias has shape " + shape_str(b) + ", expected (" + std::to_string(out) +
                   ",) (out_features of weight " + shape_str(w) + ")");
    }
    b = contiguous(b);
  }
  x = contiguous(x);
  w = contiguous(w);
  const int64_t rows = leading(x);
  py::array y = empty(dt, with_last(x, out), fn);
  const void *xp = x.data(), *wp = w.data(), *bp = has_bias ? b.data() : nullptr;
  void* yp = y.mutable_data();
  run_released(dt, [&](auto zero) {
    using T = decltype(zero);
    linear::linear_forward(rows, in, out, static_cast<const T*>(xp), static_cast<const T*>(wp),
                           static_cast<const T*>(bp), static_cast<T*>(yp));
  });
  return y;
}

py::tuple linear_backward(py::handle gy_obj, py::handle x_obj, py::handle w_obj, bool bias) {
  const char* fn = "linear_backward";
  py::array gy = expect_array(fn, "grad_y", gy_obj);
  py::array x = expect_array(fn, "x", x_obj);
  py::array w = expect_array(fn, "weight", w_obj);
  const DType dt = expect_float(fn, "x", x);
  expect_float(fn, "grad_y", gy);
  expect_float(fn, "weight", w);
  if (x.ndim() < 1) fail(fn, "x must have at least 1 dimension (*, in), got shape " + shape_str(x));
  expect_ndim(fn, "weight", w, 2);
  expect_dtype(fn, "grad_y", gy, dt, "x");
  expect_dtype(fn, "weight", w, dt, "x");
  const int64_t in = x.shape(x.ndim() - 1), out = w.shape(0);
  if (w.shape(1) != in) {
    fail(fn, "weight has shape " + shape_str(w) + ", expected (out_features, " + std::to_string(in) +
                 ") to match x of shape " + shape_str(x));
  }
  const std::vector<py::ssize_t> want = with_last(x, out);
  bool same = gy.ndim() == x.ndim();
  for (py::ssize_t d = 0; same && d < gy.ndim(); ++d) same = gy.shape(d) == want[d];
  if (!same) {
    fail(fn, "grad_y has shape " + shape_str(gy) + ", expected " + shape_of(want) +
                 " (x's leading dimensions, out_features of weight)");
  }
  gy = contiguous(gy);
  x = contiguous(x);
  w = contiguous(w);
  const int64_t rows = leading(x);
  py::array gx = empty(dt, with_last(x, in), fn);
  py::array gw = empty(dt, {out, in}, fn);
  py::object gb = py::none();
  py::array gba;
  if (bias) {
    gba = empty(dt, {out}, fn);
    gb = gba;
  }
  const void *gyp = gy.data(), *xp = x.data(), *wp = w.data();
  void *gxp = gx.mutable_data(), *gwp = gw.mutable_data();
  void* gbp = bias ? gba.mutable_data() : nullptr;
  run_released(dt, [&](auto zero) {
    using T = decltype(zero);
    linear::linear_backward(rows, in, out, static_cast<const T*>(gyp), static_cast<const T*>(xp),
                            static_cast<const T*>(wp), static_cast<T*>(gxp), static_cast<T*>(gwp),
                            static_cast<T*>(gbp));
  });
  return py::make_tuple(gx, gw, gb);
}

// c (M, N) = alpha * a @ b + beta * c (+ bias_row[:, None]) (+ bias_col[None, :]), in
// place: the whole C++ entry, for tests. custom_pack routes B through the PackB hook
// with gemm::pack_b_reference (the plain packer written from the documented layout).
void gemm_inplace(py::handle a_obj, py::handle b_obj, py::handle c_obj, double alpha, double beta,
                  py::handle br_obj, py::handle bc_obj, bool custom_pack) {
  const char* fn = "_gemm";
  py::array a = expect_array(fn, "a", a_obj);
  py::array b = expect_array(fn, "b", b_obj);
  py::array c = expect_array(fn, "c", c_obj);
  const DType dt = expect_float(fn, "c", c);
  expect_ndim(fn, "a", a, 2);
  expect_ndim(fn, "b", b, 2);
  expect_ndim(fn, "c", c, 2);
  expect_dtype(fn, "a", a, dt, "c");
  expect_dtype(fn, "b", b, dt, "c");
  const int64_t M = c.shape(0), N = c.shape(1), K = a.shape(1);
  if (a.shape(0) != M) fail(fn, "a has shape " + shape_str(a) + ", expected M = " + std::to_string(M) + " rows like c");
  if (b.shape(0) != K || b.shape(1) != N) {
    fail(fn, "b has shape " + shape_str(b) + ", expected " + shape_of({K, N}));
  }
  check_inplace(fn, "c", c, dt, c, "c");
  // A bias as a contiguous array, or nothing (None).
  auto bias = [&](const char* what, py::handle obj, int64_t len) -> py::object {
    if (obj.is_none()) return py::none();
    py::array v = expect_array(fn, what, obj);
    expect_dtype(fn, what, v, dt, "c");
    if (v.ndim() != 1 || v.shape(0) != len) {
      fail(fn, std::string(what) + " has shape " + shape_str(v) + ", expected " + shape_of({len}));
    }
    return contiguous(v);
  };
  const py::object br = bias("bias_row", br_obj, M);
  const py::object bc = bias("bias_col", bc_obj, N);
  const View2D va = view2d(a), vb = view2d(b);
  void* cp = c.mutable_data();
  const void* brp = br.is_none() ? nullptr : py::array(br).data();
  const void* bcp = bc.is_none() ? nullptr : py::array(bc).data();
  run_released(dt, [&](auto zero) {
    using T = decltype(zero);
    const gemm::MatrixRef<T> B = ref<T>(vb);
    gemm::GemmArgs<T> g;
    g.M = M;
    g.N = N;
    g.K = K;
    g.alpha = static_cast<T>(alpha);
    g.beta = static_cast<T>(beta);
    g.A = ref<T>(va);
    g.B = B;
    if (custom_pack) g.pack_b = {&gemm::pack_b_reference<T>, &B};
    g.C = static_cast<T*>(cp);
    g.ldc = N;
    g.bias_row = static_cast<const T*>(brp);
    g.bias_col = static_cast<const T*>(bcp);
    gemm::gemm(g);
  });
}

}  // namespace

void register_linear(py::module_& m) {
  m.def("_matmul", &matmul);
  m.def("_linear", &linear);
  m.def("_linear_backward", &linear_backward);
  m.def("_gemm", &gemm_inplace);
}

}  // namespace fastdl::bind
