// See stream_read.h.
#include "core/stream_read.h"

#include <atomic>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"

namespace lemma {

uint64_t stream_read(const void* const* arrays, const int64_t* bytes, int n) {
  constexpr int64_t kChunk = int64_t{256} << 10;
  struct Piece {
    const unsigned char* p;
    int64_t len;
  };
  std::vector<Piece> pieces;
  for (int a = 0; a < n; ++a)
    for (int64_t o = 0; o < bytes[a]; o += kChunk)
      pieces.push_back({static_cast<const unsigned char*>(arrays[a]) + o,
                        bytes[a] - o < kChunk ? bytes[a] - o : kChunk});
  std::atomic<uint64_t> sum{0};
  ThreadPool::parallel_for(int64_t(pieces.size()), [&](int64_t i, int) {
    const Piece& pc = pieces[size_t(i)];
    uint64_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t o = 0;
    for (; o + 64 <= pc.len; o += 64)
      for (int c = 0; c < 8; ++c) {
        uint64_t w;
        std::memcpy(&w, pc.p + o + 8 * c, 8);
        acc[c] ^= w;
      }
    for (; o < pc.len; ++o) acc[0] ^= pc.p[o];
    uint64_t s = 0;
    for (int c = 0; c < 8; ++c) s ^= acc[c] * (2 * c + 1);
    sum.fetch_xor(s, std::memory_order_relaxed);
  });
  return sum.load();
}

}  // namespace lemma
