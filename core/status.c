/* Status names and messages, per-context and per-thread error messages, logging. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *kvp_status_name(kvp_status status) {
    switch (status) {
#define X(NAME, value, message) \
    case KVP_##NAME:            \
        return "KVP_" #NAME;
#include "status.def"
#undef X
    }
    return "KVP_UNKNOWN_STATUS";
}

const char *kvp_status_str(kvp_status status) {
    switch (status) {
#define X(NAME, value, message) \
    case KVP_##NAME:            \
        return message;
#include "status.def"
#undef X
    }
    return "unknown status";
}

/* The one piece of per-thread state: the message of a failure that happened outside any
 * context (registry, press configuration, context creation). */
static _Thread_local char tls_error[KVP_ERRMSG_SIZE];

const char *kvp_last_error(void) { return tls_error; }

kvp_status kvp__errorv(kvp_context *ctx, kvp_status st, const char *fmt, va_list ap) {
    char *dst = ctx ? ctx->error : tls_error;
    /* Formatted aside first: a message may quote the previous one (kvp_last_error(), the
     * context's own message), which lives in the buffer being written. */
    char msg[KVP_ERRMSG_SIZE];
    vsnprintf(msg, sizeof msg, fmt, ap);
    memcpy(dst, msg, sizeof msg);
    if (ctx) kvp__log(ctx, KVP_LOG_DEBUG, "error %s: %s", kvp_status_name(st), ctx->error);
    return st;
}

kvp_status kvp__error(kvp_context *ctx, kvp_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    kvp__errorv(ctx, st, fmt, ap);
    va_end(ap);
    return st;
}

kvp_status kvp__error_tls(kvp_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    kvp__errorv(NULL, st, fmt, ap);
    va_end(ap);
    return st;
}

void kvp__error_tls_to_ctx(kvp_context *ctx) {
    if (ctx) snprintf(ctx->error, sizeof ctx->error, "%s", tls_error);
}

void kvp__log(kvp_context *ctx, kvp_log_level level, const char *fmt, ...) {
    if (!ctx || !ctx->options.log || level > ctx->options.log_level) return;
    char msg[KVP_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx->options.log(level, msg, ctx->options.log_user_data);
}

int kvp_version_number(void) { return KVP_VERSION_NUMBER; }
const char *kvp_version_string(void) { return KVP_VERSION_STRING; }

int kvp__is_pow2(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }
