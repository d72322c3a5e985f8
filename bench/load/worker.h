// One gev-load worker thread: drives a share of the connections from its own
// epoll loop, verifies every echoed byte and records latencies.
#ifndef GEV_BENCH_LOAD_WORKER_H_
#define GEV_BENCH_LOAD_WORKER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "histogram.h"
#include "ws_client.h"

namespace gev::load {

struct WorkerConfig {
  std::vector<int> fds;        // connected, non-blocking sockets (owned)
  uint64_t first_conn_id = 0;  // global id of fds[0]; seeds payloads
  size_t size = 0;             // message size in bytes
  uint32_t pipeline = 1;       // max messages in flight per connection
  double rate = 0;             // msgs/s for this worker; 0 = unpaced
  int64_t start_ns = 0;        // CLOCK_MONOTONIC: load begins
  int64_t measure_ns = 0;      // stats window [measure_ns, end_ns)
  int64_t end_ns = 0;          // load stops, sockets closed
  bool ascii = false;          // payload bytes < 0x80 (valid UTF-8 for text frames)
  bool compressible = false;   // payload built from few distinct words (deflates)
  // --ws: messages travel as WebSocket frames; sessions[i] is what fds[i]'s handshake
  // negotiated. Empty for raw echo.
  std::vector<ws::Session> sessions;
  // --tls: tls[i] is fds[i]'s established session (owned, freed with the socket). Empty
  // for plain TCP.
  std::vector<SSL*> tls;
  uint8_t opcode = ws::kBinary;
  int deflate_level = 1;
};

struct WorkerResult {
  Histogram latency_ns;     // messages completed inside the window
  uint64_t msgs = 0;        // completed inside the window
  uint64_t msgs_total = 0;  // completed at any time (incl. warmup)
  uint64_t errors = 0;
};

// Runs the worker loop until cfg.end_ns, then closes its sockets.
void RunWorker(const WorkerConfig& cfg, WorkerResult* out);

// CLOCK_MONOTONIC in nanoseconds.
int64_t NowNs();

}  // namespace gev::load

#endif  // GEV_BENCH_LOAD_WORKER_H_
