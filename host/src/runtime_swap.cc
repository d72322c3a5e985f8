// Runtime, what a reload does to the open connections of the pipelines it retires: move
// them to the new generation (live migration, for handlers that adopt), or close them at
// --reload-drain-timeout after their goodbyes. Without either they are served until they
// close.
#include <gev/log.h>

#include <algorithm>
#include <map>
#include <utility>

#include "host_api.h"
#include "loop_fanout.h"
#include "runtime.h"

namespace gev::host {

namespace {
// After a reload's drain deadline: how long a connection's closing handshake may take.
constexpr auto kDrainGrace = std::chrono::seconds(5);
}  // namespace

std::vector<Runtime::Move> Runtime::plan_moves(const HostOptions& next, const Staged& st) {
  // A listener that keeps its socket, and whose old and new handler both adopt, moves its
  // open connections (after the commit, on their loops). Module-wide state goes first,
  // here: if that fails, the connections stay with the old instance, as without it.
  std::vector<Move> moves;
  // Module-wide state once per pair of instances, however many listeners they serve.
  std::map<std::pair<const LoadedModule*, const LoadedModule*>, bool> handed;
  for (size_t i = 0; i < next.listeners.size(); ++i) {
    auto cur = std::find_if(listeners_.begin(), listeners_.end(), [&](const Listener& x) {
      return x.config.name == next.listeners[i].name && same_socket(x.config, next.listeners[i]);
    });
    if (cur == listeners_.end()) continue;
    std::shared_ptr<Pipeline> old = cur->sw->current();
    if (!old || !old->can_migrate_to(*st.pipelines[i])) continue;
    auto pair = std::make_pair(old->handler_module().get(), st.pipelines[i]->handler_module().get());
    auto [it, first] = handed.try_emplace(pair, false);
    std::string why;
    if (first) it->second = old->hand_over_state(*st.pipelines[i], &why);
    if (!it->second) {
      GEV_WARN("reload: listener %s: %s: its connections stay with generation %llu",
               cur->config.name.c_str(), first ? why.c_str() : "module state not handed over",
               static_cast<unsigned long long>(old->handler_module()->generation));
      continue;
    }
    moves.emplace_back(std::move(old), st.pipelines[i]);
  }
  return moves;
}

std::string Runtime::migrate(std::vector<Move> moves) {
  // One task per loop; the reload waits for all of them, so once it has answered, every
  // connection that could move has.
  struct Moved {
    size_t ok = 0, failed = 0;
  };
  auto shared = std::make_shared<std::vector<Move>>(std::move(moves));
  Fanout<Moved> run = run_on_every_loop<Moved>(
      lifecycle_.loops(),
      [shared](EventLoop& loop) -> std::optional<Moved> {
        Moved m;
        std::vector<std::shared_ptr<Connection>> conns;
        loop.for_each_connection([&](Connection& c) { conns.push_back(c.shared_from_this()); });
        for (const auto& conn : conns) {
          ConnSlot* slot = slot_of(*conn);
          if (!slot) continue;
          for (const auto& [from, to] : *shared) {
            if (slot->pipeline != from) continue;
            (from->migrate(*conn, to) ? m.ok : m.failed)++;
            break;
          }
        }
        return m;
      },
      kLoopWait, [this] { return is_stopping(); });
  Moved total;
  for (const auto& r : run.results)
    if (r) total.ok += r->ok, total.failed += r->failed;
  metrics_.migrations_ok += total.ok;
  metrics_.migrations_failed += total.failed;
  std::string out = std::to_string(total.ok) + " connections moved to the new generation";
  if (total.failed) out += ", " + std::to_string(total.failed) + " failed to move (closed)";
  if (run.pending != 0) out += " (" + std::to_string(run.pending) + " loops still moving)";
  return out;
}

  // Connections on a pipeline this reload retired get the drain timeout (each reload's
  // deadline covers its own retirees).
void Runtime::arm_drain(uint64_t gen) {
  {
    auto drain = std::chrono::milliseconds(options_.reload_drain_timeout_ms);
    for (EventLoop* loop : lifecycle_.loops())
      loop->run_after(drain, [loop, gen] {
        auto of_gen = [loop, gen](const std::function<void(Connection&)>& fn) {
          std::vector<std::shared_ptr<Connection>> conns;
          loop->for_each_connection([&](Connection& c) {
            ConnSlot* slot = slot_of(c);
            if (slot && c.connected() &&
                (slot->pipeline->retired_by.load() == gen ||
                 (c.outbound() && slot->pipeline->handler_module()->retired_by.load() == gen)))
              conns.push_back(c.shared_from_this());
          });
          for (const auto& c : conns) fn(*c);
          return conns.size();
        };
        // Goodbyes (a WebSocket close 1001), then a close once flushed...
        size_t n = of_gen([](Connection& c) { c.begin_stopping(CloseReason::kDrainTimeout); });
        if (n == 0) return;
        GEV_WARN(
            "reload %llu: drain deadline passed on loop %zu: closing %zu connections of older "
            "generations",
            static_cast<unsigned long long>(gen), loop->index(), n);
        // ... and whatever a closing handshake still holds open a grace period later.
        loop->run_after(kDrainGrace, [of_gen] {
          of_gen([](Connection& c) { c.close_now(CloseReason::kDrainTimeout); });
        });
      });
  }
}

}  // namespace gev::host
