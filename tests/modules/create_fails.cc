// create_fails: its create() throws (a required option is missing); the host refuses it.
#include <gev/sdk/cpp/module.h>

#include <stdexcept>

namespace {
class CreateFails : public gev::sdk::Handler {
 public:
  explicit CreateFails(const gev::sdk::Config& c) {
    if (!c.has("required")) throw std::invalid_argument("option 'required' is missing");
  }
  gev_status on_message(gev::sdk::Conn, const gev_frame&, gev_frame&) override { return GEV_OK; }
};
}  // namespace

GEV_HANDLER_MODULE(CreateFails, "create_fails", "1.0.0")
