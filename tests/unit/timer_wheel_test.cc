// TimerWheel: exact-tick firing across all levels, cancel and reschedule from callbacks,
// next_event, checked by hand and against a brute-force model under random schedules.
#include <doctest/doctest.h>
#include <gev/timer_wheel.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <vector>

using gev::TimerWheel;

namespace {

constexpr uint64_t kL1 = 64;         // first level-1 delay
constexpr uint64_t kL2 = 4096;       // first level-2 delay
constexpr uint64_t kL3 = 262144;     // first level-3 delay
constexpr uint64_t kL4 = 16777216;   // first level-4 delay
constexpr uint64_t kTop = 1u << 30;  // the wheel's horizon

// A node that records when it fired and can run an action from its callback.
struct Probe : TimerWheel::Node {
  TimerWheel* wheel = nullptr;
  std::vector<uint64_t> fired_at;
  std::vector<int>* order = nullptr;  // shared log of ids, in firing order
  int id = 0;
  void (*action)(Probe*) = nullptr;
  Probe* other = nullptr;
  uint64_t period = 0;

  explicit Probe(TimerWheel* w, int probe_id = 0, std::vector<int>* log = nullptr)
      : wheel(w), order(log), id(probe_id) {
    fire = [](TimerWheel::Node* n) {
      auto* p = static_cast<Probe*>(n);
      p->fired_at.push_back(p->wheel->now());
      if (p->order) p->order->push_back(p->id);
      if (p->action) p->action(p);
    };
  }
};

}  // namespace

TEST_CASE("TimerWheel fires a node at its exact tick, not before") {
  TimerWheel w(1000);
  CHECK(w.now() == 1000);
  Probe p(&w);
  w.schedule(&p, 1010);
  CHECK(w.size() == 1);
  CHECK(p.linked());
  w.advance(1009);
  CHECK(p.fired_at.empty());
  CHECK(w.now() == 1009);
  w.advance(1010);
  REQUIRE(p.fired_at.size() == 1);
  CHECK(p.fired_at[0] == 1010);
  CHECK(w.size() == 0);
  CHECK_FALSE(p.linked());
  w.advance(5000);
  CHECK(p.fired_at.size() == 1);
  CHECK(w.now() == 5000);
}

TEST_CASE("TimerWheel fires exactly on level boundaries") {
  const uint64_t delays[] = {1,   63,      kL1 - 1,  kL1,     kL1 + 1,        kL2 - 1,
                             kL2, kL2 + 1, kL3 - 1,  kL3,     kL3 + 1,        kL4 - 1,
                             kL4, kL4 + 1, kTop - 1, 3600000, 4 * 3600000 + 7};
  for (uint64_t start :
       {uint64_t{0}, uint64_t{1}, uint64_t{63}, kL2 - 1, kL3 + 5, uint64_t{987654321}}) {
    CAPTURE(start);
    for (uint64_t d : delays) {
      CAPTURE(d);
      // One huge jump, then stepping right up to the deadline.
      TimerWheel w(start);
      Probe jump(&w);
      w.schedule(&jump, start + d);
      w.advance(start + d + 12345);
      REQUIRE(jump.fired_at.size() == 1);
      CHECK(jump.fired_at[0] == start + d);

      TimerWheel w2(start);
      Probe step(&w2);
      w2.schedule(&step, start + d);
      if (d > 1) w2.advance(start + d - 1);
      CHECK(step.fired_at.empty());
      w2.advance(start + d);
      REQUIRE(step.fired_at.size() == 1);
      CHECK(step.fired_at[0] == start + d);
    }
  }
}

TEST_CASE("TimerWheel fires on absolute level boundaries") {
  // Deadlines that are multiples of 64^k are visited by the cascade of that very tick.
  for (uint64_t deadline : {kL1, 2 * kL1, kL2, 3 * kL2, kL3, kL4, 5 * kL4, kTop}) {
    CAPTURE(deadline);
    for (uint64_t start : {uint64_t{0}, deadline - 1, deadline - 64, deadline / 2 + 1}) {
      CAPTURE(start);
      if (deadline - start >= kTop) continue;  // beyond the horizon: clamped (tested below)
      TimerWheel w(start);
      Probe p(&w);
      w.schedule(&p, deadline);
      w.advance(deadline - 1);
      CHECK(p.fired_at.empty());
      w.advance(deadline);
      REQUIRE(p.fired_at.size() == 1);
      CHECK(p.fired_at[0] == deadline);
    }
  }
}

TEST_CASE("TimerWheel schedules past deadlines one tick ahead and clamps far ones") {
  TimerWheel w(500);
  Probe past(&w), now_(&w), far(&w);
  w.schedule(&past, 10);
  w.schedule(&now_, 500);
  w.schedule(&far, 500 + (uint64_t{1} << 40));
  w.advance(501);
  REQUIRE(past.fired_at.size() == 1);
  CHECK(past.fired_at[0] == 501);
  REQUIRE(now_.fired_at.size() == 1);
  CHECK(now_.fired_at[0] == 501);
  CHECK(far.fired_at.empty());
  // Later deadlines are clamped to the horizon (2^30 - 1 ms from scheduling).
  w.advance(500 + kTop - 2);
  CHECK(far.fired_at.empty());
  w.advance(500 + kTop + 1000);
  REQUIRE(far.fired_at.size() == 1);
  CHECK(far.fired_at[0] == 500 + kTop - 1);

  // Exactly 2^30 ms ahead is already past the horizon; one less is not.
  TimerWheel w2(0);
  Probe at_top(&w2), below_top(&w2);
  w2.schedule(&at_top, kTop);
  w2.schedule(&below_top, kTop - 1);
  w2.advance(kTop + 10);
  CHECK(at_top.fired_at == std::vector<uint64_t>{kTop - 1});
  CHECK(below_top.fired_at == std::vector<uint64_t>{kTop - 1});
}

TEST_CASE("TimerWheel fires in deadline order within one advance") {
  TimerWheel w(7);
  std::vector<int> order;
  std::vector<std::unique_ptr<Probe>> probes;
  const uint64_t deadlines[] = {300000, 5, 64, 70000, 4096, 100, 99, 1, 262144, 63, 65};
  int id = 0;
  for (uint64_t d : deadlines) {
    probes.push_back(std::make_unique<Probe>(&w, id++, &order));
    w.schedule(probes.back().get(), 7 + d);
  }
  CHECK(w.size() == std::size(deadlines));
  w.advance(7 + 300000);
  REQUIRE(order.size() == std::size(deadlines));
  for (size_t i = 1; i < order.size(); ++i) CHECK(deadlines[order[i - 1]] <= deadlines[order[i]]);
  for (size_t i = 0; i < probes.size(); ++i) {
    REQUIRE(probes[i]->fired_at.size() == 1);
    CHECK(probes[i]->fired_at[0] == 7 + deadlines[i]);
  }
  CHECK(w.size() == 0);
}

TEST_CASE("TimerWheel cancel") {
  TimerWheel w;
  Probe a(&w), b(&w);
  w.schedule(&a, 100);
  w.schedule(&b, 100000);
  CHECK(w.size() == 2);
  w.cancel(&a);
  CHECK_FALSE(a.linked());
  CHECK(w.size() == 1);
  w.cancel(&a);  // not linked: no-op
  CHECK(w.size() == 1);
  w.cancel(&b);
  CHECK(w.size() == 0);
  CHECK_FALSE(w.next_event().has_value());
  w.advance(200000);
  CHECK(a.fired_at.empty());
  CHECK(b.fired_at.empty());

  // Re-scheduling a linked node moves it rather than adding it twice.
  w.schedule(&a, 200050);
  w.schedule(&a, 200010);
  CHECK(w.size() == 1);
  w.advance(200100);
  REQUIRE(a.fired_at.size() == 1);
  CHECK(a.fired_at[0] == 200010);
}

TEST_CASE("TimerWheel cancel from inside another node's callback") {
  std::vector<int> order;
  TimerWheel w;
  Probe a(&w, 1, &order), b(&w, 2, &order), c(&w, 3, &order);
  // Both due on the same tick: whichever fires first cancels the other.
  auto cancel_other = [](Probe* p) { p->wheel->cancel(p->other); };
  a.action = cancel_other;
  a.other = &b;
  b.action = cancel_other;
  b.other = &a;
  w.schedule(&a, 50);
  w.schedule(&b, 50);
  w.schedule(&c, 51);
  w.advance(100);
  CHECK(order.size() == 2);
  CHECK(a.fired_at.size() + b.fired_at.size() == 1);
  REQUIRE(c.fired_at.size() == 1);
  CHECK(w.size() == 0);

  // A callback cancelling a node due later in the same advance.
  order.clear();
  Probe d(&w, 4, &order), e(&w, 5, &order);
  d.action = cancel_other;
  d.other = &e;
  w.schedule(&d, 150);
  w.schedule(&e, 5000);
  w.advance(10000);
  CHECK(order == std::vector<int>{4});
  CHECK(w.size() == 0);
  CHECK_FALSE(e.linked());
}

TEST_CASE("TimerWheel reschedule from the node's own callback") {
  TimerWheel w;
  Probe p(&w);
  p.period = 7;
  p.action = [](Probe* self) {
    if (self->fired_at.size() < 20) self->wheel->schedule(self, self->wheel->now() + self->period);
  };
  w.schedule(&p, 7);
  w.advance(1000);
  REQUIRE(p.fired_at.size() == 20);
  for (size_t i = 0; i < p.fired_at.size(); ++i) CHECK(p.fired_at[i] == 7 * (i + 1));
  CHECK(w.size() == 0);

  // Rescheduling for "now" from the callback lands on the next tick, not this one.
  Probe q(&w);
  q.action = [](Probe* self) {
    if (self->fired_at.size() < 5) self->wheel->schedule(self, self->wheel->now());
  };
  w.schedule(&q, 1001);
  w.advance(2000);
  CHECK(q.fired_at == std::vector<uint64_t>{1001, 1002, 1003, 1004, 1005});

  // Rescheduling far away from the callback across levels.
  Probe r(&w);
  r.action = [](Probe* self) {
    if (self->fired_at.size() < 3) self->wheel->schedule(self, self->wheel->now() + kL3 + 1);
  };
  w.schedule(&r, 3000);
  w.advance(3000 + 3 * (kL3 + 1) + 10);
  CHECK(r.fired_at == std::vector<uint64_t>{3000, 3000 + (kL3 + 1), 3000 + 2 * (kL3 + 1)});
}

TEST_CASE("TimerWheel a callback rescheduling another due node defers it") {
  TimerWheel w;
  std::vector<int> order;
  Probe a(&w, 1, &order), b(&w, 2, &order);
  a.action = [](Probe* self) { self->wheel->schedule(self->other, self->wheel->now() + 10); };
  a.other = &b;
  b.action = [](Probe* self) { self->wheel->schedule(self->other, self->wheel->now() + 10); };
  b.other = &a;
  w.schedule(&a, 20);
  w.schedule(&b, 20);
  w.advance(20);
  // The first to fire pushes the other to tick 30.
  REQUIRE(order.size() == 1);
  CHECK(w.size() == 1);
  w.advance(30);
  REQUIRE(order.size() == 2);
  CHECK(order[0] != order[1]);
  Probe& second = order[1] == 1 ? a : b;
  CHECK(second.fired_at == std::vector<uint64_t>{30});
  // ... which in turn pushed the first one to 40.
  CHECK(w.size() == 1);
  w.advance(40);
  CHECK(order.size() == 3);
  CHECK(order[2] == order[0]);
}

TEST_CASE("TimerWheel next_event") {
  TimerWheel w(100);
  CHECK_FALSE(w.next_event().has_value());
  Probe a(&w), b(&w), c(&w);
  w.schedule(&a, 130);
  CHECK(w.next_event() == std::optional<uint64_t>{130});
  w.schedule(&b, 110);
  CHECK(w.next_event() == std::optional<uint64_t>{110});
  w.advance(110);
  CHECK(w.next_event() == std::optional<uint64_t>{130});
  w.advance(130);
  CHECK_FALSE(w.next_event().has_value());

  // A far deadline: next_event is a lower bound, and a loop sleeping until it wakes a
  // handful of times (one per cascade) rather than every tick.
  for (uint64_t d : {uint64_t{1000}, kL2 + 3, kL3 * 7 + 5, uint64_t{5 * 3600000}, kTop - 1}) {
    CAPTURE(d);
    TimerWheel sw(12345);
    Probe far(&sw);
    sw.schedule(&far, 12345 + d);
    int wakeups = 0;
    while (far.fired_at.empty()) {
      std::optional<uint64_t> next = sw.next_event();
      REQUIRE(next.has_value());
      CHECK(*next > sw.now());
      CHECK(*next <= 12345 + d);
      sw.advance(*next);
      REQUIRE(++wakeups <= 6);
    }
    CHECK(far.fired_at[0] == 12345 + d);
    CHECK_FALSE(sw.next_event().has_value());
  }
}

// ---------------------------------------------------------------------------------------
// Random schedules against a brute-force model.

namespace {

struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  uint64_t between(uint64_t lo, uint64_t hi) { return lo + gen() % (hi - lo + 1); }
  bool chance(unsigned percent) { return gen() % 100 < percent; }
};

struct Model;

struct Tracked : TimerWheel::Node {
  Model* model = nullptr;
  size_t idx = 0;
};

struct Model {
  TimerWheel wheel;
  Rng rng;
  bool chaos;  // cancels and re-arms (which leave stale occupancy bits) allowed
  std::vector<Tracked> nodes;
  std::vector<bool> pending;
  std::vector<uint64_t> deadline;  // effective deadline while pending
  size_t pending_count = 0;
  std::vector<uint64_t> fired_ticks;  // ticks of the fires in the current advance
  uint64_t exact_checks = 0, fires = 0, schedules = 0, cancels = 0, callback_cancels = 0,
           callback_reschedules = 0;

  Model(uint64_t start, uint64_t seed, bool with_chaos, size_t n)
      : wheel(start), rng(seed), chaos(with_chaos), nodes(n), pending(n), deadline(n) {
    for (size_t i = 0; i < n; ++i) {
      nodes[i].model = this;
      nodes[i].idx = i;
      nodes[i].fire = [](TimerWheel::Node* node) {
        auto* t = static_cast<Tracked*>(node);
        t->model->on_fire(t->idx);
      };
    }
  }

  uint64_t random_deadline(uint64_t now) {
    static constexpr uint64_t kEdges[] = {63,     64,     65,     4095,     4096,     4097,
                                          262143, 262144, 262145, 16777215, 16777216, 16777217};
    switch (rng.between(0, 19)) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
      case 5:
        return now + rng.between(1, 63);
      case 6:
      case 7:
      case 8:
        return now + rng.between(64, 4095);
      case 9:
      case 10:
        return now + rng.between(4096, 262143);
      case 11:
        return now + rng.between(262144, 16777215);
      case 12:
        return now + rng.between(16777216, uint64_t{5} * 3600000);  // up to 5 hours
      case 13:
      case 14:
        return now + kEdges[rng.between(0, std::size(kEdges) - 1)];
      case 15:
      case 16: {  // an absolute multiple of 64^k, possibly +-1
        uint64_t unit = uint64_t{1} << (6 * rng.between(1, 4));
        uint64_t aligned = (now / unit + 1 + rng.between(0, 2)) * unit;
        return aligned - 1 + rng.between(0, 2);
      }
      case 17:
        return now;  // not in the future: becomes now + 1
      case 18:
        return now - std::min<uint64_t>(now, rng.between(1, 1000));
      default:
        return now + rng.between(1, 200);
    }
  }

  void arm(size_t i, uint64_t d) {
    uint64_t now = wheel.now();
    wheel.schedule(&nodes[i], d);
    if (!pending[i]) ++pending_count;
    pending[i] = true;
    deadline[i] = d > now ? d : now + 1;
    ++schedules;
  }

  void disarm(size_t i) {
    wheel.cancel(&nodes[i]);
    if (pending[i]) --pending_count;
    pending[i] = false;
  }

  size_t random_node() { return static_cast<size_t>(rng.between(0, nodes.size() - 1)); }

  void on_fire(size_t i) {
    CAPTURE(i);
    uint64_t now = wheel.now();
    CHECK(pending[i]);  // fires once per scheduling, never when cancelled
    CHECK(now == deadline[i]);
    CHECK_FALSE(nodes[i].linked());
    if (pending[i]) --pending_count;
    pending[i] = false;
    ++fires;
    fired_ticks.push_back(now);
    CHECK(wheel.size() == pending_count);
    if (rng.chance(15)) {  // re-arm itself
      arm(i, random_deadline(now));
      ++callback_reschedules;
    }
    if (chaos && rng.chance(15)) {  // cancel some other node (maybe one due this tick)
      size_t j = random_node();
      if (j != i) {
        if (pending[j]) ++callback_cancels;
        disarm(j);
      }
    }
    if (chaos && rng.chance(10)) {  // move some other node
      size_t j = random_node();
      if (j != i) arm(j, random_deadline(now));
    }
  }

  uint64_t earliest() const {
    uint64_t best = UINT64_MAX;
    for (size_t i = 0; i < nodes.size(); ++i)
      if (pending[i]) best = std::min(best, deadline[i]);
    return best;
  }

  void check_next_event() {
    CHECK(wheel.size() == pending_count);
    std::optional<uint64_t> next = wheel.next_event();
    if (pending_count == 0) {
      CHECK_FALSE(next.has_value());
      return;
    }
    REQUIRE(next.has_value());
    uint64_t now = wheel.now();
    uint64_t first = earliest();
    CAPTURE(now);
    CAPTURE(first);
    CHECK(*next > now);
    CHECK(*next <= first);
    // Exact when the earliest deadline is before the next 64 ms boundary (no cascade can
    // come first), unless a cancel left a stale slot behind.
    if (!chaos && first - now < 64 && first / 64 == now / 64) {
      CHECK(*next == first);
      ++exact_checks;
    }
  }

  uint64_t random_step() {
    switch (rng.between(0, 19)) {
      case 0:
        return 0;
      case 1:
      case 2: {  // right up to, or onto, the earliest deadline
        uint64_t first = earliest();
        if (first == UINT64_MAX) return 1;
        return first - wheel.now() - (rng.chance(50) ? 1 : 0);
      }
      case 3:
      case 4:
      case 5:
      case 6:
      case 7:
      case 8:
        return rng.between(1, 20);
      case 9:
      case 10:
      case 11:
      case 12:
        return rng.between(21, 200);
      case 13:
      case 14:
        return rng.between(201, 5000);
      case 15:
      case 16:
        return rng.between(5001, 300000);
      case 17:
        return rng.between(300001, 3000000);
      default:
        return rng.between(3000001, 20000000);
    }
  }

  void advance_to(uint64_t target) {
    fired_ticks.clear();
    uint64_t before = wheel.now();
    wheel.advance(target);
    CHECK(wheel.now() == std::max(before, target));
    for (size_t k = 1; k < fired_ticks.size(); ++k) CHECK(fired_ticks[k - 1] <= fired_ticks[k]);
    for (uint64_t t : fired_ticks) {
      CHECK(t > before);
      CHECK(t <= target);
    }
    // Nothing due is left behind.
    for (size_t i = 0; i < nodes.size(); ++i)
      if (pending[i]) CHECK(deadline[i] > wheel.now());
  }

  void run(int rounds) {
    for (int round = 0; round < rounds; ++round) {
      CAPTURE(round);
      // Arm a few idle nodes.
      int arms = static_cast<int>(rng.between(0, 12));
      for (int k = 0; k < arms; ++k) {
        size_t i = random_node();
        if (!pending[i]) arm(i, random_deadline(wheel.now()));
      }
      if (chaos) {
        int changes = static_cast<int>(rng.between(0, 4));
        for (int k = 0; k < changes; ++k) {
          size_t i = random_node();
          if (rng.chance(50)) {
            if (pending[i]) ++cancels;
            disarm(i);
          } else {
            arm(i, random_deadline(wheel.now()));  // re-arms if pending
          }
        }
      }
      check_next_event();
      advance_to(wheel.now() + random_step());
      check_next_event();
    }
    // Drain: everything left fires (callbacks may re-arm a few more times).
    for (int k = 0; k < 100 && pending_count > 0; ++k) advance_to(wheel.now() + kTop);
    CHECK(pending_count == 0);
    CHECK(wheel.size() == 0);
    CHECK_FALSE(wheel.next_event().has_value());
  }
};

}  // namespace

TEST_CASE("TimerWheel matches a brute-force model under random schedules") {
  struct Config {
    uint64_t start;
    uint64_t seed;
    bool chaos;
  };
  const Config configs[] = {
      {0, 11, false}, {123456789, 12, false}, {kL4 - 3, 13, false},
      {0, 21, true},  {kTop - 100, 22, true}, {987654321987ull, 23, true},
  };
  for (const Config& c : configs) {
    CAPTURE(c.start);
    CAPTURE(c.seed);
    CAPTURE(c.chaos);
    Model m(c.start, c.seed, c.chaos, 600);
    m.run(1500);
    // The run exercised what it is meant to.
    CHECK(m.fires > 1000);
    CHECK(m.callback_reschedules > 100);
    if (!c.chaos) CHECK(m.exact_checks > 100);
    if (c.chaos) {
      CHECK(m.cancels > 50);
      CHECK(m.callback_cancels > 10);
    }
  }
}
