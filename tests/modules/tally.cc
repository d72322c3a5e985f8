// tally: counts lines, per connection and over the whole module, and hands both over to
// the instance that replaces it at a reload (live migration with state). Each line is
// answered "<tag><lines on this connection> <lines in all>". A connection that sent
// "fail-export" cannot be exported (it is closed at the swap); one that sent
// "fail-import" is refused by the new instance (closed there); one that sent
// "flood-export" is sent 80 MiB from conn_export, which closes it there and then (a slow
// consumer, over the 64 MiB output cap) before the export returns. When the server stops, it
// says "bye" (on_stopping). Built twice: tally.so and
// tally_v2.so (tag "v2 "), both named "tally".
#include <gev/sdk/cpp/module.h>

#include <atomic>
#include <cstring>
#include <string>

#ifndef TALLY_TAG
#define TALLY_TAG ""
#endif

namespace {

struct Counts {
  uint64_t lines = 0;
  uint8_t fail = 0;  // 1: refuse the export, 2: the import
};

class Tally : public gev::sdk::Handler {
 public:
  explicit Tally(const gev::sdk::Config& cfg) { cfg.allow_only({}); }
  static constexpr bool kAdopts = true;

  gev_status on_connect(gev::sdk::Conn c) override {
    c.set_context(new Counts);
    return GEV_OK;
  }
  gev_status on_message(gev::sdk::Conn c, const gev_frame& msg, gev_frame&) override {
    auto* n = static_cast<Counts*>(c.context());
    std::string_view line = gev::sdk::view(msg.data);
    if (line == "fail-export") n->fail = 1;
    if (line == "fail-import") n->fail = 2;
    if (line == "flood-export") n->fail = 3;
    uint64_t all = total_.fetch_add(1, std::memory_order_relaxed) + 1;
    std::string reply = TALLY_TAG + std::to_string(++n->lines) + " " + std::to_string(all);
    return c.send(reply, msg.type);
  }
  void on_close(gev::sdk::Conn c) override { delete static_cast<Counts*>(c.context()); }
  void on_stopping(gev::sdk::Conn c) override { c.send("bye"); }  // the server is stopping

  gev_status conn_export(gev::sdk::Conn c, gev::sdk::Writer& w) override {
    auto* n = static_cast<Counts*>(c.context());
    if (n->fail == 1) {
      gev::sdk::log(GEV_LOG_WARN, "tally", "this connection asked not to be exported");
      return GEV_ERR_MODULE;  // still ours: on_close frees it
    }
    if (n->fail == 3) c.send(std::string(80u << 20, 'x'));  // closes c before we return
    uint8_t out[9];
    std::memcpy(out, &n->lines, 8);
    out[8] = n->fail;
    if (n->fail == 3) return GEV_OK;  // closed: our on_close frees it (the host moves nothing)
    delete n;
    c.set_context(nullptr);
    return w.append(std::span<const uint8_t>(out));
  }
  gev_status conn_import(gev::sdk::Conn c, gev_bytes state) override {
    if (state.len != 9) return GEV_ERR_INVALID;
    auto* n = new Counts;
    std::memcpy(&n->lines, state.ptr, 8);
    n->fail = state.ptr[8];
    c.set_context(n);  // ours now, even if refused: on_close frees it
    return n->fail == 2 ? GEV_ERR_MODULE : GEV_OK;
  }
  gev_status state_export(gev::sdk::Writer& w) override {
    uint64_t all = total_.load();
    uint8_t out[8];
    std::memcpy(out, &all, 8);
    return w.append(std::span<const uint8_t>(out));
  }
  gev_status state_import(gev_bytes state) override {
    if (state.len != 8) return GEV_ERR_INVALID;
    uint64_t all;
    std::memcpy(&all, state.ptr, 8);
    total_.store(all);
    return GEV_OK;
  }

 private:
  std::atomic<uint64_t> total_{0};
};

}  // namespace

GEV_HANDLER_MODULE(Tally, "tally", "1.0.0")
