/* c_handler: a handler module in plain C11, built against the installed gev SDK only.
 * It answers every message with bytes it computes (not a view of the input):
 *
 *   --module-opt c_handler.mode=upper    (default) the message, ASCII letters upper-cased
 *   --module-opt c_handler.mode=length   the message's length in bytes, in decimal
 *
 * Over the `line` protocol, "hello\n" gets "HELLO\n" (or "5\n"): the protocol's encode
 * adds the delimiter. Any other option refuses the module at load.
 *
 * Where the reply lives: the host encodes (copies) *reply right after on_message returns,
 * on the same loop thread and before that loop runs anything else, so the reply may point
 * into a buffer the loop owns and the loop's next message may reuse it. Each loop has its
 * own buffer, indexed by loop_index: no lock, and nothing shared between threads but the
 * metric (metric_add is thread-safe). */
#include <gev/sdk/gev_module.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODULE_NAME "c_handler"

typedef struct loop_buf {
  uint8_t* ptr;
  uint64_t cap;
} loop_buf;

typedef struct c_handler {
  const gev_host_api* host;
  int length_mode;
  uint32_t loop_count;
  loop_buf* loops;     /* loops[i] is touched only on loop i's thread */
  gev_metric* replies; /* gev_module_c_handler_replies on the host's /metrics */
} c_handler;

static void say(const gev_host_api* host, int32_t level, const char* text) {
  gev_bytes b = {(const uint8_t*)text, strlen(text)};
  host->log(host->host, level, MODULE_NAME, b);
}

static gev_status create(const gev_host_api* host, const gev_config* config, void** out_state) {
  c_handler* h = calloc(1, sizeof *h);
  if (!h) return GEV_ERR_NOMEM;
  h->host = host;
  /* config->entries is valid during create only: keep what it means, not the pointers. */
  for (uint32_t i = 0; config && i < config->count; ++i) {
    const gev_config_entry* e = &config->entries[i];
    if (strcmp(e->key, "mode") == 0 && strcmp(e->value, "upper") == 0) {
      h->length_mode = 0;
    } else if (strcmp(e->key, "mode") == 0 && strcmp(e->value, "length") == 0) {
      h->length_mode = 1;
    } else {
      char line[256];
      snprintf(line, sizeof line, "unknown option " MODULE_NAME ".%s=%s (known: mode=upper|length)",
               e->key, e->value);
      say(host, GEV_LOG_ERROR, line);
      free(h);
      return GEV_ERR_MODULE; /* refuses the module, with the line above in the log */
    }
  }
  h->loop_count = host->loop_count(host->host);
  h->loops = calloc(h->loop_count ? h->loop_count : 1, sizeof *h->loops);
  if (!h->loops) {
    free(h);
    return GEV_ERR_NOMEM;
  }
  h->replies = host->metric_define(host->host, "replies", "replies c_handler computed", 0);
  *out_state = h;
  return GEV_OK;
}

/* Runs once nothing uses this instance, after loop_fini on every loop. */
static void destroy(void* state) {
  c_handler* h = state;
  free(h->loops);
  free(h);
}

/* On the loop's own thread: the buffer is allocated where it is used. */
static gev_status loop_init(void* state, gev_loop* loop) {
  c_handler* h = state;
  loop_buf* b = &h->loops[h->host->loop_index(loop)];
  b->cap = 4096;
  b->ptr = malloc(b->cap);
  return b->ptr ? GEV_OK : GEV_ERR_NOMEM;
}

static void loop_fini(void* state, gev_loop* loop) {
  c_handler* h = state;
  loop_buf* b = &h->loops[h->host->loop_index(loop)];
  free(b->ptr);
  b->ptr = NULL;
  b->cap = 0;
}

/* This loop's buffer with room for n bytes, or NULL. */
static uint8_t* loop_buffer(c_handler* h, gev_conn* c, uint64_t n) {
  loop_buf* b = &h->loops[h->host->loop_index(h->host->conn_loop(c))];
  if (n > b->cap) {
    uint8_t* p = realloc(b->ptr, (size_t)n);
    if (!p) return NULL;
    b->ptr = p;
    b->cap = n;
  }
  return b->ptr;
}

static gev_status on_message(void* state, gev_conn* c, const gev_frame* msg, gev_frame* reply) {
  c_handler* h = state;
  uint64_t n = msg->data.len;
  uint8_t* out = loop_buffer(h, c, h->length_mode ? 21 : n);
  if (!out) return GEV_ERR_NOMEM; /* closes this connection only */
  if (h->length_mode) {
    n = (uint64_t)snprintf((char*)out, 21, "%llu", (unsigned long long)msg->data.len);
  } else {
    for (uint64_t i = 0; i < n; ++i) {
      uint8_t ch = msg->data.ptr[i];
      out[i] = (ch >= 'a' && ch <= 'z') ? (uint8_t)(ch - 'a' + 'A') : ch;
    }
  }
  /* Non-NULL ptr: a reply, even when n is 0 (an empty line gets an empty line). Type and
   * meta stay the request's. Never point at a local: the view outlives this call. */
  reply->data.ptr = out;
  reply->data.len = n;
  h->host->metric_add(h->replies, 1);
  return GEV_OK;
}

/* Designated initializers: members a later ABI minor appends start out zero. */
static const gev_handler_vtable handler_table = {
    .size = sizeof(gev_handler_vtable),
    .on_message = on_message,
};

static const gev_module_descriptor descriptor = {
    .size = sizeof(gev_module_descriptor),
    .abi_major = GEV_ABI_MAJOR,
    .abi_minor = GEV_ABI_MINOR,
    .kind = GEV_MODULE_HANDLER,
    .name = MODULE_NAME,
    .version = "1.0.0",
    .create = create,   /* create and destroy are required, even for a stateless module */
    .destroy = destroy,
    .loop_init = loop_init,
    .loop_fini = loop_fini,
    .handler = &handler_table,
};

GEV_EXPORT const gev_module_descriptor* gev_module_entry(const gev_host_api* host,
                                                         uint32_t host_abi_major,
                                                         uint32_t host_abi_minor) {
  (void)host_abi_minor; /* this module uses nothing newer than ABI 1.0 */
  if (!host || host_abi_major != GEV_ABI_MAJOR) {
    if (host && host->log) say(host, GEV_LOG_ERROR, "built for another host ABI major");
    return NULL;
  }
  return &descriptor;
}
