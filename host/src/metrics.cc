// /metrics rendering: one family at a time, HELP and TYPE first, a sample per listener.
#include "metrics.h"

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>

#include "host_api.h"
#include "lifecycle.h"

namespace gev::host {

namespace {

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const std::string& name, const std::string& labels, uint64_t v) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ';
  out += std::to_string(v);
  out += '\n';
}

std::string label(const char* key, const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == '"') escaped += '\\';
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped += c;
  }
  return std::string(key) + "=\"" + escaped + "\"";
}

void add(Stats& to, const Stats& s) {
  to.open += s.open;
  to.accepted += s.accepted;
  to.refused += s.refused;
  to.accept_errors += s.accept_errors;
  for (size_t r = 0; r < to.closed.size(); ++r) to.closed[r] += s.closed[r];
  to.bytes_in += s.bytes_in;
  to.bytes_out += s.bytes_out;
  to.messages_in += s.messages_in;
  to.messages_out += s.messages_out;
  to.output_buffered += s.output_buffered;
  to.datagrams_in += s.datagrams_in;
  to.datagrams_out += s.datagrams_out;
  for (size_t r = 0; r < to.datagram_drops.size(); ++r) to.datagram_drops[r] += s.datagram_drops[r];
}

void add(tls::Metrics::Snapshot& to, const tls::Metrics::Snapshot& s) {
  for (size_t i = 0; i < to.handshakes.size(); ++i) to.handshakes[i] += s.handshakes[i];
  to.resumed += s.resumed;
  for (size_t i = 0; i < to.time_buckets.size(); ++i) to.time_buckets[i] += s.time_buckets[i];
  to.time_sum += s.time_sum;
  for (const auto& [k, v] : s.sessions) to.sessions[k] += v;
}

// The TLS families, for the listeners that have TLS (any listener a reload turned it on
// for keeps its series after it is turned off again).
void render_tls(std::string& out, const std::vector<std::string>& names,
                const std::vector<std::optional<tls::Metrics::Snapshot>>& tls) {
  if (std::none_of(tls.begin(), tls.end(), [](const auto& t) { return t.has_value(); })) return;
  using M = tls::Metrics;
  family(out, "gev_tls_handshakes_total", "counter",
         "TLS handshakes, by result (ok, or why it failed).");
  for (size_t i = 0; i < names.size(); ++i)
    for (size_t r = 0; tls[i] && r < M::kResults; ++r)
      sample(out, "gev_tls_handshakes_total",
             label("listener", names[i]) + "," + label("result", M::name(static_cast<M::Result>(r))),
             tls[i]->handshakes[r]);
  family(out, "gev_tls_resumed_total", "counter",
         "TLS handshakes that resumed a session (ticket or cache).");
  for (size_t i = 0; i < names.size(); ++i)
    if (tls[i]) sample(out, "gev_tls_resumed_total", label("listener", names[i]), tls[i]->resumed);
  family(out, "gev_tls_handshake_seconds", "histogram",
         "Time from accept to a finished TLS handshake.");
  for (size_t i = 0; i < names.size(); ++i) {
    if (!tls[i]) continue;
    uint64_t cumulative = 0;
    for (size_t b = 0; b < tls[i]->time_buckets.size(); ++b) {
      cumulative += tls[i]->time_buckets[b];
      char le[32];
      if (b < M::kBuckets.size())
        std::snprintf(le, sizeof le, "%g", M::kBuckets[b]);
      else
        std::snprintf(le, sizeof le, "+Inf");
      sample(out, "gev_tls_handshake_seconds_bucket",
             label("listener", names[i]) + "," + label("le", le), cumulative);
    }
    char sum[48];
    std::snprintf(sum, sizeof sum, "%.6f", tls[i]->time_sum);
    out += "gev_tls_handshake_seconds_sum{" + label("listener", names[i]) + "} " + sum + "\n";
    sample(out, "gev_tls_handshake_seconds_count", label("listener", names[i]), cumulative);
  }
  family(out, "gev_tls_sessions_total", "counter",
         "Finished TLS handshakes, by negotiated version and cipher.");
  for (size_t i = 0; i < names.size(); ++i)
    if (tls[i])
      for (const auto& [vc, n] : tls[i]->sessions)
        sample(out, "gev_tls_sessions_total",
               label("listener", names[i]) + "," + label("version", vc.first) + "," +
                   label("cipher", vc.second),
               n);
}

// UDP listeners only: datagrams each way, drops by reason, peers open (a plain TCP
// listener exports none of these).
void render_udp(std::string& out, const std::vector<std::string>& names,
                const std::vector<Stats>& stats, const std::vector<bool>& udp) {
  if (std::find(udp.begin(), udp.end(), true) == udp.end()) return;
  auto each = [&](const char* name, const char* type, const char* help, auto get) {
    family(out, name, type, help);
    for (size_t i = 0; i < stats.size(); ++i)
      if (udp[i]) sample(out, name, label("listener", names[i]), get(stats[i]));
  };
  each("gev_udp_datagrams_received_total", "counter", "Datagrams read (dropped ones too).",
       [](const Stats& s) { return s.datagrams_in; });
  each("gev_udp_datagrams_sent_total", "counter", "Datagrams sent.",
       [](const Stats& s) { return s.datagrams_out; });
  each("gev_udp_peers_open", "gauge", "Peer addresses with a light connection now.",
       [](const Stats& s) { return s.open; });
  family(out, "gev_udp_datagrams_dropped_total", "counter",
         "Datagrams dropped, by reason: decode_error, truncated (over udp-max-datagram), "
         "peer_cap (a new peer over udp-max-peers), send_error.");
  for (size_t i = 0; i < stats.size(); ++i)
    for (size_t r = 0; udp[i] && r < static_cast<size_t>(DatagramDrop::kCount); ++r)
      sample(out, "gev_udp_datagrams_dropped_total",
             label("listener", names[i]) + "," +
                 label("reason", to_string(static_cast<DatagramDrop>(r))),
             stats[i].datagram_drops[r]);
}

}  // namespace

std::string render_metrics(const MetricsSource& src) {
  std::string out;
  // One series per listener name: a listener a reload replaced (new address or
  // settings) adds its counters to its successor's.
  std::vector<std::string> names;
  std::vector<Stats> stats;
  std::vector<std::optional<tls::Metrics::Snapshot>> tls;  // per name: any listener's TLS
  std::vector<bool> udp;                                   // per name: a UDP listener's
  std::map<std::string, std::shared_ptr<LoadedModule>> modules;
  {
    std::lock_guard lock(src.mu);
    modules = src.modules;
    std::vector<const tls::Metrics*> seen;  // a kept listener's counters, counted once
    for (size_t i = 0; i < src.listener_names.size(); ++i) {
      auto it = std::find(names.begin(), names.end(), src.listener_names[i]);
      size_t at = static_cast<size_t>(it - names.begin());
      if (it == names.end()) {
        names.push_back(src.listener_names[i]);
        stats.push_back(src.server->stats(i));
        tls.emplace_back();
        udp.push_back(false);
      } else {
        add(stats[at], src.server->stats(i));
      }
      if (src.server->listener_options(i).network == gev::Network::kUdp) udp[at] = true;
      const tls::Context* ctx = src.listener_tls[i].get();
      const tls::Metrics* m = ctx && ctx->used.load(std::memory_order_relaxed) ? &ctx->metrics
                                                                              : nullptr;
      if (!m || std::find(seen.begin(), seen.end(), m) != seen.end()) continue;
      seen.push_back(m);
      if (tls[at])
        add(*tls[at], m->snapshot());
      else
        tls[at] = m->snapshot();
    }
  }
  // Modules' outbound connections: one more row, labelled direction="out".
  std::optional<Stats> out_stats;
  const std::string out_label = label("dialer", "modules") + "," + label("direction", "out");
  if (int64_t d = src.dialer.load(); d >= 0) out_stats = src.server->dialer_stats(static_cast<size_t>(d));
  auto per_listener = [&](const char* name, const char* type, const char* help,
                          const std::function<uint64_t(const Stats&)>& get) {
    family(out, name, type, help);
    for (size_t i = 0; i < stats.size(); ++i)
      sample(out, name, label("listener", names[i]), get(stats[i]));
    if (out_stats) sample(out, name, out_label, get(*out_stats));
  };
  per_listener("gev_connections_open", "gauge", "Connections open now.",
               [](const Stats& s) { return s.open; });
  per_listener("gev_connections_accepted_total", "counter", "Connections accepted.",
               [](const Stats& s) { return s.accepted; });
  per_listener("gev_connections_refused_total", "counter",
               "Connections refused over max-connections.",
               [](const Stats& s) { return s.refused; });
  per_listener("gev_accept_errors_total", "counter", "accept() failures (EMFILE and others).",
               [](const Stats& s) { return s.accept_errors; });
  family(out, "gev_connections_closed_total", "counter", "Connections closed, by reason.");
  for (size_t i = 0; i < stats.size(); ++i)
    for (size_t r = 0; r < static_cast<size_t>(CloseReason::kCount); ++r)
      sample(out, "gev_connections_closed_total",
             label("listener", names[i]) + "," +
                 label("reason", to_string(static_cast<CloseReason>(r))),
             stats[i].closed[r]);
  if (out_stats)
    for (size_t r = 0; r < static_cast<size_t>(CloseReason::kCount); ++r)
      sample(out, "gev_connections_closed_total",
             out_label + "," + label("reason", to_string(static_cast<CloseReason>(r))),
             out_stats->closed[r]);
  if (out_stats) {
    family(out, "gev_dials_total", "counter", "Outbound connection attempts by modules (each retry is one).");
    sample(out, "gev_dials_total", out_label, out_stats->dials);
    family(out, "gev_dial_failures_total", "counter", "Outbound connection attempts that failed, by reason.");
    for (size_t r = 0; r < static_cast<size_t>(DialError::kCount); ++r)
      sample(out, "gev_dial_failures_total",
             out_label + "," + label("reason", to_string(static_cast<DialError>(r))),
             out_stats->dial_failures[r]);
  }
  per_listener(
      "gev_decode_errors_total", "counter", "Connections closed for malformed input.",
      [](const Stats& s) { return s.closed[static_cast<size_t>(CloseReason::kDecodeError)]; });
  per_listener("gev_bytes_received_total", "counter", "Bytes read from sockets.",
               [](const Stats& s) { return s.bytes_in; });
  per_listener("gev_bytes_sent_total", "counter", "Bytes written to sockets.",
               [](const Stats& s) { return s.bytes_out; });
  per_listener("gev_messages_received_total", "counter", "Frames decoded.",
               [](const Stats& s) { return s.messages_in; });
  per_listener("gev_messages_sent_total", "counter", "Messages encoded for sending.",
               [](const Stats& s) { return s.messages_out; });
  per_listener("gev_output_buffered_bytes", "gauge",
               "Bytes encoded but not yet taken by the sockets.",
               [](const Stats& s) { return s.output_buffered; });
  render_tls(out, names, tls);
  render_udp(out, names, stats, udp);
  if (src.loop_lag_ns) {
    family(out, "gev_loop_lag_seconds", "gauge",
           "How late the loop ran its last 100 ms probe timer (busy loops run late).");
    for (size_t i = 0; i < src.server->loops().size(); ++i) {
      char v[32];
      std::snprintf(v, sizeof v, "%.6f", static_cast<double>(src.loop_lag_ns[i].load()) / 1e9);
      out += "gev_loop_lag_seconds{" + label("loop", std::to_string(i)) + "} " + v + "\n";
    }
  }
  family(out, "gev_modules_loaded", "gauge", "Modules the current generation serves.");
  sample(out, "gev_modules_loaded", "", modules.size());
  family(out, "gev_generation", "gauge",
         "The module generation new connections get (1 at start, +1 per successful reload).");
  sample(out, "gev_generation", "", src.generation.load());
  family(out, "gev_reloads_total", "counter", "In-process reloads, by result.");
  sample(out, "gev_reloads_total", label("result", "ok"), src.reloads_ok.load());
  sample(out, "gev_reloads_total", label("result", "error"), src.reloads_failed.load());
  family(out, "gev_connections_migrated_total", "counter",
         "Connections moved to a new module generation by a reload (live migration), by "
         "result; a failed one was closed.");
  sample(out, "gev_connections_migrated_total", label("result", "ok"), src.migrations_ok.load());
  sample(out, "gev_connections_migrated_total", label("result", "failed"),
         src.migrations_failed.load());
  if (src.lifecycle) {
    family(out, "gev_module_generations_live", "gauge",
           "Loaded instances of each module: more than one while connections, timers or tasks "
           "still use an older generation.");
    std::vector<ModuleLifecycle::Instance> instances = src.lifecycle->instances();
    std::map<std::string, uint64_t> live;  // instances per module name
    for (const auto& i : instances) ++live[i.name];
    for (const auto& [name, n] : live)
      sample(out, "gev_module_generations_live", label("module", name), n);
    family(out, "gev_module_connections", "gauge",
           "Open connections each loaded module instance serves, by generation: an older "
           "generation's count falls as its connections close (or move to the new one).");
    for (const auto& i : instances)
      sample(out, "gev_module_connections",
             label("module", i.name) + "," + label("generation", std::to_string(i.generation)),
             static_cast<uint64_t>(std::max<int64_t>(0, i.connections)));
  }
  for (const auto& [name, module] : modules) {
    for (const Metric& m : module->host().metrics) {
      // Prometheus names allow [a-zA-Z0-9_:]: anything else a module chose becomes '_'.
      std::string metric = "gev_module_" + name + "_" + m.name;
      for (char& ch : metric)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != ':') ch = '_';
      family(out, metric.c_str(), m.gauge ? "gauge" : "counter", m.help.c_str());
      out += metric + " " + std::to_string(m.value.load(std::memory_order_relaxed)) + "\n";
    }
  }
  return out;
}

}  // namespace gev::host
