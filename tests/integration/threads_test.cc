// Threads and timers: send() from foreign threads, run_after/run_every from inside and
// outside the loop, cancel from inside a callback.
#include <doctest/doctest.h>

#include <future>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_client.h"
#include "test_handlers.h"

using namespace gev;
using namespace gev::test;

namespace {

// On "tick", sends "tick\n" every 20 ms from a run_every on the connection's loop and
// cancels it from inside its own callback after five.
class TickHandler : public RecordingEcho {
 public:
  std::span<const uint8_t> on_message(Connection& c, const Frame& f) override {
    if (std::string_view(reinterpret_cast<const char*>(f.data.data()), f.data.size()) != "tick")
      return f.data;
    auto conn = c.shared_from_this();
    auto state = std::make_shared<std::pair<TimerId, int>>(0, 0);
    state->first = c.loop().run_every(std::chrono::milliseconds(20), [conn, state, this] {
      if (!conn->loop().in_loop_thread()) wrong_thread_ = true;
      conn->send("tick\n");
      if (++state->second == 5) conn->loop().cancel(state->first);
    });
    return {};
  }
  std::atomic<bool> wrong_thread_{false};
};

}  // namespace

TEST_CASE("send() from several threads delivers every message, in order per thread") {
  RecordingEcho handler;
  Server server(handler, test_options(2));
  server.start();
  TestClient c(server.port());
  REQUIRE(c.echo("hello") == "hello");
  auto conn = handler.any_live();
  REQUIRE(conn);
  constexpr int kThreads = 4, kEach = 2000;
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([conn, t] {
      for (int i = 0; i < kEach; ++i) {
        char line[32];
        int n = std::snprintf(line, sizeof line, "%d:%05d\n", t, i);
        conn->send(std::string_view(line, static_cast<size_t>(n)));
      }
    });
  }
  for (auto& s : senders) s.join();
  std::string got = c.recv_exact(static_cast<size_t>(kThreads * kEach * 8), 10000);
  std::istringstream in(got);
  std::map<int, int> next;
  std::string line;
  int lines = 0;
  bool ordered = true;
  while (std::getline(in, line)) {
    int t = line[0] - '0';
    int seq = std::stoi(line.substr(2));
    if (seq != next[t]) ordered = false;
    next[t] = seq + 1;
    ++lines;
  }
  CHECK(lines == kThreads * kEach);
  CHECK(ordered);
}

TEST_CASE("run_after and run_every from outside the loop run on the loop, and cancel") {
  RecordingEcho handler;
  Server server(handler, test_options(1));
  server.start();
  EventLoop* loop = server.loops()[0];
  std::promise<bool> after;
  loop->run_after(std::chrono::milliseconds(30), [&] { after.set_value(loop->in_loop_thread()); });
  CHECK(after.get_future().get());

  std::atomic<int> every{0};
  TimerId id = server.run_every(std::chrono::milliseconds(10), [&] { every++; });
  REQUIRE(wait_until([&] { return every >= 3; }));
  server.cancel(id);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // a tick already queued may land
  int settled = every.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(every.load() == settled);

  std::atomic<bool> cancelled_ran{false};
  TimerId doomed = loop->run_after(std::chrono::milliseconds(50), [&] { cancelled_ran = true; });
  loop->cancel(doomed);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  CHECK_FALSE(cancelled_ran.load());
}

TEST_CASE("run_every from inside a handler, cancelled from its own callback") {
  TickHandler handler;
  Server server(handler, test_options(1));
  server.start();
  TestClient c(server.port());
  REQUIRE(c.send_all("tick"));
  CHECK(c.recv_exact(25, 3000) == "tick\ntick\ntick\ntick\ntick\n");
  CHECK(c.recv_exact(1, 200).empty());  // no sixth tick
  CHECK_FALSE(handler.wrong_thread_.load());
}

TEST_CASE("a task queued by a task's destructor on its own loop runs without another event") {
  // A loop with nothing else to do (no timer, no I/O): the destructor of a task that has
  // just run queues another on the same loop; it must run now, not at the next wake-up.
  RecordingEcho handler;
  Server server(handler, test_options(1));
  server.start();
  EventLoop* loop = server.loops()[0];
  std::promise<void> ran;
  struct QueuesOnDeath {
    EventLoop* loop = nullptr;
    std::promise<void>* ran = nullptr;
    ~QueuesOnDeath() {
      if (ran) loop->queue_in_loop([p = ran] { p->set_value(); });
    }
  };
  auto token = std::make_shared<QueuesOnDeath>();
  token->loop = loop;
  token->ran = &ran;
  loop->queue_in_loop([token] {});
  token.reset();  // the task's copy is now the last
  CHECK(ran.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready);
}
