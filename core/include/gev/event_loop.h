// EventLoop: one thread's reactor: a poller, a wake-up fd, a task queue, timers.
//
// Thread rules: everything here runs on the loop's own thread, except the members marked
// thread-safe (run_in_loop, queue_in_loop, run_after, run_every, cancel, quit and the
// counters). Those are the only doors into a loop from elsewhere.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "gev/timer_queue.h"
#include "gev/timer_wheel.h"
#include "gev/write_batch.h"

namespace gev {

class Connection;

namespace detail {
class Poller;
class Wakeup;

// Something the poller reports readiness to; registered per fd on one loop.
class IoHandler {
 public:
  virtual void handle_io(uint32_t mask) = 0;

 protected:
  ~IoHandler() = default;
};
}  // namespace detail

class EventLoop {
 public:
  using Task = std::function<void()>;
  static constexpr size_t kReadBufferSize = 64 * 1024;

  explicit EventLoop(size_t index = 0);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs on the calling thread until quit(); that thread becomes the loop thread.
  void run();
  // Thread-safe. The loop finishes the current round, runs queued tasks, and returns.
  void quit();

  bool in_loop_thread() const { return std::this_thread::get_id() == thread_id_.load(); }
  void assert_in_loop_thread() const;

  // Thread-safe. run_in_loop runs `task` now when called on the loop thread;
  // queue_in_loop always defers it to the end of the current round.
  void run_in_loop(Task task);
  void queue_in_loop(Task task);

  // Thread-safe timers; callbacks run on this loop. Ids can be cancelled from anywhere.
  TimerId run_after(std::chrono::nanoseconds delay, Task task);
  TimerId run_every(std::chrono::nanoseconds interval, Task task);
  // First run after `first`, then every `interval`.
  TimerId run_every(std::chrono::nanoseconds first, std::chrono::nanoseconds interval, Task task);
  void cancel(TimerId id);

  // Monotonic time cached at the last wake-up (no syscall). Loop thread.
  int64_t now_ns() const { return now_ns_; }
  uint64_t now_ms() const { return static_cast<uint64_t>(now_ns_ / 1000000); }
  size_t index() const { return index_; }

  // Connections open on or assigned to this loop; thread-safe (least-connections uses it).
  size_t connection_count() const { return conn_count_.load(std::memory_order_relaxed); }

  // After the loop has stopped for good (its thread ended): destroys the tasks still
  // queued and the timers still pending, with whatever they captured, while what those
  // may refer to still exists (Server's destructor calls it before any loop dies).
  void discard_pending();

  // Loop thread: every open connection on this loop.
  void for_each_connection(const std::function<void(Connection&)>& fn);

  // ---- internal: used by Connection, Listener and Server (loop thread only) ----
  void add_io(int fd, uint32_t mask, detail::IoHandler* handler);
  void update_io(int fd, uint32_t old_mask, uint32_t new_mask);
  void remove_io(int fd, uint32_t old_mask);
  uint8_t* read_buffer() { return read_buffer_.get(); }
  // A second buffer of kReadBufferSize for connections with a transport: wire bytes in
  // and out, while the read buffer holds plaintext. Allocated on first use.
  uint8_t* wire_buffer() {
    if (!wire_buffer_) wire_buffer_ = std::make_unique_for_overwrite<uint8_t[]>(kReadBufferSize);
    return wire_buffer_.get();
  }
  // A batch per nesting level (a send from inside another connection's read).
  WriteBatch& acquire_batch() {
    if (batch_depth_ == batches_.size()) grow_batches();
    return *batches_[batch_depth_++];
  }
  void release_batch() { --batch_depth_; }
  TimerWheel& wheel() { return wheel_; }
  void attach(Connection* c);
  void detach(Connection* c);  // also the note_gone() of a started connection
  // A connection was assigned to this loop (any thread) / an assigned one never started.
  void note_incoming() { conn_count_.fetch_add(1, std::memory_order_relaxed); }
  void note_gone() { conn_count_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  void run_tasks();
  void grow_batches();
  // The earliest timer or idle-wheel deadline (ns, CLOCK_MONOTONIC), or Poller::kForever.
  int64_t next_deadline_ns() const;
  void update_time();

  size_t index_;
  std::atomic<std::thread::id> thread_id_;
  std::atomic<bool> quit_{false};
  std::unique_ptr<detail::Poller> poller_;
  std::unique_ptr<detail::Wakeup> wakeup_;
  std::vector<detail::IoHandler*> handlers_;  // indexed by fd

  std::mutex tasks_mu_;
  std::vector<Task> tasks_;
  std::atomic<bool> tasks_pending_{false};
  std::atomic<bool> running_tasks_{false};

  int64_t now_ns_ = 0;
  TimerQueue timers_;
  TimerWheel wheel_;

  std::unique_ptr<uint8_t[]> read_buffer_;
  std::unique_ptr<uint8_t[]> wire_buffer_;
  std::vector<std::unique_ptr<WriteBatch>> batches_;
  size_t batch_depth_ = 0;

  Connection* conn_head_ = nullptr;  // intrusive list of open connections
  std::atomic<size_t> conn_count_{0};
};

}  // namespace gev
