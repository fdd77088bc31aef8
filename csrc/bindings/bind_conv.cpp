// Bindings of the convolution family: _im2col, _col2im, _conv2d, _conv2d_backward.
// fastdl/ops/conv.py normalises the Python arguments (pairs, "same"/"valid") and checks
// them with the NumPy twins' messages; the checks here repeat the ones the kernels rely
// on, so that a direct call cannot reach a kernel with an inconsistent geometry. Then
// the inputs are made C-contiguous (one copy when they are not), the GIL is released
// and the kernel runs.
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "kernels/conv.h"

namespace fastdl::bind {

namespace {

[[noreturn]] void fail(const char* fn, const std::string& msg) {
  throw py::value_error(std::string(fn) + ": " + msg);
}

// An input array: float32/float64, one of the ranks given, of dtype `dt` when given.
py::array input(const char* fn, const char* what, py::handle obj, int ndim_a, int ndim_b,
                const DType* dt) {
  py::array a = expect_array(fn, what, obj);
  const DType got = expect_float(fn, what, a);
  if (dt != nullptr && got != *dt) {
    throw dtype_error(std::string(fn) + ": " + what + " has dtype " + dtype_str(a) + ", expected " +
                      dtype_name(*dt) + " like x");
  }
  if (a.ndim() != ndim_a && a.ndim() != ndim_b) {
    std::string want = std::to_string(ndim_a) + "-D";
    if (ndim_b != ndim_a) want += " or " + std::to_string(ndim_b) + "-D";
    fail(fn, std::string(what) + " must be " + want + ", got shape " + shape_str(a));
  }
  return a;
}

// Window arguments -> geometry (everything but the shapes); the output size from them.
struct Window {
  int64_t kh, kw, sh, sw, ph, pw, ph_hi, pw_hi, dh, dw;
};

void output_size(const char* fn, conv::Geometry& g, const Window& w) {
  if (w.kh < 1 || w.kw < 1) fail(fn, "kernel_size must be >= 1");
  if (w.sh < 1 || w.sw < 1) fail(fn, "stride must be >= 1");
  if (w.dh < 1 || w.dw < 1) fail(fn, "dilation must be >= 1");
  if (w.ph < 0 || w.pw < 0 || w.ph_hi < 0 || w.pw_hi < 0) fail(fn, "padding must be >= 0");
  g.KH = w.kh;
  g.KW = w.kw;
  g.SH = w.sh;
  g.SW = w.sw;
  g.DH = w.dh;
  g.DW = w.dw;
  g.PH = w.ph;
  g.PW = w.pw;
  // overflow-safe: absurd paddings or dilations are a ValueError, not undefined behaviour
  g.OH = size_add(fn, size_add(fn, g.H, w.ph), w.ph_hi) - size_mul(fn, w.dh, w.kh - 1) - 1;
  g.OW = size_add(fn, size_add(fn, g.W, w.pw), w.pw_hi) - size_mul(fn, w.dw, w.kw - 1) - 1;
  // floor division for a negative numerator: the output is empty either way
  g.OH = g.OH < 0 ? 0 : g.OH / w.sh + 1;
  g.OW = g.OW < 0 ? 0 : g.OW / w.sw + 1;
  if (g.OH < 1 || g.OW < 1) {
    fail(fn, "the output would be " + std::to_string(g.OH) + "x" + std::to_string(g.OW) +
                 " (less than 1)");
  }
}

py::array im2col(py::handle x_obj, int64_t kh, int64_t kw, int64_t dh, int64_t dw, int64_t ph,
                 int64_t pw, int64_t sh, int64_t sw) {
  const char* fn = "im2col";
  py::array x = input(fn, "x", x_obj, 3, 4, nullptr);
  const DType dt = expect_float(fn, "x", x);
  const bool batched = x.ndim() == 4;
  conv::Geometry g;
  g.N = batched ? x.shape(0) : 1;
  g.C = x.shape(x.ndim() - 3);
  g.H = x.shape(x.ndim() - 2);
  g.W = x.shape(x.ndim() - 1);
  output_size(fn, g, {kh, kw, sh, sw, ph, pw, ph, pw, dh, dw});
  x = contiguous(x);
  std::vector<py::ssize_t> shape = {size_mul(fn, g.C, size_mul(fn, g.KH, g.KW)),
                                    size_mul(fn, g.OH, g.OW)};
  if (batched) shape.insert(shape.begin(), g.N);
  py::array cols = empty(dt, shape, fn);
  const void* xp = x.data();
  void* cp = cols.mutable_data();
  if (g.N * g.C > 0) {
    run_released(dt, [&](auto zero) {
      using T = decltype(zero);
      conv::im2col(g, static_cast<const T*>(xp), static_cast<T*>(cp));
    });
  }
  return cols;
}

py::array col2im(py::handle cols_obj, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t dh,
                 int64_t dw, int64_t ph, int64_t pw, int64_t sh, int64_t sw) {
  const char* fn = "col2im";
  py::array cols = input(fn, "cols", cols_obj, 2, 3, nullptr);
  const DType dt = expect_float(fn, "cols", cols);
  const bool batched = cols.ndim() == 3;
  if (h < 1 || w < 1) fail(fn, "output_size must be >= 1");
  conv::Geometry g;
  g.N = batched ? cols.shape(0) : 1;
  g.H = h;
  g.W = w;
  output_size(fn, g, {kh, kw, sh, sw, ph, pw, ph, pw, dh, dw});
  const int64_t rows = cols.shape(cols.ndim() - 2), length = cols.shape(cols.ndim() - 1);
  const int64_t L = size_mul(fn, g.OH, g.OW), KK = size_mul(fn, g.KH, g.KW);
  if (rows % KK != 0) {
    fail(fn, "cols has " + std::to_string(rows) + " rows, which is not a multiple of the kernel's " +
                 std::to_string(KK) + " positions");
  }
  if (length != L) {
    fail(fn, "cols has " + std::to_string(length) + " blocks, but the geometry gives " +
                 std::to_string(L));
  }
  g.C = rows / KK;
  cols = contiguous(cols);
  std::vector<py::ssize_t> shape = {g.C, g.H, g.W};
  if (batched) shape.insert(shape.begin(), g.N);
  py::array x = empty(dt, shape, fn);
  const void* cp = cols.data();
  void* xp = x.mutable_data();
  if (g.N * g.C > 0) {
    run_released(dt, [&](auto zero) {
      using T = decltype(zero);
      conv::col2im(g, static_cast<const T*>(cp), static_cast<T*>(xp));
    });
  }
  return x;
}

// x and weight checked against each other and the window; the geometry.
conv::Geometry conv_geometry(const char* fn, const py::array& x, const py::array& w,
                             const Window& win, int64_t groups) {
  conv::Geometry g;
  g.N = x.shape(0);
  g.C = x.shape(1);
  g.H = x.shape(2);
  g.W = x.shape(3);
  g.F = w.shape(0);
  if (groups < 1) fail(fn, "groups must be a positive int, got " + std::to_string(groups));
  g.G = groups;
  if (g.C % groups != 0 || g.F % groups != 0) {
    fail(fn, "groups=" + std::to_string(groups) + " must divide both the input channels (x.shape[1] = " +
                 std::to_string(g.C) + ") and the output channels (weight.shape[0] = " +
                 std::to_string(g.F) + ")");
  }
  if (w.shape(1) != g.C / groups) {
    fail(fn, "weight.shape[1] = " + std::to_string(w.shape(1)) + ", expected x.shape[1] / groups = " +
                 std::to_string(g.C / groups));
  }
  if (w.shape(2) != win.kh || w.shape(3) != win.kw) fail(fn, "weight's kernel does not match the window");
  output_size(fn, g, win);
  return g;
}

py::array conv2d(py::handle x_obj, py::handle w_obj, py::handle b_obj, int64_t sh, int64_t sw,
                 int64_t ph, int64_t pw, int64_t ph_hi, int64_t pw_hi, int64_t dh, int64_t dw,
                 int64_t groups) {
  const char* fn = "conv2d";
  py::array x = input(fn, "x", x_obj, 4, 4, nullptr);
  const DType dt = expect_float(fn, "x", x);
  py::array w = input(fn, "weight", w_obj, 4, 4, &dt);
  const conv::Geometry g =
      conv_geometry(fn, x, w, {w.shape(2), w.shape(3), sh, sw, ph, pw, ph_hi, pw_hi, dh, dw}, groups);
  py::array b;
  const bool has_bias = !b_obj.is_none();
  if (has_bias) {
    b = input(fn, "bias", b_obj, 1, 1, &dt);
    if (b.shape(0) != g.F) {
      fail(fn, "bias has shape " + shape_str(b) + ", expected (" + std::to_string(g.F) + ",)");
    }
    b = contiguous(b);
  }
  x = contiguous(x);
  w = contiguous(w);
  py::array y = empty(dt, {g.N, g.F, g.OH, g.OW}, fn);
  const void *xp = x.data(), *wp = w.data(), *bp = has_bias ? b.data() : nullptr;
  void* yp = y.mutable_data();
  if (g.N * g.F > 0) {
    run_released(dt, [&](auto zero) {
      using T = decltype(zero);
      conv::conv2d_forward(g, static_cast<const T*>(xp), static_cast<const T*>(wp),
                           static_cast<const T*>(bp), static_cast<T*>(yp));
    });
  }
  return y;
}

py::tuple conv2d_backward(py::handle gy_obj, py::handle x_obj, py::handle w_obj, int64_t sh,
                          int64_t sw, int64_t ph, int64_t pw, int64_t ph_hi, int64_t pw_hi,
                          int64_t dh, int64_t dw, int64_t groups, bool bias) {
  const char* fn = "conv2d_backward";
  py::array x = input(fn, "x", x_obj, 4, 4, nullptr);
  const DType dt = expect_float(fn, "x", x);
  py::array w = input(fn, "weight", w_obj, 4, 4, &dt);
  const conv::Geometry g =
      conv_geometry(fn, x, w, {w.shape(2), w.shape(3), sh, sw, ph, pw, ph_hi, pw_hi, dh, dw}, groups);
  py::array gy = input(fn, "grad_y", gy_obj, 4, 4, &dt);
  if (gy.shape(0) != g.N || gy.shape(1) != g.F || gy.shape(2) != g.OH || gy.shape(3) != g.OW) {
    fail(fn, "grad_y has shape " + shape_str(gy) + ", expected (" + std::to_string(g.N) + ", " +
                 std::to_string(g.F) + ", " + std::to_string(g.OH) + ", " + std::to_string(g.OW) +
                 ") (the output of conv2d)");
  }
  x = contiguous(x);
  w = contiguous(w);
  gy = contiguous(gy);
  py::array gx = empty(dt, {g.N, g.C, g.H, g.W}, fn);
  py::array gw = empty(dt, {g.F, g.C / g.G, g.KH, g.KW}, fn);
  py::object gb = py::none();
  py::array gba;
  if (bias) {
    gba = empty(dt, {g.F}, fn);
    gb = gba;
  }
  const void *gyp = gy.data(), *xp = x.data(), *wp = w.data();
  void *gxp = gx.mutable_data(), *gwp = gw.mutable_data();
  void* gbp = bias ? gba.mutable_data() : nullptr;
  run_released(dt, [&](auto zero) {
    using T = decltype(zero);
    conv::conv2d_backward(g, static_cast<const T*>(gyp), static_cast<const T*>(xp),
                          static_cast<const T*>(wp), static_cast<T*>(gxp), static_cast<T*>(gwp),
                          static_cast<T*>(gbp));
  });
  return py::make_tuple(gx, gw, gb);
}

}  // namespace

void register_conv(py::module_& m) {
  m.def("_im2col", &im2col);
  m.def("_col2im", &col2im);
  m.def("_conv2d", &conv2d);
  m.def("_conv2d_backward", &conv2d_backward);
}

}  // namespace fastdl::bind
