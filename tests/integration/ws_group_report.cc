// A doctest listener that prints, after the run, how many "ws <group>..." test cases
// ran and passed per Autobahn-style group (1 framing, 2 ping/pong, ..., hs handshake).
#include <doctest/doctest.h>

#include <cctype>
#include <cstdio>
#include <map>
#include <string>

#include "ws_test_util.h"

namespace {

struct GroupReport : doctest::IReporter {
  explicit GroupReport(const doctest::ContextOptions&) {}

  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {
    if (groups_.empty()) return;
    std::printf("websocket cases per group (passed/run, checks):\n");
    for (const auto& [name, g] : groups_)
      std::printf("  ws %-4s %3d/%-3d %6d\n", name.c_str(), g.passed, g.run, g.asserts);
  }
  void test_case_start(const doctest::TestCaseData& tc) override {
    const std::string name = tc.m_name;
    current_.clear();
    if (name.rfind("ws ", 0) != 0 || name.rfind("ws zz", 0) == 0) return;
    // "ws 12.3 ..." -> "12", "ws hs.4 ..." -> "hs"
    current_ = name.substr(3, name.find_first_of(". ", 3) - 3);
  }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats& st) override {
    if (current_.empty()) return;
    Group& g = groups_[current_];
    ++g.run;
    g.passed += st.testCaseSuccess ? 1 : 0;
    g.asserts += st.numAssertsCurrentTest;
  }
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}

 private:
  struct Group {
    int run = 0, passed = 0, asserts = 0;
  };
  // Numeric groups in numeric order (1, 2, ..., 12, 13), then named ones (hs).
  struct ByGroup {
    bool operator()(const std::string& a, const std::string& b) const {
      const bool na = !a.empty() && std::isdigit(static_cast<unsigned char>(a[0]));
      const bool nb = !b.empty() && std::isdigit(static_cast<unsigned char>(b[0]));
      if (na != nb) return na;
      if (na && a.size() != b.size()) return a.size() < b.size();
      return a < b;
    }
  };
  std::map<std::string, Group, ByGroup> groups_;
  std::string current_;
};

}  // namespace

REGISTER_LISTENER("ws-groups", 1, GroupReport);

// Sorted last (file, then line): stops the shared default host and checks its exit.
TEST_CASE("ws zz the shared default host stops cleanly (exit 0, no sanitizer report)") {
  gev::test::ws::WsHost::shared().still_serves();
  gev::test::ws::WsHost::stop_shared();
}
