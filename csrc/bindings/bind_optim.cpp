// Bindings of the fused optimizer steps: unpack the lists, validate every array (before
// anything is written), release the GIL, call the kernel. The Python wrappers in
// fastdl/ops/optim.py own the public signatures and check the scalar arguments.
#include <algorithm>
#include <array>
#include <iterator>
#include <utility>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "kernels/optim.h"

namespace fastdl::bind {

namespace {

struct StateArg {
  const char* name;
  py::handle list;
  bool used;  // an unused state list may be empty (or full, and then it is ignored)
};

struct Unpacked {
  DType dtype = DType::f32;
  std::vector<py::array> keep;  // references (and copies of strided grads) kept alive
  std::vector<void*> param;
  std::vector<const void*> grad;
  std::array<std::vector<void*>, 3> state;
  std::vector<int64_t> size;
};

std::string item(const char* list, size_t i) { return std::string(list) + "[" + std::to_string(i) + "]"; }

// Aliasing. The in-place targets (params and used state arrays, all C-contiguous) must
// not share memory with one another: the same array passed twice (as two params, as a
// param and its state, as two state buffers) would be updated twice or with one
// buffer's value read as another's, and the threads would race on it. That is a
// ValueError, raised before anything is written. A grad is only read, so one that
// shares memory with a target (a param passed as its own grad, say) is copied here, once,
// and the step then computes what it computes on separate arrays.
void check_aliasing(const char* fn, Unpacked& u,
                    const std::vector<std::pair<const char*, size_t>>& state_names) {
  const size_t n = u.param.size();
  struct Span {
    ByteRange r;
    size_t k;  // index into u.keep
  };
  std::vector<Span> spans;
  auto add = [&](size_t k) {
    const ByteRange r = byte_range(u.keep[k]);
    if (r.first < r.last) spans.push_back({r, k});
  };
  for (size_t i = 0; i < n; ++i) add(2 * i);
  for (size_t k = 2 * n; k < u.keep.size(); ++k) add(k);
  auto name = [&](size_t k) {
    if (k < 2 * n) return item("params", k / 2);
    const auto& sn = state_names[k - 2 * n];
    return item(sn.first, sn.second);
  };
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.r.first < b.r.first; });
  for (size_t j = 1; j < spans.size(); ++j) {
    if (spans[j].r.first < spans[j - 1].r.last) {
      const size_t a = std::min(spans[j - 1].k, spans[j].k), b = std::max(spans[j - 1].k, spans[j].k);
      throw py::value_error(std::string(fn) + ": " + name(b) + " shares memory with " + name(a) +
                            "; arrays updated in place must be distinct and not overlap");
    }
  }
  // The spans are now disjoint and sorted: a grad overlaps one iff it overlaps the last
  // span that starts before the grad's end.
  for (size_t i = 0; i < n; ++i) {
    const ByteRange g = byte_range(u.keep[2 * i + 1]);
    if (g.first == g.last || spans.empty()) continue;
    auto it = std::lower_bound(spans.begin(), spans.end(), g.last,
                               [](const Span& s, const char* end) { return s.r.first < end; });
    if (it != spans.begin() && std::prev(it)->r.last > g.first) {
      u.keep[2 * i + 1] = aligned_copy(u.keep[2 * i + 1]);
      u.grad[i] = u.keep[2 * i + 1].data();
    }
  }
}

Unpacked unpack(const char* fn, py::handle params_obj, py::handle grads_obj,
                std::initializer_list<StateArg> states) {
  const py::sequence params = expect_sequence(fn, "params", params_obj);
  const py::sequence grads = expect_sequence(fn, "grads", grads_obj);
  const size_t n = params.size();
  if (grads.size() != n) {
    throw py::value_error(std::string(fn) + ": grads has " + std::to_string(grads.size()) +
                          " arrays, params has " + std::to_string(n));
  }
  std::vector<py::sequence> lists;
  for (const StateArg& s : states) {
    const py::sequence l = expect_sequence(fn, s.name, s.list);
    const size_t k = l.size();
    if (s.used ? k != n : (k != 0 && k != n)) {
      throw py::value_error(std::string(fn) + ": " + s.name + " has " + std::to_string(k) +
                            " arrays, expected " + std::to_string(n) + " (one per parameter)" +
                            (s.used ? std::string() : std::string(" or none")));
    }
    lists.push_back(l);
  }
  Unpacked u;
  u.keep.reserve(n * (2 + lists.size()));
  u.param.reserve(n);
  u.grad.reserve(n);
  u.size.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string pname = item("params", i);
    py::array p = expect_array(fn, pname, params[i]);
    const DType dt = expect_float(fn, pname, p);
    if (i == 0) {
      u.dtype = dt;
    }
    // params[i] against params[0]'s dtype, and its own shape: writable, C-contiguous.
    check_inplace(fn, pname, p, u.dtype, p, i == 0 ? pname : item("params", 0));
    py::array g = as_input(fn, item("grads", i), expect_array(fn, item("grads", i), grads[i]),
                           u.dtype, p, pname);
    u.param.push_back(p.mutable_data());
    u.grad.push_back(g.data());
    u.size.push_back(static_cast<int64_t>(p.size()));
    u.keep.push_back(std::move(p));
    u.keep.push_back(std::move(g));
  }
  // Names of the in-place targets: params (u.keep[2i]), then the used state arrays in
  // the order they follow the params and grads in u.keep.
  std::vector<std::pair<const char*, size_t>> names;
  size_t si = 0;
  for (const StateArg& s : states) {
    const py::sequence& l = lists[si];
    if (s.used) {
      for (size_t i = 0; i < n; ++i) {
        py::array a = expect_array(fn, item(s.name, i), l[i]);
        check_inplace(fn, item(s.name, i), a, u.dtype, u.keep[2 * i], item("params", i));
        u.state[si].push_back(a.mutable_data());
        u.keep.push_back(std::move(a));
        names.push_back({s.name, i});
      }
    }
    ++si;
  }
  check_aliasing(fn, u, names);
  return u;
}

template <typename T>
optim::Tensors<T> tensors(const Unpacked& u) {
  optim::Tensors<T> t;
  t.size = u.size;
  for (void* p : u.param) t.param.push_back(static_cast<T*>(p));
  for (const void* g : u.grad) t.grad.push_back(static_cast<const T*>(g));
  std::array<std::vector<T*>*, 3> dst{&t.state0, &t.state1, &t.state2};
  for (size_t s = 0; s < 3; ++s) {
    for (void* p : u.state[s]) dst[s]->push_back(static_cast<T*>(p));
  }
  return t;
}

// Runs kernel<T>(tensors, options) for the call's dtype with the GIL released.
template <class Options, class F32, class F64>
auto run(const Unpacked& u, const Options& o, F32 f32, F64 f64) {
  py::gil_scoped_release release;
  if (u.dtype == DType::f32) {
    return f32(tensors<float>(u), o);
  }
  return f64(tensors<double>(u), o);
}

}  // namespace

void register_optim(py::module_& m) {
  m.def("_sgd_step",
        [](py::handle params, py::handle grads, py::handle bufs, double lr, double momentum,
           double dampening, double weight_decay, bool nesterov, bool maximize, int64_t step) {
          const auto u = unpack("sgd_step", params, grads, {{"momentum_buffers", bufs, momentum != 0.0}});
          optim::SgdOptions o{lr, momentum, dampening, weight_decay, nesterov, maximize, step};
          run(u, o, optim::sgd_step<float>, optim::sgd_step<double>);
        });
  m.def("_adagrad_step",
        [](py::handle params, py::handle grads, py::handle sums, double lr, double lr_decay,
           double weight_decay, double eps, bool maximize, int64_t step) {
          const auto u = unpack("adagrad_step", params, grads, {{"state_sums", sums, true}});
          optim::AdagradOptions o{lr, lr_decay, weight_decay, eps, maximize, step};
          run(u, o, optim::adagrad_step<float>, optim::adagrad_step<double>);
        });
  m.def("_adadelta_step",
        [](py::handle params, py::handle grads, py::handle square_avgs, py::handle acc_deltas,
           double lr, double rho, double eps, double weight_decay, bool maximize) {
          const auto u = unpack("adadelta_step", params, grads,
                                {{"square_avgs", square_avgs, true}, {"acc_deltas", acc_deltas, true}});
          optim::AdadeltaOptions o{lr, rho, eps, weight_decay, maximize};
          run(u, o, optim::adadelta_step<float>, optim::adadelta_step<double>);
        });
  m.def("_rmsprop_step",
        [](py::handle params, py::handle grads, py::handle square_avgs, py::handle grad_avgs,
           py::handle bufs, double lr, double alpha, double eps, double weight_decay,
           double momentum, bool centered, bool maximize) {
          const auto u = unpack("rmsprop_step", params, grads,
                                {{"square_avgs", square_avgs, true},
                                 {"grad_avgs", grad_avgs, centered},
                                 {"momentum_buffers", bufs, momentum > 0.0}});
          optim::RmspropOptions o{lr, alpha, eps, weight_decay, momentum, centered, maximize};
          run(u, o, optim::rmsprop_step<float>, optim::rmsprop_step<double>);
        });
  m.def("_adam_step",
        [](py::handle params, py::handle grads, py::handle exp_avgs, py::handle exp_avg_sqs,
           py::handle max_exp_avg_sqs, int64_t step, double lr, double beta1, double beta2,
           double eps, double weight_decay, bool amsgrad, bool maximize, bool decoupled) {
          const auto u = unpack("adam_step", params, grads,
                                {{"exp_avgs", exp_avgs, true},
                                 {"exp_avg_sqs", exp_avg_sqs, true},
                                 {"max_exp_avg_sqs", max_exp_avg_sqs, amsgrad}});
          optim::AdamOptions o{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled, step};
          run(u, o, optim::adam_step<float>, optim::adam_step<double>);
        });
  m.def("_nadam_step",
        [](py::handle params, py::handle grads, py::handle exp_avgs, py::handle exp_avg_sqs,
           int64_t step, double mu_product, double lr, double beta1, double beta2, double eps,
           double weight_decay, double momentum_decay, bool decoupled, bool maximize) {
          const auto u = unpack("nadam_step", params, grads,
                                {{"exp_avgs", exp_avgs, true}, {"exp_avg_sqs", exp_avg_sqs, true}});
          optim::NadamOptions o{lr, beta1, beta2, eps, weight_decay, momentum_decay, mu_product,
                                decoupled, maximize, step};
          return run(u, o, optim::nadam_step<float>, optim::nadam_step<double>);
        });
}

}  // namespace fastdl::bind
