/* gev_abi.h: the version, the basic types and the status codes of gev's module ABI.
 *
 * Rules that keep the ABI stable (tests/abi checks them with abidiff):
 *  - C only: fixed-width integers, opaque handles, {ptr,len} views, status codes.
 *  - Every struct starts with its own size (uint32_t); tables grow only at the end, and
 *    a reader never touches a member past the size the writer declared. The same holds
 *    for writing: a module fills an out-struct the host allocated (gev_decode_result,
 *    the reply gev_frame) only up to the size the host set in it.
 *  - Memory is freed by the side that allocated it; nothing crosses the boundary to be
 *    freed by the other side.
 *  - A change that breaks an existing member bumps GEV_ABI_MAJOR; an addition at the end
 *    bumps GEV_ABI_MINOR. */
#ifndef GEV_SDK_ABI_H
#define GEV_SDK_ABI_H

#include <stddef.h>
#include <stdint.h>

#define GEV_ABI_MAJOR 1u
#define GEV_ABI_MINOR 5u

#if defined(__GNUC__) || defined(__clang__)
#define GEV_EXPORT __attribute__((visibility("default")))
#else
#define GEV_EXPORT
#endif

#ifdef __cplusplus
#define GEV_EXTERN_C_BEGIN extern "C" {
#define GEV_EXTERN_C_END }
#else
#define GEV_EXTERN_C_BEGIN
#define GEV_EXTERN_C_END
#endif

GEV_EXTERN_C_BEGIN

/* A borrowed view of bytes. Who lends it says how long it stays valid. */
typedef struct gev_bytes {
  const uint8_t* ptr;
  uint64_t len;
} gev_bytes;

/* Status codes: 0 is success, negative is failure. */
typedef int32_t gev_status;
#define GEV_OK 0
#define GEV_ERR_INVALID (-1)     /* an argument is out of range (e.g. consume past the end) */
#define GEV_ERR_CLOSED (-2)      /* the connection is closed or closing */
#define GEV_ERR_NOMEM (-3)       /* allocation failed or a buffer cap was hit */
#define GEV_ERR_UNSUPPORTED (-4) /* the host or module does not offer this */
#define GEV_ERR_MODULE (-5)      /* the module failed (it logs why) */

/* Opaque handles, owned by the host. */
typedef struct gev_host gev_host;     /* the host, for the module's lifetime */
typedef struct gev_loop gev_loop;     /* an event loop (one thread) */
typedef struct gev_conn gev_conn;     /* a connection; valid until its on_close returns */
typedef struct gev_writer gev_writer; /* output being encoded; valid during encode */
typedef struct gev_metric gev_metric; /* a metric the module defined at create time */
typedef uint64_t gev_timer_id;        /* 0 is never a valid id */

/* Log levels, as the host's --log-level. */
#define GEV_LOG_TRACE 0
#define GEV_LOG_DEBUG 1
#define GEV_LOG_INFO 2
#define GEV_LOG_WARN 3
#define GEV_LOG_ERROR 4

GEV_EXTERN_C_END

#endif /* GEV_SDK_ABI_H */
