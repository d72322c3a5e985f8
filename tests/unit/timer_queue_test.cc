// TimerQueue: ordering, FIFO ties, cancel (also from callbacks), drift-free run_every
// that skips missed periods, next_deadline; plus a randomized check against a model.
#include <doctest/doctest.h>
#include <gev/timer_queue.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <vector>

using gev::TimerId;
using gev::TimerQueue;

TEST_CASE("TimerQueue ids are unique and increasing") {
  TimerId a = TimerQueue::next_id();
  TimerId b = TimerQueue::next_id();
  TimerId c = TimerQueue::next_id();
  CHECK(a != 0);
  CHECK(a < b);
  CHECK(b < c);
}

TEST_CASE("TimerQueue fires timers added out of order by deadline") {
  TimerQueue q;
  std::vector<int64_t> fired;
  const int64_t whens[] = {50, 10, 30, 20, 40, 5, 45};
  for (int64_t w : whens) q.add(TimerQueue::next_id(), w, 0, [&fired, w] { fired.push_back(w); });
  CHECK(q.size() == 7);
  CHECK(q.next_deadline() == std::optional<int64_t>{5});

  q.run_due(4);
  CHECK(fired.empty());
  q.run_due(25);
  CHECK(fired == std::vector<int64_t>{5, 10, 20});
  CHECK(q.size() == 4);
  CHECK(q.next_deadline() == std::optional<int64_t>{30});
  q.run_due(45);  // a deadline equal to now is due
  CHECK(fired == std::vector<int64_t>{5, 10, 20, 30, 40, 45});
  q.run_due(1000);
  CHECK(fired == std::vector<int64_t>{5, 10, 20, 30, 40, 45, 50});
  CHECK(q.size() == 0);
  CHECK_FALSE(q.next_deadline().has_value());
  q.run_due(2000);
  CHECK(fired.size() == 7);
}

TEST_CASE("TimerQueue timers due together fire in insertion order") {
  TimerQueue q;
  std::vector<int> fired;
  for (int i = 0; i < 20; ++i)
    q.add(TimerQueue::next_id(), 100, 0, [&fired, i] { fired.push_back(i); });
  q.add(TimerQueue::next_id(), 99, 0, [&fired] { fired.push_back(-1); });
  q.run_due(100);
  REQUIRE(fired.size() == 21);
  CHECK(fired[0] == -1);
  for (int i = 0; i < 20; ++i) CHECK(fired[static_cast<size_t>(i) + 1] == i);
}

TEST_CASE("TimerQueue cancel") {
  TimerQueue q;
  int fired = 0;
  TimerId a = TimerQueue::next_id(), b = TimerQueue::next_id();
  q.add(a, 10, 0, [&fired] { fired += 1; });
  q.add(b, 20, 0, [&fired] { fired += 100; });
  CHECK(q.cancel(a));
  CHECK(q.size() == 1);
  CHECK_FALSE(q.cancel(a));                      // already cancelled
  CHECK_FALSE(q.cancel(TimerQueue::next_id()));  // never added
  q.run_due(30);
  CHECK(fired == 100);
  CHECK_FALSE(q.cancel(b));  // already fired
  CHECK(q.size() == 0);

  // A cancelled periodic timer stops.
  TimerId p = TimerQueue::next_id();
  int ticks = 0;
  q.add(p, 100, 10, [&ticks] { ++ticks; });
  q.run_due(125);
  CHECK(ticks == 1);
  CHECK(q.cancel(p));
  q.run_due(1000);
  CHECK(ticks == 1);
  CHECK(q.size() == 0);
  CHECK_FALSE(q.next_deadline().has_value());
}

TEST_CASE("TimerQueue cancel from inside a callback") {
  TimerQueue q;
  std::vector<char> fired;
  TimerId a = TimerQueue::next_id(), b = TimerQueue::next_id(), c = TimerQueue::next_id();
  bool own_cancel_result = true;
  q.add(a, 10, 0, [&] {
    fired.push_back('a');
    CHECK(q.cancel(c));               // another id, due at the same time
    own_cancel_result = q.cancel(a);  // its own (one-shot) id: already done
  });
  q.add(b, 10, 0, [&] { fired.push_back('b'); });
  q.add(c, 10, 0, [&] { fired.push_back('c'); });
  q.run_due(10);
  CHECK(fired == std::vector<char>{'a', 'b'});
  CHECK_FALSE(own_cancel_result);
  CHECK(q.size() == 0);

  // A periodic timer cancelling itself on its third run.
  TimerId p = TimerQueue::next_id();
  int runs = 0;
  q.add(p, 100, 5, [&] {
    if (++runs == 3) CHECK(q.cancel(p));
  });
  q.run_due(100);
  q.run_due(105);
  q.run_due(110);
  q.run_due(115);
  q.run_due(1000);
  CHECK(runs == 3);
  CHECK(q.size() == 0);

  // A periodic timer cancelling a later one.
  TimerId killer = TimerQueue::next_id(), victim = TimerQueue::next_id();
  int victim_runs = 0;
  q.add(killer, 2000, 0, [&] { CHECK(q.cancel(victim)); });
  q.add(victim, 1500, 100, [&] { ++victim_runs; });
  q.run_due(1950);  // 1500, 1600, ..., 1900: skipped periods collapse into one run
  CHECK(victim_runs == 1);
  CHECK(q.next_deadline() == std::optional<int64_t>{2000});
  // Both due at 2000; the killer was added before the victim's re-arm, so it runs first.
  q.run_due(5000);
  CHECK(q.size() == 0);
  CHECK(victim_runs == 1);
}

TEST_CASE("TimerQueue callbacks may add timers") {
  TimerQueue q;
  std::vector<int> fired;
  q.add(TimerQueue::next_id(), 10, 0, [&] {
    fired.push_back(1);
    q.add(TimerQueue::next_id(), 5, 0, [&] { fired.push_back(2); });   // already due
    q.add(TimerQueue::next_id(), 50, 0, [&] { fired.push_back(3); });  // later
  });
  q.run_due(20);
  CHECK(fired == std::vector<int>{1, 2});
  CHECK(q.size() == 1);
  CHECK(q.next_deadline() == std::optional<int64_t>{50});
  q.run_due(50);
  CHECK(fired == std::vector<int>{1, 2, 3});
}

TEST_CASE("TimerQueue run_every keeps its phase without drift") {
  TimerQueue q;
  std::vector<int64_t> runs;
  int64_t clock = 0;
  q.add(TimerQueue::next_id(), 1000, 250, [&] { runs.push_back(clock); });
  CHECK(q.next_deadline() == std::optional<int64_t>{1000});
  // The loop wakes a little late every time; deadlines stay on the 250 grid.
  const int64_t wakes[] = {1000, 1253, 1507, 1760, 2001, 2250};
  for (int64_t t : wakes) {
    clock = t;
    q.run_due(t);
    // The next deadline is the previous deadline plus the interval, not t + interval.
    CHECK(q.next_deadline() ==
          std::optional<int64_t>{1000 + 250 * static_cast<int64_t>(runs.size())});
  }
  CHECK(runs == std::vector<int64_t>(std::begin(wakes), std::end(wakes)));
  CHECK(q.next_deadline() == std::optional<int64_t>{2500});
  clock = 2499;
  q.run_due(2499);
  CHECK(runs.size() == 6);
  CHECK(q.size() == 1);
}

TEST_CASE("TimerQueue run_every skips missed periods after a stall") {
  TimerQueue q;
  int runs = 0;
  q.add(TimerQueue::next_id(), 100, 10, [&] { ++runs; });
  q.run_due(100);
  CHECK(runs == 1);
  CHECK(q.next_deadline() == std::optional<int64_t>{110});
  q.run_due(175);  // 110..170 missed: one run, not seven
  CHECK(runs == 2);
  CHECK(q.next_deadline() == std::optional<int64_t>{180});  // still on the grid
  q.run_due(179);
  CHECK(runs == 2);
  q.run_due(180);
  CHECK(runs == 3);
  q.run_due(200);  // 190 and 200 both due: one run, the next is after now
  CHECK(runs == 4);
  CHECK(q.next_deadline() == std::optional<int64_t>{210});
  q.run_due(1000000);
  CHECK(runs == 5);
  CHECK(q.next_deadline() == std::optional<int64_t>{1000010});
}

TEST_CASE("TimerQueue next_deadline") {
  TimerQueue q;
  CHECK_FALSE(q.next_deadline().has_value());
  TimerId a = TimerQueue::next_id(), b = TimerQueue::next_id();
  q.add(a, 300, 0, [] {});
  CHECK(q.next_deadline() == std::optional<int64_t>{300});
  q.add(b, 200, 0, [] {});
  CHECK(q.next_deadline() == std::optional<int64_t>{200});
  // After cancelling the earliest, the answer may be early (stale) but never late;
  // the next run_due brings it up to date.
  CHECK(q.cancel(b));
  REQUIRE(q.next_deadline().has_value());
  CHECK(*q.next_deadline() <= 300);
  q.run_due(0);
  CHECK(q.next_deadline() == std::optional<int64_t>{300});
  CHECK(q.cancel(a));
  q.run_due(0);
  CHECK_FALSE(q.next_deadline().has_value());
}

TEST_CASE("TimerQueue drops a cancelled top at once and compacts cancelled entries") {
  TimerQueue q;
  int fired = 0;
  TimerId live = TimerQueue::next_id();
  q.add(live, 100, 0, [&] { ++fired; });
  // Timers armed and cancelled under a live top (handshake deadlines, say): they are
  // not looked at on each pass, and they do not pile up.
  for (int i = 0; i < 10000; ++i) {
    TimerId t = TimerQueue::next_id();
    q.add(t, 1000 + i, 0, [&] { fired += 100; });
    CHECK(q.cancel(t));
  }
  CHECK(q.size() == 1);
  CHECK(q.heap_entries() <= 2 * 64 + 2);
  CHECK(q.next_deadline() == std::optional<int64_t>{100});
  // Cancelling the top: next_deadline moves on without a run_due.
  TimerId early = TimerQueue::next_id();
  q.add(early, 50, 0, [&] { fired += 1000; });
  CHECK(q.next_deadline() == std::optional<int64_t>{50});
  CHECK(q.cancel(early));
  CHECK(q.next_deadline() == std::optional<int64_t>{100});
  // Re-arming an id later leaves no stale top either.
  q.add(live, 500, 0, [&] { ++fired; });
  CHECK(q.next_deadline() == std::optional<int64_t>{500});
  q.run_due(20000);
  CHECK(fired == 1);
  CHECK_FALSE(q.next_deadline().has_value());
}

TEST_CASE("TimerQueue handles negative and large deadlines") {
  TimerQueue q;
  std::vector<int> fired;
  q.add(TimerQueue::next_id(), -50, 0, [&] { fired.push_back(1); });
  q.add(TimerQueue::next_id(), INT64_MAX / 2, 0, [&] { fired.push_back(2); });
  q.run_due(-51);
  CHECK(fired.empty());
  q.run_due(0);
  CHECK(fired == std::vector<int>{1});
  q.run_due(INT64_MAX / 2);
  CHECK(fired == std::vector<int>{1, 2});
}

// ---------------------------------------------------------------------------------------
// Random adds, cancels and run_due calls against a model.

TEST_CASE("TimerQueue matches a model under random operations") {
  std::mt19937_64 gen(77);
  auto between = [&gen](int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(gen() % static_cast<uint64_t>(hi - lo + 1));
  };

  struct Expect {
    int64_t when;  // next deadline
    int64_t interval;
    uint64_t seq;  // order of the add or of the last periodic re-arm: breaks ties
  };
  struct Fire {
    int64_t when;
    uint64_t seq;
  };
  TimerQueue q;
  std::map<TimerId, Expect> model;
  std::vector<Fire> fired;  // scheduled deadline and tie-break order of each fire
  int64_t now = 0;
  uint64_t seq = 0;
  uint64_t total_fires = 0, periodic_fires = 0, callback_cancels = 0;

  std::function<void(TimerId)> on_fire = [&](TimerId id) {
    auto it = model.find(id);
    REQUIRE(it != model.end());  // never fires once cancelled or done
    Expect& e = it->second;
    CHECK(e.when <= now);
    fired.push_back({e.when, e.seq});
    ++total_fires;
    if (e.interval > 0) {
      ++periodic_fires;
      e.when += e.interval;
      while (e.when <= now) e.when += e.interval;  // missed periods are skipped
      e.seq = seq++;
    } else {
      model.erase(it);
    }
    if (between(0, 9) == 0 && !model.empty()) {  // cancel a random pending timer
      auto victim = model.begin();
      std::advance(victim, between(0, static_cast<int64_t>(model.size()) - 1));
      TimerId vid = victim->first;
      model.erase(victim);
      CHECK(q.cancel(vid));
      ++callback_cancels;
    }
  };

  for (int round = 0; round < 3000; ++round) {
    CAPTURE(round);
    int adds = static_cast<int>(between(0, 3));
    for (int k = 0; k < adds; ++k) {
      TimerId id = TimerQueue::next_id();
      int64_t when = now + between(-5, 400);
      int64_t interval = between(0, 3) == 0 ? between(1, 120) : 0;
      model[id] = Expect{when, interval, seq++};
      q.add(id, when, interval, [&on_fire, id] { on_fire(id); });
    }
    if (between(0, 4) == 0 && !model.empty()) {
      auto it = model.begin();
      std::advance(it, between(0, static_cast<int64_t>(model.size()) - 1));
      CHECK(q.cancel(it->first));
      model.erase(it);
    }
    CHECK(q.size() == model.size());
    std::optional<int64_t> next = q.next_deadline();
    if (!model.empty()) {
      int64_t first = INT64_MAX;
      for (const auto& [id, e] : model) first = std::min(first, e.when);
      REQUIRE(next.has_value());
      CHECK(*next <= first);  // stale entries may make it early, never late
    }

    now += between(0, 3) == 0 ? between(200, 2000) : between(0, 60);
    fired.clear();
    q.run_due(now);
    // By deadline; ties in the order of adding (or of re-arming).
    for (size_t k = 1; k < fired.size(); ++k) {
      const Fire& a = fired[k - 1];
      const Fire& b = fired[k];
      CHECK((a.when < b.when || (a.when == b.when && a.seq < b.seq)));
    }
    // Every timer due at this run_due fired (or was cancelled by a callback): what is
    // left is in the future. Together with the check in on_fire: on time, exactly once.
    for (const auto& [id, e] : model) CHECK(e.when > now);
    CHECK(q.size() == model.size());
  }
  CHECK(total_fires > 1000);
  CHECK(periodic_fires > 200);
  CHECK(callback_cancels > 10);
}
