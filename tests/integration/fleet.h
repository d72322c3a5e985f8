// A fleet of line clients for the swap tests (restart hand-off, in-process reload): each
// client connects, sends 20 lines one at a time, checks every reply, closes, and starts
// again, until told to stop. Generation g answers "x\n" with "x\n" (even g: echo) or
// "g<g>:x\n" (odd g: the prefixing build). A connection must be answered by one
// generation throughout; one made while no swap was under way must be answered by the
// newest. With `migrate` (live migration), a connection moves to each new generation
// instead: every line sent while no swap was under way must be answered by the newest.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_client.h"

namespace gev::test {

struct Fleet {
  std::atomic<bool> stop{false};
  std::atomic<int> begun{0};   // the swap in progress (or last one)
  std::atomic<int> newest{0};  // the last swap known to be complete
  std::atomic<long> messages{0}, connections{0};
  std::atomic<long> exact{0};     // connections checked to be the newest generation's
  std::atomic<long> spanning{0};  // connections a swap began during, served throughout
  bool migrate = false;           // connections move to each new generation
  std::atomic<long> moved{0};     // lines checked to be the newest's on a connection older than it
  std::mutex mu;
  std::vector<std::string> errors;
  void error(std::string e) {
    std::lock_guard lock(mu);
    if (errors.size() < 20) errors.push_back(std::move(e));
  }
};

// Which generation answered `line` with `reply`: -2 for an echo generation (even), the
// odd generation whose prefix it carries, or -1 if neither form fits.
inline int answered_by(const std::string& line, const std::string& reply, int newest) {
  if (reply == line) return -2;
  for (int g = 1; g <= newest; g += 2)
    if (reply == "g" + std::to_string(g) + ":" + line) return g;
  return -1;
}

// What generation g answers: -2 (echo) or g.
inline int expected_answer(int g) {
  return g % 2 ? g : -2;
}

// pace_ms between lines: a paced connection lives long enough to see swaps happen; it
// sends `lines` lines before it closes.
inline void fleet_client(Fleet& f, uint16_t port, int id, int pace_ms = 0, int lines = 20) {
  for (int round = 0; !f.stop && round < 100000; ++round) {
    int begun = f.begun, newest = f.newest;  // before connecting
    TestClient c;
    if (!c.connect(port)) {
      f.error("client " + std::to_string(id) + ": connect refused");
      continue;
    }
    f.connections++;
    int first = 0;
    bool whole = true;
    for (int i = 0; i < lines && !(f.stop && i); ++i) {
      if (pace_ms && i) std::this_thread::sleep_for(std::chrono::milliseconds(pace_ms));
      int line_begun = f.begun, line_newest = f.newest;
      std::string line =
          "c" + std::to_string(id) + " r" + std::to_string(round) + " m" + std::to_string(i) + "\n";
      if (!c.send_all(line)) {
        f.error("client " + std::to_string(id) + ": send failed (reset?)");
        whole = false;
        break;
      }
      std::string reply = c.recv_exact(line.size(), 5000);
      // A prefixed reply is longer: read up to its newline.
      while (!reply.empty() && reply.back() != '\n' && reply.size() < 200) {
        std::string more = c.recv_exact(1, 5000);
        if (more.empty()) break;
        reply += more;
      }
      int g = answered_by(line, reply, f.begun + 1);  // a swap may answer before it is counted
      if (g == -1) {
        f.error("client " + std::to_string(id) + ": '" + line.substr(0, line.size() - 1) +
                "' answered with '" + reply + "'" + (c.eof() ? " then EOF" : ""));
        whole = false;
        break;
      }
      if (first == 0) {
        first = g;
        // No swap began between the connect and this reply: the newest must have served.
        if (begun == newest && f.begun == begun) {
          f.exact++;
          if (g != expected_answer(newest))
            f.error("client " + std::to_string(id) + ": a connection made after swap " +
                    std::to_string(newest) + " was served by an older generation");
        }
      }
      if (f.migrate) {
        // Sent and answered while no swap was under way: the newest build answered.
        if (line_begun == line_newest && f.begun == line_begun) {
          if (g != expected_answer(line_newest)) {
            f.error("client " + std::to_string(id) + ": line " + std::to_string(i) +
                    " sent after swap " + std::to_string(line_newest) +
                    " was answered by an older generation ('" + reply + "')");
            whole = false;
            break;
          }
          if (line_newest != newest) f.moved++;
        }
      } else if (g != first) {
        f.error("client " + std::to_string(id) + ": one connection answered by two generations");
        whole = false;
        break;
      }
      f.messages++;
    }
    if (whole && f.begun != begun) f.spanning++;
  }
}

}  // namespace gev::test
