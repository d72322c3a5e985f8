// Timer costs: idle-timeout re-arming on the wheel and run_after in the heap.
#include <benchmark/benchmark.h>
#include <gev/timer_queue.h>
#include <gev/timer_wheel.h>

#include <vector>

namespace {

void BM_WheelScheduleCancel(benchmark::State& state) {
  gev::TimerWheel wheel(0);
  std::vector<gev::TimerWheel::Node> nodes(1024);
  for (auto& n : nodes) n.fire = [](gev::TimerWheel::Node*) {};
  size_t i = 0;
  for (auto _ : state) {
    gev::TimerWheel::Node& n = nodes[i++ & 1023];
    wheel.schedule(&n, 30000 + (i & 4095));
    if (i & 1) wheel.cancel(&n);
  }
}
BENCHMARK(BM_WheelScheduleCancel);

// 10k idle connections' deadlines spread over a minute, time advancing 1 ms a step.
void BM_WheelAdvance10k(benchmark::State& state) {
  gev::TimerWheel wheel(0);
  std::vector<gev::TimerWheel::Node> nodes(10000);
  static uint64_t fired = 0;
  for (auto& n : nodes) n.fire = [](gev::TimerWheel::Node*) { ++fired; };
  uint64_t now = 0;
  for (size_t i = 0; i < nodes.size(); ++i) wheel.schedule(&nodes[i], 1 + i * 6);
  for (auto _ : state) {
    wheel.advance(++now);
    if (wheel.size() < 5000) {  // refill so the wheel stays populated
      for (auto& n : nodes)
        if (!n.linked()) wheel.schedule(&n, now + 60000);
    }
  }
  benchmark::DoNotOptimize(fired);
}
BENCHMARK(BM_WheelAdvance10k);

void BM_TimerQueueAddRun(benchmark::State& state) {
  gev::TimerQueue q;
  int64_t now = 0;
  int runs = 0;
  for (auto _ : state) {
    q.add(gev::TimerQueue::next_id(), now + 10, 0, [&runs] { ++runs; });
    now += 1;
    q.run_due(now);
  }
  benchmark::DoNotOptimize(runs);
}
BENCHMARK(BM_TimerQueueAddRun);

}  // namespace
