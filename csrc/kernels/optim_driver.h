// The work partition of the fused optimizer steps, shared by every ISA unit.
//
// Every tensor is cut into fixed chunks of kChunk elements; a thread gets a contiguous
// run of chunks, chosen by element count, so one huge tensor uses every thread and many
// tiny tensors do not serialise. Which code path (vector body or scalar tail) handles an
// element depends only on its chunk, never on the thread count, so the result is
// bitwise identical for any number of threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/common.h"
#include "kernels/threads.h"

namespace fastdl::optim {

inline constexpr int64_t kChunk = int64_t{1} << 14;
// Below this many elements a parallel region costs more than it saves.
inline constexpr int64_t kParallelMin = int64_t{1} << 15;

// body(i, begin, end) processes elements [begin, end) of tensor i.
template <class Body>
void for_each_chunk(const std::vector<int64_t>& size, Body&& body) {
  struct Chunk {
    int64_t tensor, begin, end;
  };
  std::vector<Chunk> chunks;
  std::vector<int64_t> offset;  // elements before each chunk
  int64_t total = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(size.size()); ++i) {
    for (int64_t b = 0; b < size[i]; b += kChunk) {
      const int64_t e = std::min(b + kChunk, size[i]);
      chunks.push_back({i, b, e});
      offset.push_back(total);
      total += e - b;
    }
  }
  const int64_t nchunks = static_cast<int64_t>(chunks.size());
  int64_t nt = total < kParallelMin ? 1 : std::min<int64_t>(num_threads(), nchunks);
  if (nt <= 1) {
    for (const Chunk& c : chunks) body(c.tensor, c.begin, c.end);
    return;
  }
#if defined(_OPENMP)
  RegionErrors errors;
#pragma omp parallel num_threads(static_cast<int>(nt))
  errors.run([&] {
    const int64_t tid = omp_get_thread_num();
    const int64_t nth = omp_get_num_threads();
    // Thread tid owns the chunks starting in [tid*total/nth, (tid+1)*total/nth).
    const auto lo = std::lower_bound(offset.begin(), offset.end(), tid * total / nth) - offset.begin();
    const auto hi = std::lower_bound(offset.begin(), offset.end(), (tid + 1) * total / nth) - offset.begin();
    for (auto c = lo; c < hi; ++c) body(chunks[c].tensor, chunks[c].begin, chunks[c].end);
  });
  errors.rethrow();
#else
  for (const Chunk& c : chunks) body(c.tensor, c.begin, c.end);
#endif
}

}  // namespace fastdl::optim
