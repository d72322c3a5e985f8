/* gev_host.h: the function table the host hands to every module at load.
 *
 * Modules call the host only through this table (no host symbol is resolved by the
 * dynamic linker). Thread rules, per function:
 *   [loop]  only on the loop thread that owns the connection/loop argument, i.e. from
 *           inside a callback the host made on that loop;
 *   [any]   from any thread.
 * A gev_conn* is valid from on_connect (or protocol conn_open) until on_close returns;
 * keep it no longer. To reach a connection from another thread, post() to its loop and
 * look it up there. */
#ifndef GEV_SDK_HOST_H
#define GEV_SDK_HOST_H

#include "gev_abi.h"

GEV_EXTERN_C_BEGIN

/* A message going out or coming in. `type` and `meta` are protocol-defined (for example
 * a WebSocket opcode, a protobuf type name); plain byte protocols ignore them. */
typedef struct gev_frame {
  uint32_t size; /* sizeof(gev_frame) */
  uint32_t type;
  gev_bytes data;
  gev_bytes meta;
} gev_frame;

typedef void (*gev_task_fn)(void* arg);

/* ABI 1.3: what a TLS connection negotiated (conn_tls). The views stay valid until the
 * connection's on_close returns. */
#define GEV_TLS_RESUMED 1u       /* an abbreviated handshake (session ticket or cache) */
#define GEV_TLS_PEER_VERIFIED 2u /* the client sent a certificate and it was verified */
typedef struct gev_tls_info {
  uint32_t size;  /* set by the module: sizeof(gev_tls_info); the host fills up to it */
  uint32_t flags; /* GEV_TLS_* */
  gev_bytes version;     /* "TLSv1.3" */
  gev_bytes cipher;      /* "TLS_AES_256_GCM_SHA384" */
  gev_bytes alpn;        /* empty: no ALPN */
  gev_bytes server_name; /* SNI; empty: none sent */
  /* With GEV_TLS_PEER_VERIFIED: the client certificate's subject (RFC 2253), its
   * subject alternative names ("DNS:a.test, IP:127.0.0.1") and SHA-256 fingerprint. */
  gev_bytes peer_subject;
  gev_bytes peer_san;
  uint8_t peer_sha256[32];
} gev_tls_info;

/* ABI 1.4: an outbound connection (dial). */
typedef struct gev_dial_options {
  uint32_t size;       /* set by the module: sizeof(gev_dial_options) */
  uint32_t timeout_ms; /* resolution and connect together; 0: 10 s */
  gev_bytes address;   /* "10.0.0.7:6379", "[::1]:80" or "localhost:80" (resolved off the loops) */
  /* The protocol of the new connection: a loaded protocol module's name, or empty for the
   * protocol instance serving `like`, or for raw bytes without `like`. */
  gev_bytes protocol;
  const gev_conn* like; /* may be NULL */
  /* Becomes the new connection's context (conn_get_context) before on_connect, or is
   * handed to on_connect_failed: the module's per-dial state. */
  void* context;
} gev_dial_options;

/* Why a dial failed (gev_dial_failure::reason). */
#define GEV_DIAL_REFUSED 1        /* nothing listens there */
#define GEV_DIAL_TIMED_OUT 2      /* no answer within timeout_ms */
#define GEV_DIAL_UNREACHABLE 3    /* no route, address not available */
#define GEV_DIAL_RESOLVE_FAILED 4 /* the name did not resolve, or the address is malformed */
#define GEV_DIAL_CANCELLED 5      /* dial_cancel, a stop, or the module is being retired */
#define GEV_DIAL_OTHER 6

typedef struct gev_host_api {
  uint32_t size; /* sizeof(gev_host_api) as the host was built: check before using a member */
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t reserved;
  gev_host* host; /* this module's handle: pass it back where a call asks for it */

  /* ---- logging [any] ---- */
  /* One line, prefixed with the module's name. Cheap to call below the host's level. */
  void (*log)(gev_host* host, int32_t level, const char* module, gev_bytes message);

  /* ---- connection facts [loop] ---- */
  uint64_t (*conn_id)(const gev_conn* c);
  gev_loop* (*conn_loop)(const gev_conn* c);
  /* Writes "ip:port" (NUL-terminated, truncated to cap) and returns the full length. */
  uint32_t (*conn_peer_address)(const gev_conn* c, char* buf, uint32_t cap);
  uint32_t (*conn_local_address)(const gev_conn* c, char* buf, uint32_t cap);
  /* One pointer of handler state per connection (the protocol has its own, returned by
   * conn_open). The host never touches it. */
  void* (*conn_get_context)(const gev_conn* c);
  void (*conn_set_context)(gev_conn* c, void* context);

  /* ---- input [loop] ---- */
  /* Undecoded bytes the host holds for the connection. */
  uint64_t (*conn_input_size)(const gev_conn* c);

  /* ---- output [loop] ---- */
  /* Encodes `msg` with the connection's protocol and sends it. Replies sent while the
   * host handles a read leave together in one write. GEV_ERR_CLOSED after close. */
  gev_status (*send)(gev_conn* c, const gev_frame* msg);
  /* Bytes encoded but not yet taken by the socket. */
  uint64_t (*conn_output_size)(const gev_conn* c);
  /* For encode: append bytes (copied unless they lie in the input being decoded), or
   * reserve n bytes to fill in place (valid until the next writer call). */
  gev_status (*writer_append)(gev_writer* w, gev_bytes bytes);
  uint8_t* (*writer_reserve)(gev_writer* w, uint64_t n);

  /* ---- flow and closing [loop] ---- */
  void (*conn_pause_reading)(gev_conn* c);
  void (*conn_resume_reading)(gev_conn* c);
  /* abort 0: flush pending output, then close; 1: close now. on_close follows. */
  void (*conn_close)(gev_conn* c, int32_t abort);
  /* Flush, then shut the write side; reading goes on until the peer closes. */
  void (*conn_shutdown_write)(gev_conn* c);

  /* ---- timers [loop] ---- */
  /* With owner non-NULL the timer belongs to that connection and is cancelled when it
   * closes; otherwise it belongs to the loop. fn runs on `loop`. interval_ns 0: once.
   * A one-shot timer started from a connection callback or a task keeps this module
   * instance loaded (a reload never unloads code it will call) until it fires or is
   * cancelled. Repeating timers, and timers started in create, loop_init or such a
   * timer's tick, are per-loop state: they keep nothing loaded, and the host cancels
   * those still pending after loop_fini. Refused (0) once the instance is being
   * retired (its loop_fini and destroy after a reload replaced it). */
  gev_timer_id (*timer_start)(gev_loop* loop, gev_conn* owner, uint64_t delay_ns,
                              uint64_t interval_ns, gev_task_fn fn, void* arg);
  /* Cancelling a fired or unknown id is a no-op. */
  void (*timer_cancel)(gev_loop* loop, gev_timer_id id);

  /* ---- loops ---- */
  uint32_t (*loop_count)(gev_host* host);           /* [any] */
  gev_loop* (*loop_at)(gev_host* host, uint32_t i); /* [any] */
  uint32_t (*loop_index)(const gev_loop* loop);     /* [any] */
  /* [any] Runs fn(arg) on `loop` soon: the thread-safe door into a loop. Posted from a
   * host callback, the task keeps this module instance loaded until it has run; posted
   * from a thread of your own, it runs before the unload if destroy joined that thread.
   * GEV_ERR_CLOSED once the instance is being retired (its loop_fini and destroy after a
   * reload replaced it, or a thread of its own still posting then). A task of this
   * module's is not run once loop_fini ran on `loop`. */
  gev_status (*post)(gev_loop* loop, gev_task_fn fn, void* arg);
  /* [loop] Calls fn for every open connection served by this module on `loop`. */
  void (*for_each_conn)(gev_host* host, gev_loop* loop, void (*fn)(gev_conn* c, void* arg),
                        void* arg);

  /* ---- metrics ---- */
  /* [create only] Defines a counter (monotonic) or gauge exported as gev_module_<module>_<name>. */
  gev_metric* (*metric_define)(gev_host* host, const char* name, const char* help,
                               int32_t is_gauge);
  /* [any] Adds delta (a gauge may go down). */
  void (*metric_add)(gev_metric* m, int64_t delta);

  /* ---- ABI 1.1 ---- */
  /* [any] Copies msg and sends it on connection conn_id's own loop, if that connection
   * is still open and served by this module: gev's thread-safe Send. GEV_ERR_CLOSED if
   * no such connection is open (it may still close before the message goes out). */
  gev_status (*send_to)(gev_host* host, uint64_t conn_id, const gev_frame* msg);

  /* ---- ABI 1.3 ---- */
  /* [loop] Fills *out (out->size set by the caller) with what the connection's TLS
   * negotiated. GEV_ERR_UNSUPPORTED on a plain connection. Over TLS, on_connect runs
   * once the handshake is done, so this answers from on_connect on. */
  gev_status (*conn_tls)(const gev_conn* c, gev_tls_info* out);

  /* ---- ABI 1.4: outbound connections ---- */
  /* [loop] Opens a TCP connection on `loop` with this module as its handler (its
   * on_connect, on_message, on_close; conn_outbound tells them apart) and the protocol
   * opts->protocol names. Ends in on_connect or the handler's on_connect_failed, on
   * `loop`, never inside this call. While a dial is pending, and while its connection
   * is open, it keeps this module instance loaded, as a one-shot timer does; after a
   * reload retired the instance, its outbound connections close at the drain deadline
   * like its inbound ones. *dial_id (if not NULL) is for dial_cancel. GEV_ERR_CLOSED
   * once the instance is being retired or the host is stopping; GEV_ERR_INVALID for an
   * unknown protocol module. */
  gev_status (*dial)(gev_host* host, gev_loop* loop, const gev_dial_options* opts,
                     uint64_t* dial_id);
  /* [any] A pending dial fails with GEV_DIAL_CANCELLED; a finished one is left be. */
  void (*dial_cancel)(gev_host* host, uint64_t dial_id);
  /* [loop] 1 if the connection was dialled (dial), 0 if it was accepted. */
  int32_t (*conn_outbound)(const gev_conn* c);
  /* [loop] Flow coupling between two connections on one loop (a proxy's two sides):
   * while one has more than `high` bytes of output pending, the other does not read,
   * until that is back at `low` or below. 0, 0: the listener's write marks. Either
   * closing undoes it; a connection has one link, a new one replaces it.
   * GEV_ERR_INVALID for connections on different loops; GEV_ERR_CLOSED if one closed. */
  gev_status (*conn_link)(gev_conn* a, gev_conn* b, uint64_t high, uint64_t low);
  void (*conn_unlink)(gev_conn* c); /* [loop] */
  /* [loop] Writes the name of the protocol module serving the connection ("raw",
   * "websocket"; NUL-terminated, truncated to cap) and returns its full length. */
  uint32_t (*conn_protocol)(const gev_conn* c, char* buf, uint32_t cap);

  /* ---- ABI 1.5: datagram peers ---- */
  /* [loop] 1 if the connection is a UDP listener's peer (one address; each send is one
   * datagram to it; it closes after the listener's udp-idle-timeout without a datagram,
   * on conn_close, or when the listener goes). conn_pause_reading, conn_resume_reading
   * and conn_shutdown_write do nothing on it; conn_link answers GEV_ERR_UNSUPPORTED. */
  int32_t (*conn_datagram)(const gev_conn* c);
  /* [loop] The stream calls with an answer: op GEV_STREAM_PAUSE_READING,
   * GEV_STREAM_RESUME_READING or GEV_STREAM_SHUTDOWN_WRITE. GEV_ERR_UNSUPPORTED on a
   * datagram peer, GEV_ERR_CLOSED on a closed connection, GEV_ERR_INVALID for another op. */
  gev_status (*conn_stream_op)(gev_conn* c, int32_t op);
} gev_host_api;

#define GEV_STREAM_PAUSE_READING 1
#define GEV_STREAM_RESUME_READING 2
#define GEV_STREAM_SHUTDOWN_WRITE 3

GEV_EXTERN_C_END

#endif /* GEV_SDK_HOST_H */
