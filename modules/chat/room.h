// room.h: the chat room's fan-out to every loop, without locks in the module.
//
// Each loop has a Loop record (made in loop_init on that loop's thread, kept in a
// prepend-only lock-free list until the module is destroyed) holding the connections
// that completed the WebSocket handshake there and an inbox. broadcast() makes one
// refcounted copy of the text with one inbox node per loop, pushes a node onto every
// loop's inbox (a Treiber stack: push is one CAS) and post()s a drain task only when
// that inbox was empty, so a burst of messages costs one host post per loop. The drain,
// on the loop's thread, takes the whole stack at once (no ABA: nodes are never popped
// one by one), restores push order and sends each message to that loop's members. The
// last loop to deliver a message frees it. Whatever a stopped loop never drained is
// freed by ~Room.
#pragma once

#include <gev/sdk/cpp/module.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace chat {

class Room;

// Handler state of a connection that joined (its gev_conn context while it is a member).
struct Member {
  struct Loop* loop;
  uint64_t id;
  size_t index;  // in loop->members
};

struct Message;

// One loop's delivery of one Message.
struct InboxNode {
  Message* message = nullptr;
  InboxNode* next = nullptr;
};

struct Message {
  std::atomic<uint32_t> refs;  // loops that have not delivered it yet
  std::string text;
  std::unique_ptr<InboxNode[]> nodes;
};

struct Loop {
  Loop(Room* r, gev_loop* l) : room(r), loop(l) {}
  Room* room;
  gev_loop* loop;
  Loop* next = nullptr;          // the room's list; fixed once published
  std::atomic<bool> open{true};  // false after loop_fini: broadcasts skip it
  std::atomic<InboxNode*> inbox{nullptr};
  // Touched only on this loop's thread.
  std::vector<gev_conn*> members;
  bool delivering = false;  // members may hold nulls (left during a drain) until compacted
  bool holes = false;
};

class Room {
 public:
  Room() = default;
  Room(const Room&) = delete;
  Room& operator=(const Room&) = delete;
  ~Room();

  // [loop] loop_init / loop_fini on `loop`'s thread.
  bool attach(gev_loop* loop);
  void detach(gev_loop* loop);
  // [loop] This thread's record for `loop` (nullptr before attach).
  Loop* find(gev_loop* loop) const;

  // [loop] Adds/removes a connection of `l`'s loop; join sets the conn context to a new
  // Member, leave deletes it.
  Member* join(Loop& l, gev::sdk::Conn c);
  void leave(gev::sdk::Conn c);

  // [any] Sends `text` as a WebSocket text message to every member on every open loop.
  void broadcast(std::string text);

 private:
  static void drain(void* loop_record) noexcept;
  static void release(Message* m);
  void remove_at(Loop& l, size_t index);
  void compact(Loop& l);

  std::atomic<Loop*> loops_{nullptr};
};

}  // namespace chat
