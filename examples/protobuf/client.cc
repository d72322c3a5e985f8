// pb_client PORT: talks to gev-host serving --protocol protobuf --handler pb_router on
// 127.0.0.1:PORT with the generated classes. Sends Add and Echo requests (all in one
// write, then one more frame split across writes), checks every reply's type name and
// value in order. Exit 0 when all replies are right.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "messages.pb.h"

namespace {

constexpr uint32_t kMaxReply = 1 << 20;  // a reply this client could never have caused

void put_be(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>(v >> (8 * i));
}

// One frame: [u32 BE length of what follows][u16 BE name length][type name][payload].
std::string pack(const google::protobuf::MessageLite& m) {
  const std::string name = m.GetTypeName();
  const std::string payload = m.SerializeAsString();
  std::string out;
  put_be(out, 2 + name.size() + payload.size(), 4);
  put_be(out, name.size(), 2);
  return out + name + payload;
}

bool read_n(int fd, std::string& buf, size_t n) {
  buf.resize(n);
  size_t got = 0;
  while (got < n) {  // bounded by SO_RCVTIMEO: a silent server ends in an error
    ssize_t r = ::read(fd, buf.data() + got, n - got);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

struct Reply {
  std::string type;
  std::string payload;
};

bool read_reply(int fd, Reply& out) {
  std::string h;
  if (!read_n(fd, h, 4)) return false;
  uint32_t len = 0;
  for (unsigned char ch : h) len = (len << 8) | ch;
  if (len < 2 || len > kMaxReply) return false;
  std::string body;
  if (!read_n(fd, body, len)) return false;
  size_t name_len =
      (size_t{static_cast<unsigned char>(body[0])} << 8) | static_cast<unsigned char>(body[1]);
  if (name_len > len - 2) return false;
  out.type = body.substr(2, name_len);
  out.payload = body.substr(2 + name_len);
  return true;
}

gev::example::Add add(int64_t a, int64_t b) {
  gev::example::Add m;
  m.set_a(a);
  m.set_b(b);
  return m;
}

gev::example::Echo echo(const std::string& text) {
  gev::example::Echo m;
  m.set_text(text);
  return m;
}

int fail(const char* what, size_t i) {
  std::fprintf(stderr, "pb_client: reply %zu: %s\n", i, what);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: pb_client PORT\n");
    return 2;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("pb_client: connect");
    return 1;
  }

  // Each request and the reply it must get: a Sum's value, or an Echo's text.
  struct Case {
    std::string frame;
    bool is_add;
    int64_t sum;
    std::string text;
  };
  std::vector<Case> cases = {
      {pack(add(2, 40)), true, 42, ""},
      {pack(echo("hello, gev")), false, 0, "hello, gev"},
      {pack(add(-5, 5)), true, 0, ""},  // Sum{0} is an empty payload: it must still come
      {pack(echo("")), false, 0, ""},
      {pack(add(INT64_MAX, 1)), true, INT64_MIN, ""},  // the router wraps
      {pack(echo(std::string(100000, 'x'))), false, 0, std::string(100000, 'x')},
  };
  std::string burst;
  for (const Case& c : cases) burst += c.frame;
  // The last one again, split inside its header, to show partial frames are reassembled.
  cases.push_back(cases[1]);
  const std::string& split = cases.back().frame;
  const std::string parts[] = {burst + split.substr(0, 3), split.substr(3)};
  for (const std::string& p : parts) {
    if (::write(fd, p.data(), p.size()) != static_cast<ssize_t>(p.size())) return 1;
    ::usleep(20000);
  }

  const std::string sum_name = gev::example::Sum().GetTypeName();
  const std::string echo_name = gev::example::Echo().GetTypeName();
  for (size_t i = 0; i < cases.size(); ++i) {
    Reply r;
    if (!read_reply(fd, r)) return fail("missing or malformed", i);
    if (cases[i].is_add) {
      gev::example::Sum s;
      if (r.type != sum_name) return fail(("type " + r.type + ", want " + sum_name).c_str(), i);
      if (!s.ParseFromString(r.payload) || s.sum() != cases[i].sum) return fail("wrong sum", i);
    } else {
      gev::example::Echo e;
      if (r.type != echo_name) return fail(("type " + r.type + ", want " + echo_name).c_str(), i);
      if (!e.ParseFromString(r.payload) || e.text() != cases[i].text) return fail("wrong text", i);
    }
  }
  std::printf("pb_client: %zu requests (Add, Echo) answered with the right Sum/Echo\n",
              cases.size());
  ::close(fd);
  return 0;
}
