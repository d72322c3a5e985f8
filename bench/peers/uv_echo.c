/* uv_echo: a libuv echo server written the fast way (one static 64 KiB read buffer,
 * uv_try_write first, a queued uv_write only for what the socket did not take), so the
 * comparison measures libuv, not a naive use of it. --port P binds 127.0.0.1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static char g_buf[65536];
static int g_busy; /* the static buffer is lent to one read at a time */

typedef struct {
  uv_write_t req;
  uv_buf_t buf;
} pending_write_t;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  if (g_busy) {
    *buf = uv_buf_init(malloc(65536), 65536);
  } else {
    g_busy = 1;
    *buf = uv_buf_init(g_buf, sizeof g_buf);
  }
}

static void release(const uv_buf_t *buf) {
  if (buf->base == g_buf) g_busy = 0;
  else free(buf->base);
}

static void on_close(uv_handle_t *h) { free(h); }

static void on_written(uv_write_t *req, int status) {
  pending_write_t *w = (pending_write_t *)req;
  uv_stream_t *s = req->handle;
  free(w->buf.base);
  free(w);
  if (status < 0 && !uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_close);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  if (n > 0) {
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
    int w = uv_stream_get_write_queue_size(s) == 0 ? uv_try_write(s, &out, 1) : 0;
    if (w < 0 && w != UV_EAGAIN) {
      release(buf);
      uv_close((uv_handle_t *)s, on_close);
      return;
    }
    if (w < 0) w = 0;
    if (w < n) {
      pending_write_t *p = malloc(sizeof *p);
      size_t left = (size_t)n - (size_t)w;
      p->buf = uv_buf_init(malloc(left), (unsigned)left);
      memcpy(p->buf.base, buf->base + w, left);
      uv_write(&p->req, s, &p->buf, 1, on_written);
    }
  } else if (n < 0 && !uv_is_closing((uv_handle_t *)s)) {
    uv_close((uv_handle_t *)s, on_close);
  }
  if (buf->base) release(buf);
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  uv_tcp_t *c = malloc(sizeof *c);
  uv_tcp_init(server->loop, c);
  if (uv_accept(server, (uv_stream_t *)c) == 0) {
    uv_tcp_nodelay(c, 1);
    uv_read_start((uv_stream_t *)c, on_alloc, on_read);
  } else {
    uv_close((uv_handle_t *)c, on_close);
  }
}

int main(int argc, char **argv) {
  int port = 1833;
  for (int i = 1; i + 1 < argc; ++i)
    if (strcmp(argv[i], "--port") == 0) port = atoi(argv[++i]);
  uv_loop_t *loop = uv_default_loop();
  uv_tcp_t server;
  struct sockaddr_in addr;
  uv_tcp_init(loop, &server);
  uv_ip4_addr("127.0.0.1", port, &addr);
  if (uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0) != 0 ||
      uv_listen((uv_stream_t *)&server, 1024, on_connection) != 0) {
    fprintf(stderr, "uv_echo: cannot listen on port %d\n", port);
    return 1;
  }
  return uv_run(loop, UV_RUN_DEFAULT);
}
