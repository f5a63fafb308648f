/*
 * Every primitive op of core/ops.def run on a GPU backend and on the CPU reference with the
 * same inputs, compared element by element. The shapes target what the GPU kernels do
 * differently from the reference: several workgroups and chunks per row, partial tiles,
 * ragged cache heads at nonzero first rows, ties in selections, 16-bit data, bindings at
 * byte offsets (aligned and not), aliased bindings, and guard bytes after every bound range
 * that must stay untouched.
 *
 * The backend comes from KVP_TEST_BACKEND (default "opencl"); without one of its devices the
 * test exits 77 (skipped). KVP_TEST_FILTER=substring runs only the matching cases;
 * KVP_TEST_LARGE=1 adds production-sized cases (a million-entry global top-k, 64k-token
 * decode, ...), slow on the CPU reference.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define MAXB KVP_MAX_BINDINGS
#define GUARD 64 /* bytes after each bound range that must stay untouched */

enum { CMP_NONE = 0, CMP_F32, CMP_I32, CMP_CACHE };

typedef struct tbind {
    void *host;       /* initial contents */
    size_t bytes;     /* bound range */
    size_t offset;    /* byte offset of the range in its buffer */
    int cmp;          /* how the range is compared after the op */
    int alias;        /* >= 0: same buffer and offset as that binding */
} tbind;

typedef struct tcase_data {
    kvp_op op;
    unsigned char params[64];
    size_t params_size;
    int n;
    tbind b[MAXB];
    float rtol, atol; /* |gpu - cpu| <= rtol |cpu| + atol max|cpu| */
    /* COMPACT: the cache bindings (K, V, pos, meta) are compared as live rows only. */
    int cache_rows_words, cache_heads;
} tcase_data;

/* ---- deterministic random data ----------------------------------------------------------- */

static uint64_t rng_state;
static void rng_seed(const char *name) {
    uint64_t h = 1469598103934665603ull;
    for (const char *c = name; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    rng_state = h | 1;
}
static uint32_t rng_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float rng_unit(void) { return (float)(rng_u32() % 2000001) / 1000000.0f - 1.0f; }
static int rng_int(int lo, int hi) { return lo + (int)(rng_u32() % (uint32_t)(hi - lo + 1)); }

static size_t dt_size(int dt) { return dt == KVP_DT_F32 ? 4 : 2; }

/* count values of dtype dt, uniform in [-scale, scale] (+ shift). */
static void *rand_data(int dt, size_t count, float scale, float shift) {
    float *f = malloc(sizeof(float) * (count ? count : 1));
    for (size_t i = 0; i < count; i++) f[i] = rng_unit() * scale + shift;
    if (dt == KVP_DT_F32) return f;
    void *h = malloc(2 * (count ? count : 1));
    kvp_convert(KVP_DTYPE_F32, f, (kvp_dtype)dt, h, count);
    free(f);
    return h;
}

static void *zeros(size_t bytes) { return calloc(1, bytes ? bytes : 4); }

static void bind(tcase_data *c, int i, void *host, size_t bytes, int cmp) {
    c->b[i] = (tbind){.host = host, .bytes = bytes, .offset = 0, .cmp = cmp, .alias = -1};
    if (i + 1 > c->n) c->n = i + 1;
}

#define SET_PARAMS(c, op_, p)                                                                 \
    do {                                                                                      \
        (c)->op = (op_);                                                                      \
        memcpy((c)->params, &(p), sizeof(p));                                                 \
        (c)->params_size = sizeof(p);                                                         \
    } while (0)

/* A ragged cache layer: Hk heads, head j at first row j*cap + pad with length len[j] (<= cap
 * - pad), positions increasing with random gaps (the earliest entries may be evicted). */
typedef struct tcache {
    int Hk, cap, d, dtype, rows;
    int32_t *meta, *pos;
} tcache;

static tcache make_cache(int Hk, int cap, int d, int dtype, const int *lens, int pad) {
    tcache t = {.Hk = Hk, .cap = cap, .d = d, .dtype = dtype, .rows = Hk * cap};
    t.meta = malloc(sizeof(int32_t) * 2 * Hk);
    t.pos = malloc(sizeof(int32_t) * t.rows);
    for (int r = 0; r < t.rows; r++) t.pos[r] = 1 << 30;
    for (int j = 0; j < Hk; j++) {
        t.meta[2 * j] = j * cap + pad;
        t.meta[2 * j + 1] = lens[j];
        int p = rng_int(0, 2);
        for (int x = 0; x < lens[j]; x++) {
            t.pos[j * cap + pad + x] = p;
            p += 1 + (rng_int(0, 3) == 0 ? rng_int(1, 3) : 0);
        }
    }
    return t;
}

/* ---- the cases --------------------------------------------------------------------------- */

typedef void (*case_fn)(tcase_data *c, int v);

static void case_rope(tcase_data *c, int v) {
    int dts[] = {KVP_DT_F32, KVP_DT_F16, KVP_DT_BF16};
    kvp_p_rope p = {.H = 3, .m = 37, .d = v == 3 ? 8 : 64, .r0 = v == 1 ? 5 : 0,
                    .rope_layout = v % 2, .dtype = dts[v % 3]};
    if (v == 4) p.dtype = KVP_DT_F32; /* in place */
    int rows = p.m - p.r0;
    SET_PARAMS(c, KVP_OP_ROPE, p);
    bind(c, 0, rand_data(p.dtype, (size_t)p.H * p.m * p.d, 2, 0), dt_size(p.dtype) * p.H * p.m * p.d,
         CMP_NONE);
    bind(c, 1, rand_data(KVP_DT_F32, (size_t)rows * p.d, 1, 0), 4 * (size_t)rows * p.d, CMP_NONE);
    bind(c, 2, zeros(4 * (size_t)p.H * rows * p.d), 4 * (size_t)p.H * rows * p.d, CMP_F32);
    if (v == 2) c->b[0].offset = 2; /* a 16-bit tensor at an odd element: staged */
    if (v == 4) c->b[2].alias = 0;
}

static void case_attn_colsum(tcase_data *c, int v) {
    /* v 3: 160 packed rows in three tiles, query heads straddling the tiles (and no split-K
     * on a small device) */
    int Hk = 2, G = v == 2 ? 1 : v == 3 ? 4 : 3, d = v == 1 ? 128 : 24, n = v == 2 ? 700 : 301;
    int lens[2] = {n + 5, n};
    int dt = v == 1 ? KVP_DT_BF16 : KVP_DT_F32;
    tcache t = make_cache(Hk, n + 16, d, dt, lens, 3);
    int w = v == 2 ? 20 : v == 3 ? 40 : 13;
    int last = t.pos[t.meta[0] + n - 1];
    kvp_p_attn_colsum p = {.Hq = Hk * G, .Hk = Hk, .d = d, .w = w, .n = n,
                           .q_pos0 = last - w + 1 + (v == 1 ? 0 : 2), .k_dtype = dt,
                           .mean_mode = v % 3, .scale = 1.0f / sqrtf((float)d)};
    SET_PARAMS(c, KVP_OP_ATTN_COLSUM, p);
    bind(c, 0, rand_data(KVP_DT_F32, (size_t)p.Hq * w * d, 2, 0), 4 * (size_t)p.Hq * w * d, CMP_NONE);
    bind(c, 1, rand_data(dt, (size_t)t.rows * d, 2, 0), dt_size(dt) * t.rows * d, CMP_NONE);
    bind(c, 2, t.meta, 8 * (size_t)Hk, CMP_NONE);
    bind(c, 3, t.pos, 4 * (size_t)t.rows, CMP_NONE);
    bind(c, 4, zeros(4 * (size_t)p.Hq * n), 4 * (size_t)p.Hq * n, CMP_F32);
    c->b[1].offset = 256;
}

static void case_probs_colsum(tcase_data *c, int v) {
    kvp_p_probs_colsum p = {.H = 3, .m = 40, .n = 300, .r0 = 8, .r1 = 40, .row_pos0 = 260,
                            .mean_mode = v % 3};
    SET_PARAMS(c, KVP_OP_PROBS_COLSUM, p);
    bind(c, 0, rand_data(KVP_DT_F32, (size_t)p.H * p.m * p.n, 1, 1), 4 * (size_t)p.H * p.m * p.n,
         CMP_NONE);
    bind(c, 1, zeros(4 * (size_t)p.H * p.n), 4 * (size_t)p.H * p.n, CMP_F32);
}

static void case_row_norm(tcase_data *c, int v) {
    int ds[] = {8, 128, 37, 3};
    int dts[] = {KVP_DT_F32, KVP_DT_F16, KVP_DT_F32, KVP_DT_BF16};
    int d = ds[v], dt = dts[v];
    if (dt != KVP_DT_F32 && d % 2) d++;
    int lens[3] = {500, 480, 530};
    tcache t = make_cache(3, 540, d, dt, lens, 7);
    kvp_p_row_norm p = {.H = 3, .n = 480, .d = d, .dtype = dt};
    SET_PARAMS(c, KVP_OP_ROW_NORM, p);
    bind(c, 0, rand_data(dt, (size_t)t.rows * d, 3, 0), dt_size(dt) * t.rows * d, CMP_NONE);
    bind(c, 1, t.meta, 24, CMP_NONE);
    bind(c, 2, zeros(4 * 3 * 480), 4 * 3 * 480, CMP_F32);
    free(t.pos);
}

static void case_qstats(tcase_data *c, int v) {
    int ds[] = {8, 64, 130, 128};
    int d = ds[v];
    int dt = v == 2 ? KVP_DT_BF16 : KVP_DT_F32;
    kvp_p_qstats p = {.H = 2, .m = v == 3 ? 2500 : 333, .d = d, .dtype = dt, .r0 = v == 0 ? 0 : 4,
                      .n_prev = v % 2 ? 1000 : 0};
    SET_PARAMS(c, KVP_OP_QSTATS, p);
    bind(c, 0, rand_data(dt, (size_t)p.H * p.m * d, 1, 0.5f), dt_size(dt) * p.H * p.m * d, CMP_NONE);
    bind(c, 1, rand_data(KVP_DT_F32, (size_t)p.H * d, 1, 0.5f), 4 * (size_t)p.H * d, CMP_F32);
    bind(c, 2, rand_data(KVP_DT_F32, (size_t)p.H * d * d, 100, 0), 4 * (size_t)p.H * d * d, CMP_F32);
    c->rtol = 1e-3f;
    c->atol = 1e-4f;
}

static void case_ea_rotate(tcase_data *c, int v) {
    kvp_p_ea_rotate p = {.H = 3, .d = v == 2 ? 128 : 16, .rope_layout = v % 2, .use_cov = v != 1,
                         .inv_count = 1.0f / 77.0f};
    SET_PARAMS(c, KVP_OP_EA_ROTATE, p);
    size_t hd = (size_t)p.H * p.d, hdd = hd * p.d;
    bind(c, 0, rand_data(KVP_DT_F32, hd, 1, 0), 4 * hd, CMP_NONE);
    bind(c, 1, rand_data(KVP_DT_F32, hdd, 10, 0), 4 * hdd, CMP_NONE);
    bind(c, 2, rand_data(KVP_DT_F32, (size_t)p.d, 1, 0), 4 * (size_t)p.d, CMP_NONE);
    bind(c, 3, zeros(4 * hd), 4 * hd, CMP_F32);
    bind(c, 4, zeros(4 * hdd), 4 * hdd, p.use_cov ? CMP_F32 : CMP_NONE);
}

static void case_ea_logits(tcase_data *c, int v) {
    int ds[] = {8, 128, 70, 64};
    int d = ds[v], Hk = 2, G = 2, n = v == 1 ? 300 : 200;
    int dt = v == 3 ? KVP_DT_F16 : KVP_DT_F32;
    int lens[2] = {n, n + 3};
    tcache t = make_cache(Hk, n + 10, d, dt, lens, 2);
    kvp_p_ea_logits p = {.Hq = Hk * G, .Hk = Hk, .d = d, .n = n, .t0 = v == 0 ? 0 : 70,
                         .k_dtype = dt, .use_cov = v != 2, .inv_sqrt_d = 1.0f / sqrtf((float)d),
                         .inv_2d = 1.0f / (2.0f * d)};
    SET_PARAMS(c, KVP_OP_EA_LOGITS, p);
    bind(c, 0, rand_data(dt, (size_t)t.rows * d, 2, 0), dt_size(dt) * t.rows * d, CMP_NONE);
    bind(c, 1, t.meta, 8 * (size_t)Hk, CMP_NONE);
    bind(c, 2, rand_data(KVP_DT_F32, (size_t)p.Hq * d, 1, 0), 4 * (size_t)p.Hq * d, CMP_NONE);
    bind(c, 3, rand_data(KVP_DT_F32, (size_t)p.Hq * d * d, 1, 0), 4 * (size_t)p.Hq * d * d, CMP_NONE);
    bind(c, 4, rand_data(KVP_DT_F32, (size_t)p.Hq * n, 1, 0), 4 * (size_t)p.Hq * n, CMP_F32);
    c->atol = 1e-4f;
    free(t.pos);
}

static void case_softmax(tcase_data *c, int v) {
    kvp_p_softmax p = {.H = 3, .n = v == 1 ? 20000 : 333, .t0 = v == 2 ? 333 : 4};
    SET_PARAMS(c, KVP_OP_SOFTMAX, p);
    bind(c, 0, rand_data(KVP_DT_F32, (size_t)p.H * p.n, 8, 0), 4 * (size_t)p.H * p.n, CMP_F32);
}

static void case_head_reduce(tcase_data *c, int v) {
    kvp_p_head_reduce p = {.Hq = 8, .Hk = 2, .n = 777, .mode = v};
    SET_PARAMS(c, KVP_OP_HEAD_REDUCE, p);
    bind(c, 0, rand_data(KVP_DT_F32, 8 * 777, 1, 0), 4 * 8 * 777, CMP_NONE);
    bind(c, 1, zeros(4 * 2 * 777), 4 * 2 * 777, CMP_F32);
}

static void case_pool1d(tcase_data *c, int v) {
    int ks[] = {5, 1, 7};
    kvp_p_pool1d p = {.H = 2, .n = 400, .len = v == 1 ? 400 : 390, .k = ks[v]};
    SET_PARAMS(c, KVP_OP_POOL1D, p);
    bind(c, 0, rand_data(KVP_DT_F32, 800, 1, 0), 3200, CMP_NONE);
    bind(c, 1, rand_data(KVP_DT_F32, 800, 1, 0), 3200, CMP_F32);
}

static void case_score_map(tcase_data *c, int v) {
    kvp_p_score_map p = {.H = 2, .n = 1000, .has_w = v, .a = 1.5f, .b = 0.25f};
    SET_PARAMS(c, KVP_OP_SCORE_MAP, p);
    bind(c, 0, rand_data(KVP_DT_F32, 2000, 1, 0), 8000, CMP_F32);
    bind(c, 1, rand_data(KVP_DT_F32, 2000, 1, 0), 8000, CMP_NONE);
    if (!v) c->b[1].alias = 0;
    c->rtol = 0; /* same roundings as the reference */
    c->atol = 0;
}

static void case_score_pad(tcase_data *c, int v) {
    kvp_p_score_pad p = {.H = 3, .n = 5000, .lo = v ? 0 : 4, .hi = v ? 4000 : 5000};
    SET_PARAMS(c, KVP_OP_SCORE_PAD, p);
    bind(c, 0, rand_data(KVP_DT_F32, 15000, 1, 0), 60000, CMP_F32);
    c->rtol = 0;
    c->atol = 0;
}

static void case_masked_fill(tcase_data *c, int v) {
    (void)v;
    kvp_p_masked_fill p = {.H = 2, .n = 700, .value = 3.0e38f};
    SET_PARAMS(c, KVP_OP_MASKED_FILL, p);
    int32_t *m = malloc(4 * 1400);
    for (int i = 0; i < 1400; i++) m[i] = rng_int(0, 3) == 0 ? rng_int(1, 9) : 0;
    bind(c, 0, rand_data(KVP_DT_F32, 1400, 1, 0), 5600, CMP_F32);
    bind(c, 1, m, 5600, CMP_NONE);
    c->rtol = 0;
    c->atol = 0;
}

/* Scores with many exact ties (quantised), both zeros, and k across the interesting range. */
static void case_topk(tcase_data *c, int v) {
    int H = 4, n = v >= 4 ? 9000 : 385;
    kvp_p_topk p = {.H = H, .n = n, .global_mode = v % 2};
    int64_t len = p.global_mode ? (int64_t)H * n : n;
    int64_t ks[] = {len / 2, len / 3, 0, len, len - 1, 1};
    p.k = (int)ks[v % 6];
    SET_PARAMS(c, KVP_OP_TOPK, p);
    float *s = malloc(sizeof(float) * H * n);
    for (int i = 0; i < H * n; i++) {
        int q = rng_int(-40, 40);
        s[i] = v == 2 ? (float)q * 1e-30f : (float)q / 8.0f; /* v 2: tiny (denormal-ish) keys */
        if (q == 0 && rng_int(0, 1)) s[i] = -0.0f;
        if (v == 3 && i % 7 == 0) s[i] = -3.0e38f;
    }
    bind(c, 0, s, 4 * (size_t)H * n, CMP_NONE);
    bind(c, 1, zeros(4 * (size_t)H * n), 4 * (size_t)H * n, CMP_I32);
}

static void case_compact(tcase_data *c, int v) {
    int Hk = 3, d = v == 1 ? 8 : 64, n = v == 2 ? 1100 : 300;
    int dt = v == 1 ? KVP_DT_F16 : v == 3 ? KVP_DT_BF16 : KVP_DT_F32;
    int lens[3] = {n, n - 17, n - 1};
    tcache t = make_cache(Hk, n + 8, d, dt, lens, 5);
    kvp_p_compact p = {.Hk = Hk, .d = d, .n = n, .kv_dtype = dt};
    SET_PARAMS(c, KVP_OP_COMPACT, p);
    int32_t *m = malloc(4 * (size_t)Hk * n);
    for (int i = 0; i < Hk * n; i++) m[i] = rng_int(0, v == 2 ? 9 : 2) != 0;
    size_t bytes = dt_size(dt) * (size_t)t.rows * d;
    bind(c, 0, rand_data(dt, (size_t)t.rows * d, 1, 0), bytes, CMP_CACHE);
    bind(c, 1, rand_data(dt, (size_t)t.rows * d, 1, 0), bytes, CMP_CACHE);
    bind(c, 2, t.pos, 4 * (size_t)t.rows, CMP_CACHE);
    bind(c, 3, t.meta, 8 * (size_t)Hk, CMP_I32);
    bind(c, 4, m, 4 * (size_t)Hk * n, CMP_NONE);
    c->b[0].offset = 512; /* caller-wrapped memory */
    c->b[1].offset = v == 3 ? 6 : 0; /* bf16 at an unaligned offset: staged and copied back */
    c->cache_rows_words = (int)(dt_size(dt) * d / 4);
    c->cache_heads = Hk;
}

static void case_attention(tcase_data *c, int v) {
    /* v: 0 prefill, 1 decode m=1 G=4, 2 decode m=3 (12 rows), 3 prefill bf16 d=256,
     *    4 decode f16 d=8, 5 prefill m=40 G=1 with a long head, 6 decode G=16 rows=16,
     *    7 decode 2 queries x 2 heads bf16 d=256, 8 decode 3 rows, 4 kv heads (no split-K on a
     *    small device) */
    int Hk = 2, G = 2, m = 37, d = 64, dt = KVP_DT_F32, qdt = KVP_DT_F32, n = 300;
    if (v == 1) G = 4, m = 1, n = 1500;
    if (v == 2) G = 4, m = 3;
    if (v == 3) d = 256, dt = KVP_DT_BF16, qdt = KVP_DT_BF16;
    if (v == 4) G = 4, m = 1, d = 8, dt = KVP_DT_F16, qdt = KVP_DT_F16;
    if (v == 5) G = 1, m = 40, n = 1000;
    if (v == 6) Hk = 1, G = 16, m = 1, d = 32;
    if (v == 7) G = 2, m = 2, d = 256, dt = KVP_DT_BF16, n = 900;
    if (v == 8) Hk = 4, G = 3, m = 1, d = 128, n = 700;
    int lens[4] = {n, n - 57, n - 3, n};
    tcache t = make_cache(Hk, n + 4, d, dt, lens, 1);
    int last = t.pos[t.meta[0] + n - 1];
    kvp_p_attention p = {.Hq = Hk * G, .Hk = Hk, .d = d, .m = m,
                         .q_pos0 = last - m + 1 - (v == 0 ? 9 : 0), .q_dtype = qdt, .kv_dtype = dt,
                         .scale = 1.0f / sqrtf((float)d)};
    SET_PARAMS(c, KVP_OP_ATTENTION, p);
    size_t qn = (size_t)p.Hq * m * d;
    bind(c, 0, rand_data(qdt, qn, 2, 0), dt_size(qdt) * qn, CMP_NONE);
    bind(c, 1, rand_data(dt, (size_t)t.rows * d, 2, 0), dt_size(dt) * t.rows * d, CMP_NONE);
    bind(c, 2, rand_data(dt, (size_t)t.rows * d, 1, 0), dt_size(dt) * t.rows * d, CMP_NONE);
    bind(c, 3, t.meta, 8 * (size_t)Hk, CMP_NONE);
    bind(c, 4, t.pos, 4 * (size_t)t.rows, CMP_NONE);
    bind(c, 5, zeros(4 * qn), 4 * qn, CMP_F32);
    c->b[1].offset = 1024;
    c->b[5].offset = 64;
    c->atol = 1e-4f;
}

static void case_proj_vnorm(tcase_data *c, int v) {
    int Hk = 2, G = 2, d = v ? 16 : 8, D = v ? 70 : 64, n = 150;
    int dt = v ? KVP_DT_F16 : KVP_DT_F32;
    int lens[2] = {n, n + 1};
    tcache t = make_cache(Hk, n + 2, d, dt, lens, 0);
    kvp_p_proj_vnorm p = {.Hq = Hk * G, .Hk = Hk, .d = d, .D = D, .n = n, .v_dtype = dt,
                          .wo_dtype = dt};
    SET_PARAMS(c, KVP_OP_PROJ_VNORM, p);
    size_t wn = (size_t)D * p.Hq * d;
    bind(c, 0, rand_data(dt, (size_t)t.rows * d, 1, 0), dt_size(dt) * t.rows * d, CMP_NONE);
    bind(c, 1, t.meta, 8 * (size_t)Hk, CMP_NONE);
    bind(c, 2, rand_data(dt, wn, 1, 0), dt_size(dt) * wn, CMP_NONE);
    bind(c, 3, zeros(4 * (size_t)Hk * n), 4 * (size_t)Hk * n, CMP_F32);
    free(t.pos);
}

static void case_keydiff(tcase_data *c, int v) {
    int d = v ? 128 : 8, n = v ? 5000 : 384, Hk = 3;
    int dt = v ? KVP_DT_BF16 : KVP_DT_F32;
    int lens[3] = {n, n, n + 3};
    tcache t = make_cache(Hk, n + 3, d, dt, lens, 0);
    kvp_p_keydiff p = {.Hk = Hk, .d = d, .n = n, .k_dtype = dt};
    SET_PARAMS(c, KVP_OP_KEYDIFF, p);
    bind(c, 0, rand_data(dt, (size_t)t.rows * d, 1, 0.2f), dt_size(dt) * t.rows * d, CMP_NONE);
    bind(c, 1, t.meta, 8 * (size_t)Hk, CMP_NONE);
    bind(c, 2, zeros(4 * (size_t)Hk * n), 4 * (size_t)Hk * n, CMP_F32);
    c->atol = 1e-4f;
    free(t.pos);
}

static void case_lagkv(tcase_data *c, int v) {
    /* v: 0 ranks, 1 cross, 2 short input, 3 lag above the workgroup size, d 1 */
    int Hk = 2, d = v == 3 ? 1 : 16, n = v == 2 ? 100 : 700, lag = v == 3 ? 300 : 64;
    int lens[2] = {n, n + 2};
    tcache t = make_cache(Hk, n + 2, d, KVP_DT_F32, lens, 0);
    kvp_p_lagkv p = {.Hk = Hk, .d = d, .n = n, .n_sink = 4, .lag = lag, .dtype = KVP_DT_F32,
                     .cross = v == 1};
    SET_PARAMS(c, KVP_OP_LAGKV, p);
    /* few distinct values: equal ranges (hi == lo) and ties in the ranks happen */
    float *k = malloc(4 * (size_t)t.rows * d), *vv = malloc(4 * (size_t)t.rows * d);
    for (int i = 0; i < t.rows * d; i++) {
        k[i] = (float)rng_int(0, 6) / 4.0f;
        vv[i] = i % 5 == 0 ? 1.0f : rng_unit();
    }
    bind(c, 0, k, 4 * (size_t)t.rows * d, CMP_NONE);
    bind(c, 1, vv, 4 * (size_t)t.rows * d, CMP_NONE);
    bind(c, 2, t.meta, 8 * (size_t)Hk, CMP_NONE);
    bind(c, 3, zeros(4 * (size_t)Hk * n), 4 * (size_t)Hk * n, CMP_F32);
    c->atol = 1e-5f;
    free(t.pos);
}

static void case_count_nonfinite(tcase_data *c, int v) {
    int dt = v == 1 ? KVP_DT_F16 : KVP_DT_F32;
    int count = v == 2 ? 300000 : 1001;
    kvp_p_count_nonfinite p = {.count = count, .dtype = dt};
    SET_PARAMS(c, KVP_OP_COUNT_NONFINITE, p);
    float *f = malloc(4 * (size_t)count);
    for (int i = 0; i < count; i++) f[i] = rng_unit();
    f[3] = NAN;
    f[count - 1] = INFINITY;
    f[count / 2] = -INFINITY;
    void *data = f;
    if (dt != KVP_DT_F32) {
        data = malloc(2 * (size_t)count);
        kvp_convert(KVP_DTYPE_F32, f, (kvp_dtype)dt, data, (size_t)count);
        free(f);
    }
    bind(c, 0, data, dt_size(dt) * count, CMP_NONE);
    bind(c, 1, zeros(4), 4, CMP_I32);
}

static void case_truncate(tcase_data *c, int v) {
    int lens[3] = {500, 0, 320};
    tcache t = make_cache(3, 520, 4, KVP_DT_F32, lens, 3);
    kvp_p_truncate p = {.Hk = 3, .position = v ? 1 : t.pos[t.meta[0] + 250]};
    SET_PARAMS(c, KVP_OP_TRUNCATE, p);
    bind(c, 0, t.pos, 4 * (size_t)t.rows, CMP_NONE);
    bind(c, 1, t.meta, 24, CMP_I32);
}

/* Production-sized shapes (KVP_TEST_LARGE=1). */
static void case_large(tcase_data *c, int v) {
    if (v <= 1) { /* top-k over 8 x 131072 scores: per row, and global (a million entries) */
        int H = 8, n = 131072;
        kvp_p_topk p = {.H = H, .n = n, .k = v ? H * n / 2 + 7 : n / 3, .global_mode = v};
        SET_PARAMS(c, KVP_OP_TOPK, p);
        float *sc = malloc(sizeof(float) * H * n);
        for (int i = 0; i < H * n; i++) sc[i] = (float)rng_int(-5000, 5000) / 64.0f;
        bind(c, 0, sc, 4 * (size_t)H * n, CMP_NONE);
        bind(c, 1, zeros(4 * (size_t)H * n), 4 * (size_t)H * n, CMP_I32);
    } else if (v == 2) { /* decode over 65536 tokens, GQA group of 4, f16 */
        int Hk = 2, G = 4, d = 128, n = 65536, dt = KVP_DT_F16;
        int lens[2] = {n, n - 1000};
        tcache t = make_cache(Hk, n, d, dt, lens, 0);
        kvp_p_attention p = {.Hq = Hk * G, .Hk = Hk, .d = d, .m = 1,
                             .q_pos0 = t.pos[n - 1], .q_dtype = KVP_DT_F32, .kv_dtype = dt,
                             .scale = 1.0f / sqrtf((float)d)};
        SET_PARAMS(c, KVP_OP_ATTENTION, p);
        size_t qn = (size_t)p.Hq * d;
        bind(c, 0, rand_data(KVP_DT_F32, qn, 2, 0), 4 * qn, CMP_NONE);
        bind(c, 1, rand_data(dt, (size_t)t.rows * d, 2, 0), 2 * (size_t)t.rows * d, CMP_NONE);
        bind(c, 2, rand_data(dt, (size_t)t.rows * d, 1, 0), 2 * (size_t)t.rows * d, CMP_NONE);
        bind(c, 3, t.meta, 8 * (size_t)Hk, CMP_NONE);
        bind(c, 4, t.pos, 4 * (size_t)t.rows, CMP_NONE);
        bind(c, 5, zeros(4 * qn), 4 * qn, CMP_F32);
        c->atol = 1e-4f;
    } else if (v == 3) { /* query statistics of 16384 rows, d = 128 */
        kvp_p_qstats p = {.H = 2, .m = 16384, .d = 128, .dtype = KVP_DT_BF16, .r0 = 4, .n_prev = 0};
        SET_PARAMS(c, KVP_OP_QSTATS, p);
        size_t qn = (size_t)p.H * p.m * p.d;
        bind(c, 0, rand_data(p.dtype, qn, 1, 0.5f), 2 * qn, CMP_NONE);
        bind(c, 1, zeros(4 * 2 * 128), 4 * 2 * 128, CMP_F32);
        bind(c, 2, zeros(4 * 2 * 128 * 128), 4 * 2 * 128 * 128, CMP_F32);
        c->rtol = 1e-3f;
        c->atol = 1e-4f;
    } else if (v == 4) { /* compaction of 8 heads x 32768 tokens, d = 128, bf16 */
        int Hk = 8, d = 128, n = 32768, dt = KVP_DT_BF16;
        int lens[8];
        for (int j = 0; j < Hk; j++) lens[j] = n - 37 * j;
        tcache t = make_cache(Hk, n, d, dt, lens, 0);
        kvp_p_compact p = {.Hk = Hk, .d = d, .n = n, .kv_dtype = dt};
        SET_PARAMS(c, KVP_OP_COMPACT, p);
        int32_t *m = malloc(4 * (size_t)Hk * n);
        for (int i = 0; i < Hk * n; i++) m[i] = rng_int(0, 1);
        size_t bytes = 2 * (size_t)t.rows * d;
        bind(c, 0, rand_data(dt, (size_t)t.rows * d, 1, 0), bytes, CMP_CACHE);
        bind(c, 1, rand_data(dt, (size_t)t.rows * d, 1, 0), bytes, CMP_CACHE);
        bind(c, 2, t.pos, 4 * (size_t)t.rows, CMP_CACHE);
        bind(c, 3, t.meta, 8 * (size_t)Hk, CMP_I32);
        bind(c, 4, m, 4 * (size_t)Hk * n, CMP_NONE);
        c->cache_rows_words = d / 2;
        c->cache_heads = Hk;
    } else { /* softmax over 8 rows of 131072 */
        kvp_p_softmax p = {.H = 8, .n = 131072, .t0 = 4};
        SET_PARAMS(c, KVP_OP_SOFTMAX, p);
        bind(c, 0, rand_data(KVP_DT_F32, 8 * 131072, 10, 0), 4 * 8 * 131072, CMP_F32);
    }
}

static const struct {
    const char *name;
    case_fn fn;
    int variants;
} cases[] = {
    {"rope", case_rope, 5},
    {"attn_colsum", case_attn_colsum, 4},
    {"probs_colsum", case_probs_colsum, 3},
    {"row_norm", case_row_norm, 4},
    {"qstats", case_qstats, 4},
    {"ea_rotate", case_ea_rotate, 3},
    {"ea_logits", case_ea_logits, 4},
    {"softmax", case_softmax, 3},
    {"head_reduce", case_head_reduce, 2},
    {"pool1d", case_pool1d, 3},
    {"score_map", case_score_map, 2},
    {"score_pad", case_score_pad, 2},
    {"masked_fill", case_masked_fill, 1},
    {"topk", case_topk, 6},
    {"compact", case_compact, 4},
    {"attention", case_attention, 9},
    {"proj_vnorm", case_proj_vnorm, 2},
    {"keydiff", case_keydiff, 2},
    {"lagkv", case_lagkv, 4},
    {"count_nonfinite", case_count_nonfinite, 3},
    {"truncate", case_truncate, 2},
    {"large", case_large, 6}, /* only with KVP_TEST_LARGE=1 */
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* ---- running and comparing --------------------------------------------------------------- */

static kvp_context *cpu_ctx, *gpu_ctx;

typedef struct side {
    kvp_buffer *buf[MAXB];
    unsigned char *out[MAXB]; /* downloaded range + guard */
} side;

static void run_side(kvp_context *ctx, const tcase_data *c, side *s) {
    kvp_binding bd[MAXB];
    for (int i = 0; i < c->n; i++) {
        const tbind *b = &c->b[i];
        if (b->alias >= 0) {
            s->buf[i] = NULL;
            bd[i] = bd[b->alias];
            continue;
        }
        size_t total = b->offset + b->bytes + GUARD;
        ck_assert_int_eq(kvp_buffer_alloc(ctx, total, &s->buf[i]), KVP_OK);
        unsigned char *init = malloc(total);
        memset(init, 0xA5, total);
        memcpy(init + b->offset, b->host, b->bytes);
        ck_assert_int_eq(kvp_buffer_upload(ctx, s->buf[i], 0, init, total), KVP_OK);
        free(init);
        bd[i] = (kvp_binding){s->buf[i], b->offset};
    }
    kvp_status st = kvp__run(ctx, c->op, c->params, c->n, bd);
    ck_assert_msg(st == KVP_OK, "%s: %s", kvp_status_name(st), kvp_context_last_error(ctx));
    ck_assert_int_eq(kvp_context_synchronize(ctx), KVP_OK);
    for (int i = 0; i < c->n; i++) {
        s->out[i] = NULL;
        if (!s->buf[i]) continue;
        size_t total = c->b[i].offset + c->b[i].bytes + GUARD;
        s->out[i] = malloc(total);
        ck_assert_int_eq(kvp_buffer_download(ctx, s->buf[i], 0, s->out[i], total), KVP_OK);
    }
}

static void free_side(side *s, int n) {
    for (int i = 0; i < n; i++) {
        kvp_buffer_free(s->buf[i]);
        free(s->out[i]);
    }
}

static void compare_f32(const char *name, int b, const float *g, const float *r, size_t n,
                        float rtol, float atol) {
    float mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmaxf(mx, fabsf(r[i]));
    for (size_t i = 0; i < n; i++) {
        if (isnan(r[i]) && isnan(g[i])) continue;
        float tol = rtol * fabsf(r[i]) + atol * mx;
        ck_assert_msg(fabsf(g[i] - r[i]) <= tol || g[i] == r[i],
                      "%s: binding %d element %zu: gpu %.9g, cpu %.9g (tolerance %.3g)", name, b,
                      i, (double)g[i], (double)r[i], (double)tol);
    }
}

static void compare_cache(const char *name, const tcase_data *c, side *gs, side *cs) {
    const int32_t *meta = (const int32_t *)(cs->out[3] + c->b[3].offset);
    for (int j = 0; j < c->cache_heads; j++) {
        size_t first = (size_t)meta[2 * j], len = (size_t)meta[2 * j + 1];
        for (int bi = 0; bi < 3; bi++) {
            size_t row = bi == 2 ? 4 : (size_t)c->cache_rows_words * 4;
            const unsigned char *g = gs->out[bi] + c->b[bi].offset + first * row;
            const unsigned char *r = cs->out[bi] + c->b[bi].offset + first * row;
            ck_assert_msg(memcmp(g, r, len * row) == 0, "%s: head %d: binding %d rows differ",
                          name, j, bi);
        }
    }
}

static void run_case(const char *name, case_fn fn, int v) {
    tcase_data c;
    memset(&c, 0, sizeof c);
    c.rtol = 2e-4f;
    c.atol = 1e-5f;
    rng_seed(name);
    fn(&c, v);
    side g, r;
    memset(&g, 0, sizeof g);
    memset(&r, 0, sizeof r);
    run_side(gpu_ctx, &c, &g);
    run_side(cpu_ctx, &c, &r);
    for (int i = 0; i < c.n; i++) {
        const tbind *b = &c.b[i];
        if (b->alias >= 0) continue;
        unsigned char guard[GUARD];
        memset(guard, 0xA5, GUARD);
        ck_assert_msg(memcmp(g.out[i] + b->offset + b->bytes, guard, GUARD) == 0,
                      "%s: binding %d: write past the end of the bound range", name, i);
        ck_assert_msg(b->offset == 0 || memcmp(g.out[i], r.out[i], b->offset) == 0,
                      "%s: binding %d: write before the bound range", name, i);
        const unsigned char *go = g.out[i] + b->offset, *ro = r.out[i] + b->offset;
        if (b->cmp == CMP_F32)
            compare_f32(name, i, (const float *)go, (const float *)ro, b->bytes / 4, c.rtol, c.atol);
        else if (b->cmp == CMP_I32) {
            for (size_t e = 0; e < b->bytes / 4; e++)
                ck_assert_msg(((const int32_t *)go)[e] == ((const int32_t *)ro)[e],
                              "%s: binding %d element %zu: gpu %d, cpu %d", name, i, e,
                              ((const int32_t *)go)[e], ((const int32_t *)ro)[e]);
        } else if (b->cmp == CMP_NONE) {
            ck_assert_msg(memcmp(go, ro, b->bytes) == 0, "%s: binding %d (an input) changed",
                          name, i);
        }
    }
    if (c.cache_heads) compare_cache(name, &c, &g, &r);
    free_side(&g, c.n);
    free_side(&r, c.n);
    for (int i = 0; i < c.n; i++)
        if (c.b[i].alias < 0) free(c.b[i].host);
}

/* The loop index runs over (case, variant) pairs. */
static int n_runs;
static int run_case_of[512], run_variant_of[512];

START_TEST(test_op) {
    int ci = run_case_of[_i], v = run_variant_of[_i];
    char name[96];
    snprintf(name, sizeof name, "%s/%d", cases[ci].name, v);
    const char *filter = getenv("KVP_TEST_FILTER");
    if (filter && !strstr(name, filter)) return;
    const char *large = getenv("KVP_TEST_LARGE");
    if (cases[ci].fn == case_large && !(large && atoi(large))) return;
    run_case(name, cases[ci].fn, v);
}
END_TEST

int main(void) {
    const char *backend = getenv("KVP_TEST_BACKEND");
    if (!backend || !backend[0]) backend = "opencl";
    kvp_device *cpu = NULL, *gpu = NULL;
    if (kvp_device_by_name(backend, &gpu) != KVP_OK) {
        printf("SKIP: no %s device: %s\n", backend, kvp_last_error());
        return 77;
    }
    if (kvp_device_by_name("cpu", &cpu) != KVP_OK || kvp_context_create(cpu, NULL, &cpu_ctx) ||
        kvp_context_create(gpu, NULL, &gpu_ctx)) {
        printf("cannot create the contexts: %s\n", kvp_last_error());
        return 1;
    }
    for (int ci = 0; ci < N_CASES; ci++)
        for (int v = 0; v < cases[ci].variants; v++) {
            run_case_of[n_runs] = ci;
            run_variant_of[n_runs] = v;
            n_runs++;
        }
    Suite *s = suite_create("gpu_ops");
    TCase *tc = tcase_create(backend);
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_op, 0, n_runs);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    /* GPU drivers do not survive fork() (CUDA cannot be re-initialised in a child). */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    kvp_context_destroy(gpu_ctx);
    kvp_context_destroy(cpu_ctx);
    return failed ? 1 : 0;
}
