// EventLoop: poll, dispatch, timers, then queued tasks, round after round.
#include "gev/event_loop.h"

#include <cassert>
#include <cstdio>
#include <cstdlib>

#include "gev/connection.h"
#include "gev/log.h"
#include "gev/write_batch.h"
#include "poller.h"
#include "wakeup.h"

namespace gev {

namespace {
int64_t monotonic_ns() {
  return detail::Poller::now_ns();
}
}  // namespace

EventLoop::EventLoop(size_t index)
    : index_(index),
      thread_id_(std::thread::id{}),
      poller_(detail::make_poller()),
      wakeup_(std::make_unique<detail::Wakeup>()),
      now_ns_(monotonic_ns()),
      wheel_(static_cast<uint64_t>(now_ns_ / 1000000)),
      read_buffer_(std::make_unique_for_overwrite<uint8_t[]>(kReadBufferSize)) {
  add_io(wakeup_->fd(), detail::kReadable, wakeup_.get());
}

EventLoop::~EventLoop() {
  remove_io(wakeup_->fd(), detail::kReadable);
}

void EventLoop::discard_pending() {
  // A destructor may queue or cancel more: repeat until nothing is left (bounded).
  for (int round = 0; round < 8; ++round) {
    std::vector<Task> tasks;
    {
      std::lock_guard lock(tasks_mu_);
      tasks.swap(tasks_);
    }
    TimerQueue timers = std::move(timers_);
    timers_ = TimerQueue();
    if (tasks.empty() && timers.size() == 0) return;
  }  // tasks and timers die here, at the end of each round
}

void EventLoop::assert_in_loop_thread() const {
  if (!in_loop_thread()) {
    std::fprintf(stderr, "gev: EventLoop %zu used from a foreign thread\n", index_);
    std::abort();
  }
}

void EventLoop::add_io(int fd, uint32_t mask, detail::IoHandler* handler) {
  size_t i = static_cast<size_t>(fd);
  if (i >= handlers_.size()) handlers_.resize(i + 1 + i / 2, nullptr);
  handlers_[i] = handler;
  poller_->add(fd, mask);
}

void EventLoop::update_io(int fd, uint32_t old_mask, uint32_t new_mask) {
  poller_->modify(fd, old_mask, new_mask);
}

void EventLoop::remove_io(int fd, uint32_t old_mask) {
  size_t i = static_cast<size_t>(fd);
  if (fd < 0 || i >= handlers_.size() || handlers_[i] == nullptr) return;  // never added
  poller_->remove(fd, old_mask);
  // Clearing the slot drops any event for fd still in this round's list.
  handlers_[i] = nullptr;
}

void EventLoop::attach(Connection* c) {
  c->prev_in_loop = nullptr;
  c->next_in_loop = conn_head_;
  if (conn_head_) conn_head_->prev_in_loop = c;
  conn_head_ = c;
}

void EventLoop::detach(Connection* c) {
  if (c->prev_in_loop)
    c->prev_in_loop->next_in_loop = c->next_in_loop;
  else
    conn_head_ = c->next_in_loop;
  if (c->next_in_loop) c->next_in_loop->prev_in_loop = c->prev_in_loop;
  c->prev_in_loop = c->next_in_loop = nullptr;
  note_gone();
}

void EventLoop::for_each_connection(const std::function<void(Connection&)>& fn) {
  assert_in_loop_thread();
  // A snapshot: fn may close any connection, which unlinks it from the list.
  std::vector<std::shared_ptr<Connection>> all;
  all.reserve(connection_count());
  for (Connection* c = conn_head_; c; c = c->next_in_loop) all.push_back(c->shared_from_this());
  for (auto& c : all) fn(*c);
}

void EventLoop::grow_batches() {
  batches_.push_back(std::make_unique<WriteBatch>());
}

void EventLoop::update_time() {
  now_ns_ = monotonic_ns();
}

int64_t EventLoop::next_deadline_ns() const {
  std::optional<int64_t> next = timers_.next_deadline();
  if (std::optional<uint64_t> w = wheel_.next_event()) {
    int64_t wns = static_cast<int64_t>(*w) * 1000000;
    if (!next || wns < *next) next = wns;
  }
  return next ? *next : detail::Poller::kForever;
}

void EventLoop::run() {
  thread_id_.store(std::this_thread::get_id());
  std::vector<detail::PollEvent> events(1024);
  while (!quit_.load(std::memory_order_acquire)) {
    int n = poller_->wait_until(events, next_deadline_ns());
    update_time();
    for (int i = 0; i < n; ++i) {
      size_t fd = static_cast<size_t>(events[i].fd);
      if (fd < handlers_.size() && handlers_[fd]) handlers_[fd]->handle_io(events[i].mask);
    }
    if (static_cast<size_t>(n) == events.size()) events.resize(events.size() * 2);
    timers_.run_due(now_ns_);
    wheel_.advance(now_ms());
    run_tasks();
  }
  run_tasks();
}

void EventLoop::quit() {
  quit_.store(true, std::memory_order_release);
  if (!in_loop_thread()) wakeup_->notify();
}

void EventLoop::run_in_loop(Task task) {
  if (in_loop_thread())
    task();
  else
    queue_in_loop(std::move(task));
}

void EventLoop::queue_in_loop(Task task) {
  {
    std::lock_guard lock(tasks_mu_);
    tasks_.push_back(std::move(task));
    tasks_pending_.store(true, std::memory_order_release);
  }
  // From the loop itself a wake-up is needed only while tasks run: the next poll must
  // not block on a task queued by a task.
  if (!in_loop_thread() || running_tasks_.load(std::memory_order_relaxed)) wakeup_->notify();
}

void EventLoop::run_tasks() {
  // Most rounds have no task: skip the lock then.
  if (!tasks_pending_.load(std::memory_order_acquire)) return;
  std::vector<Task> tasks;
  {
    std::lock_guard lock(tasks_mu_);
    tasks.swap(tasks_);
    tasks_pending_.store(false, std::memory_order_relaxed);
  }
  if (tasks.empty()) return;
  running_tasks_.store(true, std::memory_order_relaxed);
  for (Task& t : tasks) t();
  // Still "running" while the tasks die: what their destructors queue here must wake
  // the next poll too (a last reference released there may queue the next step).
  tasks.clear();
  running_tasks_.store(false, std::memory_order_relaxed);
}

TimerId EventLoop::run_after(std::chrono::nanoseconds delay, Task task) {
  TimerId id = TimerQueue::next_id();
  run_in_loop([this, id, delay, task = std::move(task)]() mutable {
    timers_.add(id, monotonic_ns() + delay.count(), 0, std::move(task));
  });
  return id;
}

TimerId EventLoop::run_every(std::chrono::nanoseconds interval, Task task) {
  return run_every(interval, interval, std::move(task));
}

TimerId EventLoop::run_every(std::chrono::nanoseconds first, std::chrono::nanoseconds interval,
                             Task task) {
  TimerId id = TimerQueue::next_id();
  if (interval.count() <= 0) interval = std::chrono::nanoseconds(1);
  run_in_loop([this, id, first, interval, task = std::move(task)]() mutable {
    timers_.add(id, monotonic_ns() + first.count(), interval.count(), std::move(task));
  });
  return id;
}

void EventLoop::cancel(TimerId id) {
  if (in_loop_thread() && timers_.cancel(id)) return;
  // Not armed yet? A run_after from another thread may still sit in the task queue (its
  // id can reach us before its add runs): cancel again after the tasks queued so far.
  queue_in_loop([this, id] { timers_.cancel(id); });
}

}  // namespace gev
