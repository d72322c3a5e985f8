// max_conn: gev's maxconnection example. Echoes every message, but a connection that
// would make more than `limit` open at once is sent a message and closed.
//
//   --module-opt max_conn.limit=1000                 connections served at once (default 1000)
//   --module-opt max_conn.message=server is full\n   what a refused client reads before EOF;
//                                                    the escapes \n \r \t \0 and \\ work
//
// The count is one std::atomic over all loops: on_connect adds, on_close (which follows
// every on_connect, refused ones included) subtracts. Two connections arriving together
// at the limit may both be refused; none is ever served above it. The refused one is closed
// with a flush (conn_close abort 0), so the message leaves before the FIN. Unlike the
// host's --max-connections (which closes at accept), the client is told why.
#include <gev/sdk/cpp/module.h>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

constexpr const char* kName = "max_conn";

class MaxConn : public gev::sdk::Handler {
 public:
  explicit MaxConn(const gev::sdk::Config& cfg) {
    cfg.allow_only({"limit", "message"});
    limit_ = cfg.get_uint("limit", 1000);
    message_ = cfg.get_escaped("message", "server is full\n");
  }

  gev_status on_connect(gev::sdk::Conn c) override {
    uint64_t open = open_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (open <= limit_) return GEV_OK;
    gev::sdk::log(GEV_LOG_DEBUG, kName, "over the limit: refusing a connection");
    if (!message_.empty()) c.send(message_);
    c.close();  // flushes the message first; on_close follows and gives the slot back
    return GEV_OK;
  }

  gev_status on_message(gev::sdk::Conn, const gev_frame& msg, gev_frame& reply) override {
    reply.data = msg.data;
    return GEV_OK;
  }

  void on_close(gev::sdk::Conn) override { open_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  uint64_t limit_ = 0;
  std::string message_;
  std::atomic<uint64_t> open_{0};
};

}  // namespace

GEV_HANDLER_MODULE(MaxConn, "max_conn", "1.0.0")
