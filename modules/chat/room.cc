#include "room.h"

#include <gev/sdk/websocket.h>

#include <utility>

namespace chat {
namespace {

const gev_host_api* api() {
  return gev::sdk::host_api();
}

}  // namespace

Room::~Room() {
  // Every loop has stopped: no drain runs any more. Free what was never delivered.
  for (Loop* l = loops_.load(std::memory_order_acquire); l;) {
    for (InboxNode* n = l->inbox.exchange(nullptr, std::memory_order_acquire); n;) {
      InboxNode* next = n->next;
      release(n->message);
      n = next;
    }
    Loop* next = l->next;
    delete l;
    l = next;
  }
}

bool Room::attach(gev_loop* loop) {
  auto* l = new Loop(this, loop);
  l->next = loops_.load(std::memory_order_relaxed);
  while (!loops_.compare_exchange_weak(l->next, l, std::memory_order_release,
                                       std::memory_order_relaxed)) {
  }
  return true;
}

void Room::detach(gev_loop* loop) {
  // Its connections are closed by now (loop_fini follows them); the record stays until
  // ~Room because a broadcast on another loop may still be reading it.
  if (Loop* l = find(loop)) l->open.store(false, std::memory_order_release);
}

Loop* Room::find(gev_loop* loop) const {
  for (Loop* l = loops_.load(std::memory_order_acquire); l; l = l->next)
    if (l->loop == loop) return l;
  return nullptr;
}

Member* Room::join(Loop& l, gev::sdk::Conn c) {
  auto* m = new Member{&l, c.id(), l.members.size()};
  l.members.push_back(c.get());
  c.set_context(m);
  return m;
}

void Room::leave(gev::sdk::Conn c) {
  auto* m = static_cast<Member*>(c.context());
  if (!m) return;
  c.set_context(nullptr);
  remove_at(*m->loop, m->index);
  delete m;
}

void Room::remove_at(Loop& l, size_t index) {
  if (l.delivering) {
    // A send inside drain() closed this connection: keep the indexes drain walks.
    l.members[index] = nullptr;
    l.holes = true;
    return;
  }
  gev_conn* last = l.members.back();
  l.members[index] = last;
  l.members.pop_back();
  if (index < l.members.size()) static_cast<Member*>(api()->conn_get_context(last))->index = index;
}

void Room::compact(Loop& l) {
  size_t out = 0;
  for (gev_conn* c : l.members) {
    if (!c) continue;
    static_cast<Member*>(api()->conn_get_context(c))->index = out;
    l.members[out++] = c;
  }
  l.members.resize(out);
  l.holes = false;
}

void Room::broadcast(std::string text) {
  // The list only grows at its head: walking from one snapshot sees the same loops twice.
  Loop* head = loops_.load(std::memory_order_acquire);
  uint32_t n = 0;
  for (Loop* l = head; l; l = l->next) n += l->open.load(std::memory_order_acquire) ? 1 : 0;
  if (n == 0) return;
  auto* m = new Message{{n}, std::move(text), std::make_unique<InboxNode[]>(n)};
  uint32_t i = 0;
  for (Loop* l = head; l && i < n; l = l->next) {
    if (!l->open.load(std::memory_order_acquire)) continue;
    InboxNode* node = &m->nodes[i++];
    node->message = m;
    // `prev` is a local: once the CAS publishes the node, a pending drain may already be
    // relinking node->next, so it must not be read again here.
    InboxNode* prev = l->inbox.load(std::memory_order_relaxed);
    do {
      node->next = prev;
    } while (!l->inbox.compare_exchange_weak(prev, node, std::memory_order_release,
                                             std::memory_order_relaxed));
    // Empty before: no drain is pending for this loop, so start one.
    if (!prev) api()->post(l->loop, &Room::drain, l);
  }
  // A loop closed between the two walks: its share of the references is never used.
  if (i < n && m->refs.fetch_sub(n - i, std::memory_order_acq_rel) == n - i) delete m;
}

void Room::drain(void* loop_record) noexcept {
  auto* l = static_cast<Loop*>(loop_record);
  InboxNode* stack = l->inbox.exchange(nullptr, std::memory_order_acquire);
  InboxNode* fifo = nullptr;  // newest first on the stack: reverse to send in order
  while (stack) {
    InboxNode* next = stack->next;
    stack->next = fifo;
    fifo = stack;
    stack = next;
  }
  l->delivering = true;
  while (fifo) {
    InboxNode* next = fifo->next;
    Message* m = fifo->message;
    gev_frame f{
        sizeof(gev_frame), GEV_WS_TEXT, gev::sdk::bytes(std::string_view(m->text)), {nullptr, 0}};
    // By index: a send may close a member (slow consumer), which only nulls its slot.
    for (size_t i = 0; i < l->members.size(); ++i)
      if (gev_conn* c = l->members[i]) api()->send(c, &f);  // a closing one: GEV_ERR_CLOSED
    release(m);
    fifo = next;
  }
  l->delivering = false;
  if (l->holes) l->room->compact(*l);
}

void Room::release(Message* m) {
  if (m->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete m;
}

}  // namespace chat
