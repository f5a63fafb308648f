/* Row parallelism for the CPU reference: each item (a head, a row) is computed entirely by
 * one thread with the same code as a serial run, so results do not depend on the thread
 * count. Threads are started per op call: ops that use this are long enough for the cost of
 * starting a thread not to matter, and the library keeps no thread pool (no global state). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_ops.h"

typedef struct worker {
    kvp_cpu_task fn;
    void *arg;
    int first, stride, n;
    void *scratch;
} worker;

static void *run_worker(void *p) {
    worker *w = p;
    for (int i = w->first; i < w->n; i += w->stride) w->fn(w->arg, i, w->scratch);
    return NULL;
}

int kvp_cpu_default_threads(void) {
    const char *env = getenv("KVP_CPU_THREADS");
    long n = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > 64) n = 64;
    return (int)n;
}

kvp_status kvp_cpu_parallel(kvp_context *ctx, int n, size_t scratch_bytes, kvp_cpu_task fn,
                            void *arg) {
    if (n <= 0) return KVP_OK;
    const kvp_cpu_state *state = kvp__ctx_backend(ctx);
    int T = state ? state->n_threads : 1;
    if (T > n) T = n;
    worker w[64];
    /* All scratch first: an allocation failure must happen before any output is written. */
    for (int t = 0; t < T; t++) {
        w[t] = (worker){fn, arg, t, T, n, NULL};
        if (scratch_bytes && !(w[t].scratch = malloc(scratch_bytes))) {
            for (int u = 0; u < t; u++) free(w[u].scratch);
            return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY,
                              "cpu: out of memory for %d x %zu bytes of scratch", T, scratch_bytes);
        }
    }
    pthread_t tid[64];
    int started[64] = {0};
    for (int t = 1; t < T; t++) started[t] = pthread_create(&tid[t], NULL, run_worker, &w[t]) == 0;
    run_worker(&w[0]);
    for (int t = 1; t < T; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            run_worker(&w[t]); /* no thread could be started: do its share here */
    }
    for (int t = 0; t < T; t++) free(w[t].scratch);
    return KVP_OK;
}

void kvp_cpu_load_row(int dt, const void *base, size_t offset, int d, float *out) {
    switch (dt) {
    case KVP_DT_F32:
        memcpy(out, (const float *)base + offset, sizeof(float) * (size_t)d);
        break;
    case KVP_DT_F16:
        for (int c = 0; c < d; c++) out[c] = kvp__f16_to_f32(((const uint16_t *)base)[offset + (size_t)c]);
        break;
    default:
        for (int c = 0; c < d; c++) out[c] = kvp__bf16_to_f32(((const uint16_t *)base)[offset + (size_t)c]);
        break;
    }
}

int kvp_cpu_by_score(const void *pa, const void *pb) {
    const kvp_cpu_scored *a = pa, *b = pb;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

double kvp_cpu_dot(const float *a, const float *b, int d) {
    /* four independent partial sums: vectorisable without reassociating one sum */
    double s[4] = {0, 0, 0, 0};
    int c = 0;
    for (; c + 4 <= d; c += 4)
        for (int l = 0; l < 4; l++) s[l] += (double)a[c + l] * (double)b[c + l];
    for (; c < d; c++) s[0] += (double)a[c] * (double)b[c];
    return (s[0] + s[1]) + (s[2] + s[3]);
}
