// run_on_every_loop: a task once on each loop's own thread, and a wait until every one
// has run (or been dropped by a loop that exited). How a reload does per-loop work
// (loop_init of fresh modules, moving connections) from its own thread and learns that
// it is done.
#pragma once

#include <gev/event_loop.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

namespace gev::host {

template <class R>
struct Fanout {
  enum class End { kDone, kStopping, kTimedOut };
  End end = End::kDone;
  // Per loop, in the order given: what its task returned, or nullopt if it did not run
  // (a loop that exited dropped it, the task declined, or it was still pending when the
  // wait ended).
  std::vector<std::optional<R>> results;
  size_t pending = 0;  // tasks neither run nor dropped when the wait ended
};

// fn(EventLoop&) -> std::optional<R> runs on each loop's thread. Waits up to `timeout`
// for all of them, and gives up as soon as stopping() says so.
template <class R, class Fn>
Fanout<R> run_on_every_loop(std::span<EventLoop* const> loops, Fn fn,
                            std::chrono::nanoseconds timeout,
                            const std::function<bool()>& stopping) {
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    size_t left = 0;
    std::vector<std::optional<R>> results;
  };
  // Reports when the task is gone: after it ran, or when a stopped loop discarded it.
  struct Token {
    std::shared_ptr<State> state;
    size_t index = 0;
    std::optional<R> result;
    ~Token() {
      std::lock_guard lock(state->mu);
      state->results[index] = std::move(result);
      --state->left;
      state->cv.notify_all();
    }
  };
  auto state = std::make_shared<State>();
  state->left = loops.size();
  state->results.resize(loops.size());
  for (size_t i = 0; i < loops.size(); ++i) {
    auto token = std::make_shared<Token>();
    token->state = state;
    token->index = i;
    EventLoop* loop = loops[i];
    loop->queue_in_loop([loop, token, fn] { token->result = fn(*loop); });
  }
  Fanout<R> out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(state->mu);
  while (state->left != 0) {
    if (stopping()) {
      out.end = Fanout<R>::End::kStopping;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      out.end = Fanout<R>::End::kTimedOut;
      break;
    }
    state->cv.wait_for(lock, std::chrono::milliseconds(50));
  }
  out.results = state->results;
  out.pending = state->left;
  return out;
}

}  // namespace gev::host
