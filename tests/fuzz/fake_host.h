// FakeHost: an in-process stand-in for gev-host's function table (gev_host_api), for the
// fuzz harness. One loop, one connection at a time, no sockets and no threads. It keeps
// the host's rules where a module could notice them (send after close, owned timers
// cancelled with their connection, metrics defined only during create, a reserved writer
// piece valid only until the next writer call) and records instead of acting.
#ifndef GEV_FUZZ_FAKE_HOST_H
#define GEV_FUZZ_FAKE_HOST_H

#include <gev/sdk/gev_module.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace gev::fuzz {

// As core/src/connection.cc: kClosing stops decoding but lets replies of the current
// read out; kClosed drops them too.
enum class ConnState { kConnected, kClosing, kClosed };

struct FakeConn {
  uint64_t id = 1;
  ConnState state = ConnState::kConnected;
  bool write_shut = false;  // shutdown_write was called
  bool paused = false;
  void* context = nullptr;         // the handler's pointer
  void* protocol_state = nullptr;  // what the protocol's conn_open returned
  uint64_t input_size = 0;         // undecoded bytes held, for conn_input_size
  bool gone = false;               // on_close has returned: the handle is dead
};

struct Timer {
  gev_timer_id id;
  bool owned;  // by the connection: cancelled when it closes
  uint64_t interval_ns;
  gev_task_fn fn;
  void* arg;
  bool live;
};

struct Task {
  gev_task_fn fn;
  void* arg;
};

// Output being encoded. Appended bytes are copied at once; a reserved piece is its own
// heap block, copied in and freed at the next writer call, so a module that writes
// through a stale reserve() pointer is a heap-use-after-free under ASan.
class FakeWriter {
 public:
  ~FakeWriter() { settle(); }
  gev_status append(gev_bytes b);
  uint8_t* reserve(uint64_t n);
  void settle();  // the pending reserved piece joins the output
  const std::vector<uint8_t>& bytes() const { return out_; }

 private:
  std::vector<uint8_t> out_;
  std::unique_ptr<uint8_t[]> piece_;
  uint64_t piece_len_ = 0;
};

class FakeHost {
 public:
  FakeHost();
  // The table handed to gev_module_entry: one per process, as in gev-host.
  static const gev_host_api* api();
  // The host the table's callbacks act on; set by the harness for each input.
  static FakeHost* current;

  gev_loop* loop() { return reinterpret_cast<gev_loop*>(&loop_tag_); }
  gev_conn* conn() { return reinterpret_cast<gev_conn*>(&conn_); }
  FakeConn& conn_state() { return conn_; }

  // The protocol table of the module under test: send() encodes through it.
  void set_protocol(const gev_protocol_vtable* p, void* module_state) {
    protocol_ = p;
    module_state_ = module_state;
  }
  void set_creating(bool creating) { creating_ = creating; }

  // Encodes msg with the module's encode (as Pipeline::encode): a failure aborts the
  // connection.
  void encode(const gev_frame& msg);
  gev_status send(gev_conn* c, const gev_frame* msg);

  // Fires every live timer once (owned ones only while the connection is open),
  // including those started by the callbacks; one-shot timers are then done.
  void fire_timers();
  // Runs posted tasks, including those they post, up to a bound (a task that always
  // re-posts itself would otherwise never let the input finish).
  void run_posted();
  // What the host does when the connection closes: owned timers go.
  void cancel_owned_timers();
  void drop_loop_work();  // at loop_fini: the loop's timers and tasks never run

  std::vector<Timer> timers;
  std::vector<Task> posted;
  std::vector<uint8_t> last_encoded;  // the wire form of the last message encoded
  std::vector<uint8_t> transcript;    // every message encoded, in order

 private:
  static void fill_api(gev_host_api& a);

  int loop_tag_ = 0;
  FakeConn conn_;
  const gev_protocol_vtable* protocol_ = nullptr;
  void* module_state_ = nullptr;
  bool creating_ = false;
  bool in_encode_ = false;
  gev_timer_id next_timer_ = 1;

  friend struct Api;
};

}  // namespace gev::fuzz

#endif  // GEV_FUZZ_FAKE_HOST_H
