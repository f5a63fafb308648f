#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

harness H;

static kvp_context *open_device(const char *name) {
    kvp_device *dev;
    if (kvp_device_by_name(name, &dev) != KVP_OK) return NULL;
    kvp_context *ctx;
    if (kvp_context_create(dev, NULL, &ctx) != KVP_OK) {
        fprintf(stderr, "cannot create a context on %s: %s\n", name, kvp_last_error());
        return NULL;
    }
    return ctx;
}

void harness_init(void) {
    const char *b = getenv("KVP_TEST_BACKEND");
    H.backend = b && *b ? b : "cpu";
    H.ctx = open_device(H.backend);
    if (!H.ctx) {
        printf("SKIP: no device for backend '%s': %s\n", H.backend, kvp_last_error());
        exit(77);
    }
    H.ref = open_device("cpu");
    if (!H.ref) {
        fprintf(stderr, "no CPU reference device\n");
        exit(1);
    }
}

void harness_done(void) {
    kvp_context_destroy(H.ctx);
    kvp_context_destroy(H.ref);
    memset(&H, 0, sizeof H);
}

int harness_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    /* CUDA (and some GPU drivers) cannot be used again in a forked child. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

rng rng_for(const char *name, int variant) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *c = name; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    rng r = {h ^ (uint64_t)variant * 0x9e3779b97f4a7c15ull};
    return r;
}

uint64_t rng_u64(rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float rng_uniform(rng *r, float lo, float hi) {
    return lo + (hi - lo) * (float)((double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0));
}

float rng_normal(rng *r) {
    double u1 = ((double)(rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

int rng_int(rng *r, int lo, int hi) { return lo + (int)(rng_u64(r) % (uint64_t)(hi - lo + 1)); }

void fill_normal(rng *r, float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * rng_normal(r);
}

void fill_uniform(rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = rng_uniform(r, lo, hi);
}

void *to_dtype(const float *x, size_t n, kvp_dtype dt) {
    void *out = malloc(n * kvp_dtype_size(dt) + 4);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(kvp_convert(KVP_DTYPE_F32, x, dt, out, n), KVP_OK);
    return out;
}

double nmse(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        int fa = isfinite(a[i]), fb = isfinite(b[i]);
        if (fa != fb) return NAN;
        if (!fa) {
            if (isnan(a[i]) != isnan(b[i]) || (!isnan(a[i]) && a[i] != b[i])) return NAN;
            continue;
        }
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    if (den == 0) return num == 0 ? 0 : INFINITY;
    return num / den;
}

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

uint64_t cache_checksum(const kvp_cache *cache) {
    kvp_cache_options o;
    ck_assert_int_eq(kvp_cache_get_options(cache, &o), KVP_OK);
    uint64_t h = 1469598103934665603ull;
    size_t rb = (size_t)o.head_dim * kvp_dtype_size(o.dtype);
    for (int l = 0; l < o.n_layers; l++) {
        int64_t lengths[256];
        ck_assert_int_le(o.n_kv_heads, 256);
        ck_assert_int_eq(kvp_cache_get_lengths(cache, l, lengths), KVP_OK);
        h = fnv(h, lengths, sizeof(int64_t) * (size_t)o.n_kv_heads);
        for (int j = 0; j < o.n_kv_heads; j++) {
            if (lengths[j] == 0) continue;
            size_t len = (size_t)lengths[j];
            void *k = malloc(len * rb), *v = malloc(len * rb);
            int32_t *pos = malloc(len * sizeof(int32_t));
            ck_assert(k && v && pos);
            ck_assert_int_eq(kvp_cache_read(cache, l, j, k, v, pos), KVP_OK);
            h = fnv(fnv(fnv(h, k, len * rb), v, len * rb), pos, len * sizeof(int32_t));
            free(k);
            free(v);
            free(pos);
        }
    }
    return h;
}

kvp_artefact *st_load(const st_writer *w) {
    char err[512];
    kvp_artefact *a = NULL;
    ck_assert_msg(!st_writer_to_artefact(w, &a, err, sizeof err), "artefact: %s", err);
    return a;
}

kvp_artefact *st_artefact(const st_tensor *t, int n, const char *const *meta) {
    char err[512];
    st_writer *w = st_writer_create();
    ck_assert_ptr_nonnull(w);
    for (int i = 0; i < n; i++)
        ck_assert_msg(!st_writer_add_f32(w, t[i].name, t[i].ndim, t[i].shape, t[i].data, err,
                                         sizeof err),
                      "%s", err);
    for (; meta && meta[0]; meta += 2)
        ck_assert_msg(!st_writer_add_meta(w, meta[0], meta[1], err, sizeof err), "%s", err);
    kvp_artefact *a = st_load(w);
    st_writer_free(w);
    return a;
}
