// udp_kv: a tiny key-value store served over UDP (transport = udp, protocol raw): each
// datagram is one request, each reply one datagram back to its sender.
//
//   SET key value   -> OK          GET key -> VALUE value | NOT_FOUND
//   DEL key         -> OK | NOT_FOUND          anything else -> ERR <why>
//
// Keys and values are bytes without spaces in the key (a value may hold any bytes). One
// store for every loop behind a shared mutex: with SO_REUSEPORT a peer's datagrams stay
// on one loop, but two peers may be on two. A request may be repeated after a lost reply
// (UDP): SET and DEL are idempotent for that reason. Options ([module.udp_kv]):
//   max-keys = 100000      SET of a new key beyond it answers ERR full
#include <gev/sdk/cpp/module.h>

#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace {

class UdpKv : public gev::sdk::Handler {
 public:
  explicit UdpKv(const gev::sdk::Config& cfg) {
    cfg.allow_only({"max-keys"});
    max_keys_ = cfg.get_uint("max-keys", 100000);
  }

  gev_status on_message(gev::sdk::Conn c, const gev_frame& msg, gev_frame&) override {
    std::string_view req(reinterpret_cast<const char*>(msg.data.ptr), msg.data.len);
    c.send(answer(req));  // copied into the reply datagram
    return GEV_OK;
  }

 private:
  std::string answer(std::string_view req) {
    size_t sp = req.find(' ');
    std::string_view verb = req.substr(0, sp);
    std::string_view rest = sp == std::string_view::npos ? std::string_view() : req.substr(sp + 1);
    if (verb == "GET" || verb == "DEL") {
      if (rest.empty() || rest.find(' ') != std::string_view::npos) return "ERR usage: " + std::string(verb) + " key";
      std::string key(rest);
      if (verb == "GET") {
        std::shared_lock lock(mu_);
        auto it = store_.find(key);
        return it == store_.end() ? "NOT_FOUND" : "VALUE " + it->second;
      }
      std::unique_lock lock(mu_);
      return store_.erase(key) ? "OK" : "NOT_FOUND";
    }
    if (verb == "SET") {
      size_t ksp = rest.find(' ');
      if (rest.empty() || ksp == 0 || ksp == std::string_view::npos) return "ERR usage: SET key value";
      std::string key(rest.substr(0, ksp));
      std::unique_lock lock(mu_);
      auto it = store_.find(key);
      if (it == store_.end() && store_.size() >= max_keys_) return "ERR full";
      store_[key] = std::string(rest.substr(ksp + 1));
      return "OK";
    }
    return "ERR unknown command (SET key value, GET key, DEL key)";
  }

  uint64_t max_keys_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, std::string> store_;
};

}  // namespace

GEV_HANDLER_MODULE(UdpKv, "udp_kv", "1.0.0")
