/*
 * The op case table: every primitive op of core/ops.def on several shapes and dtypes, run on
 * the backend under test (KVP_TEST_BACKEND) and on the CPU reference, from identical seeded
 * inputs. The shapes aim at what GPU kernels do differently from the reference: several
 * workgroups and chunks per row, partial tiles, ragged heads at nonzero first rows, ties in
 * selections, 16-bit data, bindings at byte offsets (aligned or not, staged by the backend),
 * aliased bindings (an op in place).
 *
 * Checks: float outputs element by element (|dev - cpu| <= rtol |cpu| + atol max|cpu|) and in
 * normalised mean squared error; index, mask and compaction outputs identical, ties included;
 * inputs unchanged; guard bytes before and after every bound range untouched.
 * On the cpu backend the table checks determinism, guards and (under ASan/valgrind) memory
 * safety of the reference itself; its numerics are checked by test_reference.c and the
 * kvpress golden vectors.
 *
 * KVP_TEST_FILTER=substring runs the matching cases only; KVP_TEST_LARGE=1 adds
 * production-sized cases (a million-entry global top-k, 64k-token decode, ...).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "harness.h"

#define GUARD 256 /* bytes checked after every bound range, and the default offset before it */
#define GUARD_BYTE 0x5a

/* CMP_NONE: an input that must stay unchanged; CMP_UNSPECIFIED: an output whose content the
 * op leaves unspecified (only the guards are checked); CMP_LIVE_NMSE: the live rows (as
 * CMP_LIVE_ROWS) as floats of dtype `dt`, by NMSE. */
typedef enum cmp_kind {
    CMP_NONE, CMP_F32, CMP_EXACT, CMP_LIVE_ROWS, CMP_LIVE_NMSE, CMP_UNSPECIFIED
} cmp_kind;

typedef struct tbind {
    void *host;
    size_t bytes;
    cmp_kind cmp;
    size_t row_bytes; /* CMP_LIVE_*: compare rows [first, first + length) of each head */
    size_t offset;    /* byte offset of the range in its buffer (default GUARD) */
    int alias;        /* >= 0: bound to the same buffer and offset as that binding */
    int dt;           /* CMP_LIVE_NMSE: element dtype */
} tbind;

typedef struct op_case {
    kvp_op op;
    unsigned char params[64];
    int nb;
    tbind b[KVP_MAX_BINDINGS];
    double tol;       /* NMSE */
    float rtol, atol; /* element-wise: |dev - cpu| <= rtol |cpu| + atol max|cpu| */
    int meta; /* binding holding the (output) meta, for CMP_LIVE_ROWS */
    int hk;
} op_case;

static int bind_host(op_case *c, void *host, size_t bytes, cmp_kind cmp) {
    c->b[c->nb] = (tbind){host, bytes, cmp, 0, GUARD, -1, KVP_DT_F32};
    return c->nb++;
}

static int bind_f32(op_case *c, size_t n, cmp_kind cmp, rng *r, float scale) {
    float *x = calloc(n ? n : 1, sizeof(float));
    if (r) fill_normal(r, x, n, scale);
    return bind_host(c, x, n * sizeof(float), cmp);
}

static int bind_i32(op_case *c, const int32_t *src, size_t n, cmp_kind cmp) {
    int32_t *x = calloc(n ? n : 1, sizeof(int32_t));
    if (src) memcpy(x, src, n * sizeof(int32_t));
    return bind_host(c, x, n * sizeof(int32_t), cmp);
}

static int bind_typed(op_case *c, const float *x, size_t n, int dt, cmp_kind cmp) {
    void *h = to_dtype(x, n, (kvp_dtype)dt);
    return bind_host(c, h, n * kvp_dtype_size((kvp_dtype)dt), cmp);
}

#define SET_PARAMS(c, p)                                                                     \
    do {                                                                                     \
        _Static_assert(sizeof(p) <= 64, "params too large");                                 \
        memcpy((c)->params, &(p), sizeof(p));                                                \
    } while (0)

/* A cache layer laid out like a repacked ragged cache: head j holds len[j] rows starting at
 * meta[2j], with a few unused rows between heads; positions increase with gaps. Binds keys
 * (and values when vals != NULL), meta and positions; returns the binding of keys. */
typedef struct layer_desc {
    int Hk, d, dt;
    int len[16];
    int rows;
    int32_t meta[32];
    int32_t *pos;
    float *k, *v;
    int max_pos;
} layer_desc;

static void make_layer(layer_desc *L, rng *r, int Hk, int d, int dt, const int *len) {
    memset(L, 0, sizeof *L);
    L->Hk = Hk;
    L->d = d;
    L->dt = dt;
    int row = 0;
    for (int j = 0; j < Hk; j++) {
        L->len[j] = len[j];
        L->meta[2 * j] = row;
        L->meta[2 * j + 1] = len[j];
        row += len[j] + rng_int(r, 0, 3);
    }
    L->rows = row + 1;
    L->pos = calloc((size_t)L->rows, sizeof(int32_t));
    L->k = calloc((size_t)L->rows * d, sizeof(float));
    L->v = calloc((size_t)L->rows * d, sizeof(float));
    fill_normal(r, L->k, (size_t)L->rows * d, 1.0f);
    fill_normal(r, L->v, (size_t)L->rows * d, 1.0f);
    /* a few larger keys so that softmaxes are not flat */
    for (int i = 0; i < L->rows / 17; i++) L->k[(size_t)rng_int(r, 0, L->rows - 1) * d] += 4.0f;
    for (int j = 0; j < Hk; j++) {
        int p = 0;
        for (int t = 0; t < len[j]; t++) {
            L->pos[L->meta[2 * j] + t] = p;
            p += 1 + (rng_int(r, 0, 5) == 0 ? rng_int(r, 1, 3) : 0);
        }
        if (p > L->max_pos) L->max_pos = p;
    }
}

static int bind_rows(op_case *c, const float *x, const layer_desc *L, cmp_kind cmp) {
    int b = bind_typed(c, x, (size_t)L->rows * L->d, L->dt, cmp);
    c->b[b].row_bytes = (size_t)L->d * kvp_dtype_size((kvp_dtype)L->dt);
    return b;
}

static void uniform_len(int *len, int Hk, int n) {
    for (int j = 0; j < Hk; j++) len[j] = n;
}

static const int dts[3] = {KVP_DT_F32, KVP_DT_F16, KVP_DT_BF16};

/* ---- builders: one per op; `v` selects the variant ---------------------------------------- */

static void b_rope(op_case *c, rng *r, int v) {
    int ds[3] = {8, 64, 128};
    kvp_p_rope p = {.H = 3, .m = 37, .d = ds[v % 3], .r0 = (v & 1) ? 5 : 0,
                    .rope_layout = (v / 3) % 2, .dtype = dts[v % 3]};
    size_t n = (size_t)p.H * p.m * p.d, rows = (size_t)(p.m - p.r0);
    float *x = malloc(n * sizeof(float));
    fill_normal(r, x, n, 1.0f);
    bind_typed(c, x, n, p.dtype, CMP_NONE);
    free(x);
    float *cs = malloc(rows * (size_t)p.d * sizeof(float));
    for (size_t i = 0; i < rows * (size_t)p.d / 2; i++) {
        float a = rng_uniform(r, -3.2f, 3.2f);
        cs[2 * i] = cosf(a);
        cs[2 * i + 1] = sinf(a);
    }
    bind_host(c, cs, rows * (size_t)p.d * sizeof(float), CMP_NONE);
    bind_f32(c, (size_t)p.H * rows * p.d, CMP_F32, NULL, 0);
    if (v == 6) { /* in place: out is x (f32, r0 = 0) */
        c->b[2].alias = 0;
        c->b[0].cmp = CMP_F32;
    }
    if (v == 7) c->b[0].offset = GUARD + 2; /* a 16-bit tensor at an odd element */
    c->op = KVP_OP_ROPE;
    SET_PARAMS(c, p);
}

static void b_attn_colsum(op_case *c, rng *r, int v) {
    int Hqs[3] = {8, 4, 2}, Hks[3] = {2, 4, 1}, ds[3] = {64, 128, 8};
    int Hq = Hqs[v % 3], Hk = Hks[v % 3], d = ds[v % 3], n = 300 + v, len[16];
    uniform_len(len, Hk, n);
    layer_desc L;
    make_layer(&L, r, Hk, d, dts[v % 3], len);
    int w = (v % 2) ? n : 32; /* observed attention uses every row */
    kvp_p_attn_colsum p = {.Hq = Hq, .Hk = Hk, .d = d, .w = w, .n = n,
                           .q_pos0 = L.max_pos - w + 1 - (v % 4), .k_dtype = L.dt,
                           .mean_mode = v == 6 ? KVP_COLSUM_POSITION : v % 3,
                           .scale = 1.0f / sqrtf((float)d)};
    bind_f32(c, (size_t)Hq * w * d, CMP_NONE, r, 1.0f);
    bind_rows(c, L.k, &L, CMP_NONE);
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    bind_i32(c, L.pos, (size_t)L.rows, CMP_NONE);
    bind_f32(c, (size_t)Hq * n, CMP_F32, NULL, 0);
    c->op = KVP_OP_ATTN_COLSUM;
    c->tol = 1e-8;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_probs_colsum(op_case *c, rng *r, int v) {
    kvp_p_probs_colsum p = {.H = 4, .m = 50, .n = 80, .r0 = v ? 10 : 0, .r1 = 50,
                            .row_pos0 = 30, .mean_mode = v == 3 ? KVP_COLSUM_POSITION : v % 3};
    int P = bind_f32(c, (size_t)p.H * p.m * p.n, CMP_NONE, NULL, 0);
    fill_uniform(r, c->b[P].host, (size_t)p.H * p.m * p.n, 0.0f, 1.0f);
    bind_f32(c, (size_t)p.H * p.n, CMP_F32, NULL, 0);
    c->op = KVP_OP_PROBS_COLSUM;
    SET_PARAMS(c, p);
}

static void b_row_norm(op_case *c, rng *r, int v) {
    int len[16], Hk = 3, d = v == 2 ? 128 : 48;
    uniform_len(len, Hk, 257);
    layer_desc L;
    make_layer(&L, r, Hk, d, dts[v % 3], len);
    kvp_p_row_norm p = {.H = Hk, .n = 257, .d = d, .dtype = L.dt};
    bind_rows(c, L.v, &L, CMP_NONE);
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    bind_f32(c, (size_t)Hk * 257, CMP_F32, NULL, 0);
    c->op = KVP_OP_ROW_NORM;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_qstats(op_case *c, rng *r, int v) {
    int ds[3] = {16, 64, 128};
    kvp_p_qstats p = {.H = 4, .m = 100 + 13 * v, .d = ds[v % 3], .dtype = dts[v % 3],
                      .r0 = (v & 1) ? 7 : 0, .n_prev = v >= 3 ? 57 : 0};
    size_t n = (size_t)p.H * p.m * p.d;
    float *q = malloc(n * sizeof(float));
    fill_normal(r, q, n, 1.0f);
    for (size_t i = 0; i < n; i += 3) q[i] += 0.5f; /* a nonzero mean */
    bind_typed(c, q, n, p.dtype, CMP_NONE);
    free(q);
    int mean = bind_f32(c, (size_t)p.H * p.d, CMP_F32, r, 0.3f);
    int m2 = bind_f32(c, (size_t)p.H * p.d * p.d, CMP_F32, NULL, 0);
    float *M = c->b[m2].host;
    for (int h = 0; h < p.H; h++) /* a plausible previous M2: symmetric positive */
        for (int a = 0; a < p.d; a++)
            for (int b = 0; b <= a; b++) {
                float s = a == b ? 57.0f : rng_uniform(r, -2.0f, 2.0f);
                M[((size_t)h * p.d + a) * p.d + b] = M[((size_t)h * p.d + b) * p.d + a] = s;
            }
    (void)mean;
    c->op = KVP_OP_QSTATS;
    c->tol = 1e-9;
    SET_PARAMS(c, p);
}

static void b_ea_rotate(op_case *c, rng *r, int v) {
    int ds[3] = {8, 64, 128};
    kvp_p_ea_rotate p = {.H = 3, .d = ds[v % 3], .rope_layout = v % 2, .use_cov = v != 1,
                         .inv_count = 1.0f / 300.0f};
    bind_f32(c, (size_t)p.H * p.d, CMP_NONE, r, 1.0f);
    bind_f32(c, (size_t)p.H * p.d * p.d, CMP_NONE, r, 30.0f);
    int cs = bind_f32(c, (size_t)p.d, CMP_NONE, NULL, 0);
    fill_uniform(r, c->b[cs].host, (size_t)p.d, -0.5f, 1.0f);
    bind_f32(c, (size_t)p.H * p.d, CMP_F32, NULL, 0);
    bind_f32(c, (size_t)p.H * p.d * p.d, p.use_cov ? CMP_F32 : CMP_NONE, NULL, 0);
    c->op = KVP_OP_EA_ROTATE;
    SET_PARAMS(c, p);
}

static void b_ea_logits(op_case *c, rng *r, int v) {
    int ds[3] = {64, 128, 8}, len[16], Hq = 8, Hk = v == 2 ? 8 : 2, d = ds[v % 3], n = 200 + v;
    uniform_len(len, Hk, n);
    layer_desc L;
    make_layer(&L, r, Hk, d, dts[v % 3], len);
    kvp_p_ea_logits p = {.Hq = Hq, .Hk = Hk, .d = d, .n = n, .t0 = v ? 4 : 0, .k_dtype = L.dt,
                         .use_cov = v != 1, .inv_sqrt_d = 1.0f / sqrtf((float)d),
                         .inv_2d = 0.5f / (float)d};
    bind_rows(c, L.k, &L, CMP_NONE);
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    bind_f32(c, (size_t)Hq * d, CMP_NONE, r, 1.0f);
    bind_f32(c, (size_t)Hq * d * d, CMP_NONE, r, 0.2f);
    bind_f32(c, (size_t)Hq * n, CMP_F32, NULL, 0);
    c->op = KVP_OP_EA_LOGITS;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_softmax(op_case *c, rng *r, int v) {
    kvp_p_softmax p = {.H = 5, .n = v == 2 ? 20000 : 1000 + v, .t0 = v ? 7 : 0};
    bind_f32(c, (size_t)p.H * p.n, CMP_F32, r, 3.0f);
    c->op = KVP_OP_SOFTMAX;
    c->tol = 1e-8;
    SET_PARAMS(c, p);
}

static void b_head_reduce(op_case *c, rng *r, int v) {
    kvp_p_head_reduce p = {.Hq = 8, .Hk = v == 2 ? 8 : 2, .n = 333, .mode = v % 2};
    bind_f32(c, (size_t)p.Hq * p.n, CMP_NONE, r, 1.0f);
    bind_f32(c, (size_t)p.Hk * p.n, CMP_F32, NULL, 0);
    c->op = KVP_OP_HEAD_REDUCE;
    SET_PARAMS(c, p);
}

static void b_pool1d(op_case *c, rng *r, int v) {
    int ks[3] = {5, 1, 7};
    kvp_p_pool1d p = {.H = 4, .n = 300, .len = 300 - 32 * (v != 1), .k = ks[v % 3]};
    bind_f32(c, (size_t)p.H * p.n, CMP_NONE, r, 1.0f);
    bind_f32(c, (size_t)p.H * p.n, CMP_F32, r, 1.0f); /* columns >= len must stay */
    c->op = KVP_OP_POOL1D;
    SET_PARAMS(c, p);
}

static void b_score_map(op_case *c, rng *r, int v) {
    kvp_p_score_map p = {.H = 3, .n = 1001, .has_w = v % 2, .a = v ? -1.0f : 0.5f, .b = 0.01f};
    bind_f32(c, (size_t)p.H * p.n, CMP_F32, r, 1.0f);
    bind_f32(c, (size_t)p.H * p.n, CMP_NONE, r, 1.0f);
    c->op = KVP_OP_SCORE_MAP;
    SET_PARAMS(c, p);
}

static void b_score_pad(op_case *c, rng *r, int v) {
    int lo[3] = {4, 0, 2}, hi[3] = {777, 700, 777};
    kvp_p_score_pad p = {.H = 4, .n = 777, .lo = lo[v % 3], .hi = hi[v % 3]};
    bind_f32(c, (size_t)p.H * p.n, CMP_EXACT, r, 1.0f);
    c->op = KVP_OP_SCORE_PAD;
    SET_PARAMS(c, p);
}

static void b_masked_fill(op_case *c, rng *r, int v) {
    kvp_p_masked_fill p = {.H = 3, .n = 500, .value = v ? 3.4028235e38f : -1.0f};
    bind_f32(c, (size_t)p.H * p.n, CMP_EXACT, r, 1.0f);
    int32_t *m = malloc(sizeof(int32_t) * (size_t)p.H * p.n);
    for (int i = 0; i < p.H * p.n; i++) m[i] = rng_int(r, 0, 3) == 0;
    bind_i32(c, m, (size_t)p.H * p.n, CMP_NONE);
    free(m);
    c->op = KVP_OP_MASKED_FILL;
    SET_PARAMS(c, p);
}

static void b_topk(op_case *c, rng *r, int v) {
    /* variants: per-row small/large, k at the edges, global; coarse scores make many ties;
     * 6: tiny keys, 7: global with huge negative entries */
    int rows[8] = {4, 2, 3, 8, 4, 1, 4, 4}, n[8] = {300, 40000, 257, 5000, 1000, 70000, 385, 9000};
    int glob[8] = {0, 0, 0, 1, 1, 0, 0, 1};
    kvp_p_topk p = {.H = rows[v], .n = n[v], .global_mode = glob[v]};
    int total = glob[v] ? rows[v] * n[v] : n[v];
    int ks[8] = {total / 2, total / 4 + 1, total, total * 3 / 4, 0, 1, total / 3, total - 1};
    p.k = ks[v];
    int s = bind_f32(c, (size_t)p.H * p.n, CMP_NONE, NULL, 0);
    float *x = c->b[s].host;
    for (int i = 0; i < p.H * p.n; i++) {
        if (v >= 6) {
            int q = rng_int(r, -40, 40);
            x[i] = v == 6 ? (float)q * 1e-30f : (float)q / 8.0f;
            if (q == 0 && rng_int(r, 0, 1)) x[i] = -0.0f;
            if (v == 7 && i % 7 == 0) x[i] = -3.0e38f;
        } else {
            x[i] = (v % 2) ? floorf(rng_uniform(r, 0.0f, 16.0f)) / 16.0f : rng_normal(r);
        }
    }
    if (v == 3) x[5] = x[6] = -0.0f, x[7] = 0.0f; /* -0 equals +0 */
    bind_i32(c, NULL, (size_t)p.H * p.n, CMP_EXACT);
    c->op = KVP_OP_TOPK;
    SET_PARAMS(c, p);
}

static void b_compact(op_case *c, rng *r, int v) {
    /* 3: caller-wrapped keys at a large offset, bf16 values at an unaligned one (staged) */
    int Hk = 4, d = v == 1 ? 128 : 64, n = v == 2 ? 3000 : 333, len[16];
    for (int j = 0; j < Hk; j++) len[j] = n - (v == 0 ? 0 : j * 3); /* ragged when v > 0 */
    layer_desc L;
    make_layer(&L, r, Hk, d, v == 3 ? KVP_DT_BF16 : dts[v % 3], len);
    kvp_p_compact p = {.Hk = Hk, .d = d, .n = n, .kv_dtype = L.dt};
    int kb = bind_rows(c, L.k, &L, CMP_LIVE_ROWS);
    int vb = bind_rows(c, L.v, &L, CMP_LIVE_ROWS);
    int pb = bind_i32(c, L.pos, (size_t)L.rows, CMP_LIVE_ROWS);
    c->b[pb].row_bytes = sizeof(int32_t);
    c->meta = bind_i32(c, L.meta, (size_t)2 * Hk, CMP_EXACT);
    int32_t *m = malloc(sizeof(int32_t) * (size_t)Hk * n);
    for (int i = 0; i < Hk * n; i++) m[i] = rng_int(r, 0, 2) != 0 ? (int32_t)(1 + i % 3) : 0;
    bind_i32(c, m, (size_t)Hk * n, CMP_NONE);
    free(m);
    if (v == 3) {
        c->b[kb].offset = 512;
        c->b[vb].offset = GUARD + 6;
    }
    c->hk = Hk;
    c->op = KVP_OP_COMPACT;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_attention(op_case *c, rng *r, int v) {
    /* 0 decode, 1 a few decode rows, 2 prefill, 3 decode d=8, 4 Llama-like GQA decode rows,
     * 5 prefill rows at the end, 6 query rows over a d=256 bf16 cache, 7 a GQA group of 16,
     * 8 two decode rows d=256 bf16, 9 12 query heads over 4 kv heads */
    int ms[10] = {1, 4, 130, 1, 7, 64, 37, 1, 2, 1}, ds[10] = {64, 128, 64, 8, 128, 32, 256, 32, 256, 128};
    int Hqs[10] = {8, 8, 4, 4, 32, 2, 4, 16, 4, 12}, Hks[10] = {2, 8, 2, 1, 8, 2, 2, 1, 2, 4};
    int kvdt[10] = {KVP_DT_F32, KVP_DT_F16, KVP_DT_BF16, KVP_DT_F32, KVP_DT_F16, KVP_DT_BF16,
                    KVP_DT_BF16, KVP_DT_F32, KVP_DT_BF16, KVP_DT_F32};
    int qdts[10] = {KVP_DT_F16, KVP_DT_BF16, KVP_DT_F32, KVP_DT_F16, KVP_DT_BF16, KVP_DT_F32,
                    KVP_DT_BF16, KVP_DT_F32, KVP_DT_F32, KVP_DT_F32};
    int Hq = Hqs[v], Hk = Hks[v], d = ds[v], m = ms[v], len[16];
    for (int j = 0; j < Hk; j++) len[j] = (m > 64 ? m : 400) - rng_int(r, 0, 40) * (v != 2);
    layer_desc L;
    make_layer(&L, r, Hk, d, kvdt[v], len);
    int qdt = qdts[v];
    kvp_p_attention p = {.Hq = Hq, .Hk = Hk, .d = d, .m = m,
                         .q_pos0 = v == 2 ? 0 : L.max_pos - m + 1 - 3 * (v == 4), .q_dtype = qdt,
                         .kv_dtype = L.dt, .scale = 1.0f / sqrtf((float)d)};
    float *q = malloc(sizeof(float) * (size_t)Hq * m * d);
    fill_normal(r, q, (size_t)Hq * m * d, 1.0f);
    bind_typed(c, q, (size_t)Hq * m * d, qdt, CMP_NONE);
    free(q);
    int kb = bind_rows(c, L.k, &L, CMP_NONE);
    bind_rows(c, L.v, &L, CMP_NONE);
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    bind_i32(c, L.pos, (size_t)L.rows, CMP_NONE);
    int ob = bind_f32(c, (size_t)Hq * m * d, CMP_F32, NULL, 0);
    if (v == 6) c->b[kb].offset = 1024, c->b[ob].offset = 64;
    c->op = KVP_OP_ATTENTION;
    c->tol = 1e-8;
    c->atol = 1e-4f;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_proj_vnorm(op_case *c, rng *r, int v) {
    int len[16], Hq = 4, Hk = v ? 4 : 2, d = 16, D = 40, n = 50;
    uniform_len(len, Hk, n);
    layer_desc L;
    make_layer(&L, r, Hk, d, dts[v % 3], len);
    int wdt = dts[(v + 1) % 3];
    kvp_p_proj_vnorm p = {.Hq = Hq, .Hk = Hk, .d = d, .D = D, .n = n, .v_dtype = L.dt,
                          .wo_dtype = wdt};
    bind_rows(c, L.v, &L, CMP_NONE);
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    float *w = malloc(sizeof(float) * (size_t)D * Hq * d);
    fill_normal(r, w, (size_t)D * Hq * d, 0.2f);
    bind_typed(c, w, (size_t)D * Hq * d, wdt, CMP_NONE);
    free(w);
    bind_f32(c, (size_t)Hk * n, CMP_F32, NULL, 0);
    c->op = KVP_OP_PROJ_VNORM;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_keydiff(op_case *c, rng *r, int v) {
    int len[16], Hk = 3, d = v == 2 ? 128 : 32, n = 1000 + v;
    uniform_len(len, Hk, n);
    layer_desc L;
    make_layer(&L, r, Hk, d, dts[v % 3], len);
    for (int i = 0; i < L.rows * d; i += d) L.k[i] += 2.0f; /* a common direction */
    kvp_p_keydiff p = {.Hk = Hk, .d = d, .n = n, .k_dtype = L.dt};
    bind_rows(c, L.k, &L, CMP_NONE);
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    bind_f32(c, (size_t)Hk * n, CMP_F32, NULL, 0);
    c->op = KVP_OP_KEYDIFF;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_lagkv(op_case *c, rng *r, int v) {
    int len[16], Hk = 2, d = 16, n = v == 2 ? 60 : 300;
    uniform_len(len, Hk, n);
    layer_desc L;
    make_layer(&L, r, Hk, d, dts[v % 3], len);
    kvp_p_lagkv p = {.Hk = Hk, .d = d, .n = n, .n_sink = 4, .lag = 32, .dtype = L.dt,
                     .cross = v == 1};
    bind_rows(c, L.k, &L, CMP_NONE);
    bind_rows(c, L.v, &L, CMP_NONE);
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    bind_f32(c, (size_t)Hk * n, CMP_F32, NULL, 0);
    c->op = KVP_OP_LAGKV;
    c->tol = 1e-8;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_count_nonfinite(op_case *c, rng *r, int v) {
    int n = v == 2 ? 100000 : 4097;
    float *x = malloc(sizeof(float) * (size_t)n);
    fill_normal(r, x, (size_t)n, 1.0f);
    if (v != 1)
        for (int i = 0; i < 13; i++) x[rng_int(r, 0, n - 1)] = (i % 2) ? NAN : -INFINITY;
    kvp_p_count_nonfinite p = {.count = n, .dtype = dts[v % 3]};
    bind_typed(c, x, (size_t)n, p.dtype, CMP_NONE);
    free(x);
    bind_i32(c, NULL, 1, CMP_EXACT);
    c->op = KVP_OP_COUNT_NONFINITE;
    SET_PARAMS(c, p);
}

static void b_truncate(op_case *c, rng *r, int v) {
    int len[16], Hk = 4;
    for (int j = 0; j < Hk; j++) len[j] = 100 + 7 * j;
    layer_desc L;
    make_layer(&L, r, Hk, 8, KVP_DT_F32, len);
    kvp_p_truncate p = {.Hk = Hk, .position = v == 0 ? 50 : v == 1 ? 0 : 1 << 30};
    bind_i32(c, L.pos, (size_t)L.rows, CMP_NONE);
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_EXACT);
    c->op = KVP_OP_TRUNCATE;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

/* ---- ops of the scorer presses with new numerics (cap, cur, leverage, non-causal, compactor,
 * kvzap, think) ------------------------------------------------------------------------------ */

/* meta of a dense tensor [nh, m, w] addressed as rows: head h starts at row h*m. */
static int bind_dense_meta(op_case *c, int nh, int m) {
    int32_t meta[64];
    for (int h = 0; h < nh; h++) meta[2 * h] = h * m, meta[2 * h + 1] = m;
    return bind_i32(c, meta, (size_t)2 * nh, CMP_NONE);
}

static void b_anchor_cosine(op_case *c, rng *r, int v) {
    int Hqs[3] = {8, 4, 4}, Hks[3] = {2, 4, 1}, ds[3] = {64, 128, 8}, len[16];
    int Hq = Hqs[v], Hk = Hks[v], d = ds[v], n = 333 + v;
    uniform_len(len, Hk, n);
    layer_desc L;
    make_layer(&L, r, Hk, d, dts[v], len);
    kvp_p_anchor_cosine p = {.Hq = Hq, .Hk = Hk, .d = d, .n = n, .t0 = v == 1 ? 0 : 4,
                             .k_dtype = L.dt, .exp_shift = v != 1, .scale = v == 2 ? 1.0f : 5.0f};
    bind_rows(c, L.k, &L, CMP_NONE);
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    bind_f32(c, (size_t)Hq * d, CMP_NONE, r, 1.0f);
    bind_f32(c, (size_t)Hq * n, CMP_F32, NULL, 0);
    c->op = KVP_OP_ANCHOR_COSINE;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_gram(op_case *c, rng *r, int v) {
    /* v0: CapPress (weighted values, query heads over kv heads); v1: bf16 without weights;
     * v2: a dense f32 sketch as LeverageScore forms it */
    int Hs[3] = {8, 2, 3}, Hxs[3] = {2, 2, 3}, ds[3] = {16, 64, 48}, ns[3] = {300, 257, 500};
    int nh = Hs[v], Hx = Hxs[v], d = ds[v], n = ns[v], len[16];
    kvp_p_gram p = {.H = nh, .Hx = Hx, .d = d, .n = n, .t0 = v == 0 ? 4 : 0,
                    .x_dtype = v == 1 ? KVP_DT_BF16 : KVP_DT_F32, .has_w = v == 0,
                    .eps = 1e-6f, .diag = v == 0 ? 1.0f : 0.01f, .compensated = v == 2};
    if (v < 2) {
        uniform_len(len, Hx, n);
        layer_desc L;
        make_layer(&L, r, Hx, d, p.x_dtype, len);
        bind_rows(c, L.v, &L, CMP_NONE);
        bind_i32(c, L.meta, (size_t)2 * Hx, CMP_NONE);
        free(L.k), free(L.v), free(L.pos);
    } else {
        bind_f32(c, (size_t)Hx * n * d, CMP_NONE, r, 1.0f);
        bind_dense_meta(c, Hx, n);
    }
    int w = bind_f32(c, (size_t)nh * n, CMP_NONE, NULL, 0);
    fill_uniform(r, c->b[w].host, (size_t)nh * n, 0.0f, 1.0f);
    bind_f32(c, (size_t)nh * d * d, CMP_F32, NULL, 0);
    c->op = KVP_OP_GRAM;
    SET_PARAMS(c, p);
}

/* Symmetric positive definite matrices B B^T / d + I, as Gram/capacity matrices are. */
static void spd_matrices(rng *r, float *A, int nh, int d) {
    float *B = malloc(sizeof(float) * (size_t)d * d);
    for (int h = 0; h < nh; h++) {
        fill_normal(r, B, (size_t)d * d, 1.0f);
        for (int i = 0; i < d; i++)
            for (int k = 0; k <= i; k++) {
                double s = i == k ? 1.0 : 0.0;
                for (int c2 = 0; c2 < d; c2++) s += (double)B[i * d + c2] * B[k * d + c2] / d;
                A[((size_t)h * d + i) * d + k] = A[((size_t)h * d + k) * d + i] = (float)s;
            }
    }
    free(B);
}

static void b_cholesky(op_case *c, rng *r, int v) {
    int Hs[3] = {4, 2, 3}, ds[3] = {8, 48, 128};
    kvp_p_cholesky p = {.H = Hs[v], .d = ds[v]};
    int a = bind_f32(c, (size_t)p.H * p.d * p.d, CMP_F32, NULL, 0);
    float *A = c->b[a].host;
    spd_matrices(r, A, p.H, p.d);
    if (v == 2) { /* one indefinite matrix: its info must say where, the others factor */
        A[((size_t)1 * p.d + 5) * p.d + 5] = -1.0f;
        c->b[a].cmp = CMP_UNSPECIFIED;
    }
    bind_i32(c, NULL, (size_t)p.H, CMP_EXACT);
    c->op = KVP_OP_CHOLESKY;
    SET_PARAMS(c, p);
}

static void b_chol_quadform(op_case *c, rng *r, int v) {
    int Hs[3] = {8, 2, 3}, Hxs[3] = {2, 2, 3}, ds[3] = {16, 64, 48}, ns[3] = {300, 257, 400};
    int nh = Hs[v], Hx = Hxs[v], d = ds[v], n = ns[v], len[16];
    kvp_p_chol_quadform p = {.H = nh, .Hx = Hx, .d = d, .n = n, .t0 = v == 1 ? 4 : 0,
                             .x_dtype = v == 1 ? KVP_DT_BF16 : KVP_DT_F32};
    /* L: the Cholesky factor of an SPD matrix, computed here in double */
    float *A = malloc(sizeof(float) * (size_t)nh * d * d);
    spd_matrices(r, A, nh, d);
    int lb = bind_f32(c, (size_t)nh * d * d, CMP_NONE, NULL, 0);
    float *Lf = c->b[lb].host;
    double *Ld = calloc((size_t)d * d, sizeof(double));
    for (int h = 0; h < nh; h++) {
        const float *Ah = A + (size_t)h * d * d;
        for (int k = 0; k < d; k++) {
            double s = Ah[k * d + k];
            for (int q = 0; q < k; q++) s -= Ld[k * d + q] * Ld[k * d + q];
            Ld[k * d + k] = sqrt(s);
            for (int i = k + 1; i < d; i++) {
                double t = Ah[i * d + k];
                for (int q = 0; q < k; q++) t -= Ld[i * d + q] * Ld[k * d + q];
                Ld[i * d + k] = t / Ld[k * d + k];
            }
        }
        for (int e = 0; e < d * d; e++) Lf[(size_t)h * d * d + e] = (float)Ld[e];
    }
    free(Ld);
    free(A);
    if (v < 2) {
        uniform_len(len, Hx, n);
        layer_desc L;
        make_layer(&L, r, Hx, d, p.x_dtype, len);
        bind_rows(c, L.v, &L, CMP_NONE);
        bind_i32(c, L.meta, (size_t)2 * Hx, CMP_NONE);
        free(L.k), free(L.v), free(L.pos);
    } else {
        bind_f32(c, (size_t)Hx * n * d, CMP_NONE, r, 1.0f);
        bind_dense_meta(c, Hx, n);
    }
    bind_f32(c, (size_t)nh * n, CMP_F32, NULL, 0);
    c->op = KVP_OP_CHOL_QUADFORM;
    SET_PARAMS(c, p);
}

static void b_cur_score(op_case *c, rng *r, int v) {
    int ds[4] = {32, 64, 16, 8}, ns[4] = {300, 257, 1000, 64}, len[16];
    int Hk = 3, d = ds[v], n = ns[v];
    uniform_len(len, Hk, n);
    layer_desc L;
    make_layer(&L, r, Hk, d, dts[v % 3], len);
    if (v == 3) /* a window of zero values: its normalisation must not produce NaN */
        for (int t = 16; t < 32; t++) memset(L.v + (size_t)(L.meta[2] + t) * d, 0, sizeof(float) * d);
    int modes[4] = {KVP_CUR_KV_PRODUCT, KVP_CUR_KEY, KVP_CUR_KV_AVG, KVP_CUR_VALUE};
    kvp_p_cur_score p = {.Hk = Hk, .d = d, .n = n, .dtype = L.dt, .r = v == 2 ? 20 : 0,
                         .window = v == 1 ? 0 : v == 2 ? 7 : 16, .mode = modes[v],
                         .n_sinks = v == 3 ? 0 : 4};
    bind_rows(c, L.k, &L, CMP_NONE);
    bind_rows(c, L.v, &L, CMP_NONE);
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    bind_f32(c, (size_t)d * (p.r ? p.r : 1), CMP_NONE, r, 0.2f);
    bind_f32(c, (size_t)Hk * n, CMP_F32, NULL, 0);
    c->op = KVP_OP_CUR_SCORE;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_rope_rows(op_case *c, rng *r, int v) {
    int ds[3] = {8, 64, 128}, len[16], Hk = 3, n = 200 + v;
    uniform_len(len, Hk, n);
    layer_desc L;
    make_layer(&L, r, Hk, ds[v], dts[v], len);
    int d = ds[v], half = d / 2, P = L.max_pos + 1;
    kvp_p_rope_rows p = {.H = Hk, .n = n, .d = d, .rope_layout = v % 2, .x_dtype = L.dt, .p0 = 0, .P = P};
    bind_rows(c, L.k, &L, CMP_NONE);
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    bind_i32(c, L.pos, (size_t)L.rows, CMP_NONE);
    int cs = bind_f32(c, (size_t)P * d, CMP_NONE, NULL, 0);
    float *t = c->b[cs].host;
    for (int e = 0; e < P * half; e++) {
        float a = rng_uniform(r, -3.2f, 3.2f);
        t[2 * e] = cosf(a);
        t[2 * e + 1] = sinf(a);
    }
    bind_f32(c, (size_t)Hk * n * d, CMP_F32, NULL, 0);
    c->op = KVP_OP_ROPE_ROWS;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_sketch(op_case *c, rng *r, int v) {
    /* f32 rotated keys; given pre-RoPE keys (bf16) with an inner row range; f16 */
    int Hs[3] = {2, 3, 1}, ns[3] = {300, 100, 1000}, ds[3] = {64, 8, 128}, ks[3] = {48, 48, 20};
    int rows[3] = {300, 117, 1000}, r0s[3] = {0, 9, 0};
    kvp_p_sketch p = {.H = Hs[v], .n = ns[v], .d = ds[v], .k = ks[v], .x_dtype = dts[v],
                      .x_rows = rows[v], .r0 = r0s[v]};
    size_t nx = (size_t)p.H * p.x_rows * p.d;
    float *xs = malloc(nx * sizeof(float));
    fill_normal(r, xs, nx, 1.0f);
    for (size_t e = 0; e < nx; e += 3) xs[e] += 2.0f; /* a mean to remove */
    bind_typed(c, xs, nx, p.x_dtype, CMP_NONE);
    free(xs);
    bind_f32(c, (size_t)p.H * p.d * p.k, CMP_NONE, r, 1.0f / sqrtf((float)p.k));
    bind_f32(c, (size_t)p.H * p.n * p.k, CMP_F32, NULL, 0);
    c->op = KVP_OP_SKETCH;
    SET_PARAMS(c, p);
}

static void b_chunk_colsum(op_case *c, rng *r, int v) {
    /* padded last chunk (kvpress's quirks and masked), no padding, one padded chunk */
    int ds[4] = {32, 64, 16, 8}, ns[4] = {300, 256, 300, 100}, Cs[4] = {64, 64, 256, 256};
    int Hq = 8, Hk = v == 2 ? 8 : 2, d = ds[v], n = ns[v], len[16];
    uniform_len(len, Hk, n);
    layer_desc L;
    make_layer(&L, r, Hk, d, dts[v % 3], len);
    int stride = n + (v == 1 ? 5 : 0);
    kvp_p_chunk_colsum p = {.Hq = Hq, .Hk = Hk, .d = d, .n = n, .C = Cs[v], .q_stride = stride,
                            .k_dtype = L.dt, .kvpress_pad = v != 2,
                            .scale = v == 2 ? 1.0f / sqrtf((float)d) : 0.25f};
    bind_f32(c, (size_t)Hq * stride * d, CMP_NONE, r, 1.0f);
    bind_rows(c, L.k, &L, CMP_NONE);
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    bind_f32(c, (size_t)Hq * n, CMP_F32, NULL, 0);
    c->op = KVP_OP_CHUNK_COLSUM;
    c->tol = 1e-8;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_zscore(op_case *c, rng *r, int v) {
    int Hs[3] = {4, 2, 1}, ms[3] = {300, 1000, 1};
    kvp_p_zscore p = {.H = Hs[v], .m = ms[v], .n_out = ms[v] + 12, .off = v == 1 ? 0 : 8,
                      .accumulate = v == 1, .scale = v == 1 ? 0.35f : 1.0f};
    int x = bind_f32(c, (size_t)p.H * p.m, CMP_NONE, r, 3.0f);
    ((float *)c->b[x].host)[0] += 5.0f;
    bind_f32(c, (size_t)p.H * p.n_out, CMP_F32, r, 1.0f); /* columns outside must stay */
    c->op = KVP_OP_ZSCORE;
    SET_PARAMS(c, p);
}

static void b_score_pad_add(op_case *c, rng *r, int v) {
    int lo[2] = {8, 0}, hi[2] = {773, 700};
    kvp_p_score_pad_add p = {.H = 4, .n = 777, .lo = lo[v], .hi = hi[v], .add = v ? 1.5f : 0.0f};
    bind_f32(c, (size_t)p.H * p.n, CMP_EXACT, r, 1.0f);
    c->op = KVP_OP_SCORE_PAD_ADD;
    SET_PARAMS(c, p);
}

static void b_linear(op_case *c, rng *r, int v) {
    int rows[3] = {50, 300, 129}, ins[3] = {48, 64, 100}, outs[3] = {16, 8, 33};
    int xdt[3] = {KVP_DT_F32, KVP_DT_BF16, KVP_DT_F16}, wdt[3] = {KVP_DT_F32, KVP_DT_BF16, KVP_DT_F32};
    kvp_p_linear p = {.rows = rows[v], .n_in = ins[v], .n_out = outs[v], .x_dtype = xdt[v],
                      .w_dtype = wdt[v], .has_bias = v != 1, .act = v == 0 ? KVP_ACT_GELU : KVP_ACT_NONE,
                      .out_t = v != 0};
    float *x = malloc(sizeof(float) * (size_t)p.rows * p.n_in);
    fill_normal(r, x, (size_t)p.rows * p.n_in, 1.0f);
    bind_typed(c, x, (size_t)p.rows * p.n_in, p.x_dtype, CMP_NONE);
    free(x);
    float *w = malloc(sizeof(float) * (size_t)p.n_out * p.n_in);
    fill_normal(r, w, (size_t)p.n_out * p.n_in, 1.0f / sqrtf((float)p.n_in));
    bind_typed(c, w, (size_t)p.n_out * p.n_in, p.w_dtype, CMP_NONE);
    free(w);
    bind_f32(c, (size_t)p.n_out, CMP_NONE, r, 0.5f);
    bind_f32(c, (size_t)p.rows * p.n_out, CMP_F32, NULL, 0);
    c->op = KVP_OP_LINEAR;
    SET_PARAMS(c, p);
}

static void b_channel_mean(op_case *c, rng *r, int v) {
    int ds[3] = {64, 128, 8}, len[16], nh = 4, n = v == 1 ? 32 : 300;
    kvp_p_channel_mean p = {.H = nh, .n = n, .d = ds[v], .dtype = v == 1 ? KVP_DT_F32 : dts[(v + 2) % 3],
                             .square = v != 2};
    if (v != 1) {
        for (int j = 0; j < nh; j++) len[j] = n + 3 * j; /* n <= every length */
        layer_desc L;
        make_layer(&L, r, nh, p.d, p.dtype, len);
        bind_rows(c, L.k, &L, CMP_NONE);
        bind_i32(c, L.meta, (size_t)2 * nh, CMP_NONE);
        free(L.k), free(L.v), free(L.pos);
    } else { /* the window queries, dense */
        bind_f32(c, (size_t)nh * n * p.d, CMP_NONE, r, 1.0f);
        bind_dense_meta(c, nh, n);
    }
    bind_f32(c, (size_t)nh * p.d, CMP_F32, NULL, 0);
    c->op = KVP_OP_CHANNEL_MEAN;
    SET_PARAMS(c, p);
}

static void b_channel_zero(op_case *c, rng *r, int v) {
    int ds[3] = {8, 64, 128}, len[16], Hk = 3;
    for (int j = 0; j < Hk; j++) len[j] = 100 + 11 * j;
    layer_desc L;
    make_layer(&L, r, Hk, ds[v], dts[v], len);
    kvp_p_channel_zero p = {.H = Hk, .d = L.d, .dtype = L.dt};
    bind_rows(c, L.k, &L, CMP_EXACT); /* zeroed channels of live rows, nothing else */
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    int32_t *keep = malloc(sizeof(int32_t) * (size_t)Hk * L.d);
    for (int e = 0; e < Hk * L.d; e++) keep[e] = rng_int(r, 0, 3) != 0;
    bind_i32(c, keep, (size_t)Hk * L.d, CMP_NONE);
    free(keep);
    c->op = KVP_OP_CHANNEL_ZERO;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_pass_score(op_case *c, rng *r, int v) {
    /* variants: KVzip (group max, row max; then KVzip+ norms), KVCompose (per head, row max or
     * mean; group mean), a later chunk; dtypes of the cache and of the pass's keys */
    int Hqs[6] = {8, 8, 4, 4, 8, 2}, Hks[6] = {2, 2, 4, 2, 4, 2}, ds[6] = {16, 64, 32, 8, 128, 16};
    int ms[6] = {23, 40, 31, 64, 9, 1}, ns[6] = {120, 300, 31, 64, 70, 40};
    int Hq = Hqs[v], Hk = Hks[v], d = ds[v], m = ms[v], n = ns[v], len[16];
    uniform_len(len, Hk, n);
    layer_desc L;
    make_layer(&L, r, Hk, d, dts[v % 3], len);
    int sdt = dts[(v + 2) % 3];
    int row_mode[6] = {KVP_PASS_REDUCE_MAX, KVP_PASS_REDUCE_MAX, KVP_PASS_REDUCE_MAX,
                       KVP_PASS_REDUCE_MEAN, KVP_PASS_REDUCE_MAX, KVP_PASS_REDUCE_MEAN};
    int group[6] = {KVP_PASS_REDUCE_MAX, KVP_PASS_REDUCE_MAX, KVP_PASS_GROUP_NONE,
                    KVP_PASS_REDUCE_MEAN, KVP_PASS_REDUCE_MAX, KVP_PASS_GROUP_NONE};
    int s0[6] = {4, 150, 0, 0, 20, 4}, e0[6] = {90, 300, 31, 64, 30, 40}, sink[6] = {4, 4, 0, 0, 4, 4};
    kvp_p_pass_score p = {.Hq = Hq, .Hk = Hk, .d = d, .m = m, .n_sink = sink[v], .s = s0[v],
                          .e = e0[v], .k_dtype = L.dt, .s_dtype = sdt, .row_mode = row_mode[v],
                          .group_mode = group[v], .has_row_norm = v == 1 || v == 4,
                          .has_col_scale = v == 1 || v == 4, .ccol_stride = n + 3,
                          .out_stride = n + 5, .scale = 1.0f / sqrtf((float)d)};
    bind_f32(c, (size_t)Hq * m * d, CMP_NONE, r, 1.0f);
    bind_rows(c, L.k, &L, CMP_NONE);
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    float *ks = malloc(sizeof(float) * (size_t)Hk * m * d);
    fill_normal(r, ks, (size_t)Hk * m * d, 1.0f);
    bind_typed(c, ks, (size_t)Hk * m * d, sdt, CMP_NONE);
    free(ks);
    int rn = bind_f32(c, (size_t)m, CMP_NONE, r, 1.0f);
    for (int a = 0; a < m; a++) ((float *)c->b[rn].host)[a] = 0.5f + fabsf(((float *)c->b[rn].host)[a]);
    int cc = bind_f32(c, (size_t)Hq * p.ccol_stride, CMP_NONE, r, 1.0f);
    for (int i = 0; i < Hq * p.ccol_stride; i++) ((float *)c->b[cc].host)[i] = fabsf(((float *)c->b[cc].host)[i]);
    /* the output starts with values that must survive outside the chunk columns */
    bind_f32(c, (size_t)(p.group_mode == KVP_PASS_GROUP_NONE ? Hq : Hk) * p.out_stride, CMP_F32, r, 1.0f);
    c->op = KVP_OP_PASS_SCORE;
    c->tol = 1e-8;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_wov_norm(op_case *c, rng *r, int v) {
    int len[16], Hq = 8, Hk = v == 1 ? 8 : 2, d = v == 2 ? 64 : 16, D = 40, n = 70;
    for (int j = 0; j < Hk; j++) len[j] = n + j;
    layer_desc L;
    make_layer(&L, r, Hk, d, dts[v % 3], len);
    int wdt = dts[(v + 1) % 3];
    kvp_p_wov_norm p = {.Hq = Hq, .Hk = Hk, .d = d, .D = D, .t0 = v == 0 ? 0 : 13, .t1 = n - v,
                        .v_dtype = L.dt, .wo_dtype = wdt, .out_stride = n + 2};
    bind_rows(c, L.v, &L, CMP_NONE);
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    float *w = malloc(sizeof(float) * (size_t)D * Hq * d);
    fill_normal(r, w, (size_t)D * Hq * d, 0.2f);
    bind_typed(c, w, (size_t)D * Hq * d, wdt, CMP_NONE);
    free(w);
    bind_f32(c, (size_t)Hq * p.out_stride, CMP_F32, r, 1.0f);
    c->op = KVP_OP_WOV_NORM;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_fastkvzip_gate(op_case *c, rng *r, int v) {
    int ns[3] = {50, 300, 7}, Ds[3] = {64, 96, 48}, Hks[3] = {4, 2, 8}, Gs[3] = {2, 4, 1};
    int n = ns[v], D = Ds[v], Hk = Hks[v], G = Gs[v], e = 16, S = v == 2 ? 4 : 16;
    kvp_p_fastkvzip_gate p = {.n = n, .D = D, .Hk = Hk, .G = G, .e = e, .S = S,
                              .h_dtype = dts[v % 3], .eps = 1e-6f, .inv_scale = 0.25f};
    float *h = malloc(sizeof(float) * (size_t)n * D);
    fill_normal(r, h, (size_t)n * D, 1.0f);
    bind_typed(c, h, (size_t)n * D, p.h_dtype, CMP_NONE);
    free(h);
    size_t w = (size_t)Hk * G * e * D + (size_t)Hk * G * e + (size_t)Hk * e * D + 2 * (size_t)e +
               (size_t)Hk * S * e + (size_t)Hk * G;
    bind_f32(c, w, CMP_NONE, r, 0.3f);
    bind_f32(c, (size_t)Hk * n, CMP_F32, NULL, 0);
    c->op = KVP_OP_FASTKVZIP_GATE;
    SET_PARAMS(c, p);
}

static void b_head_subset_mean(op_case *c, rng *r, int v) {
    /* variants: GQA with heads from several groups, MHA with one head, a repeated head */
    static const int32_t lists[3][4] = {{5, 0, 6, 3}, {2, 0, 0, 0}, {1, 7, 1, 4}};
    int ks[3] = {4, 1, 4};
    kvp_p_head_subset_mean p = {.Hq = 8, .Hk = v == 1 ? 8 : 4, .n = 333 + v, .k = ks[v]};
    bind_f32(c, (size_t)p.Hq * p.n, CMP_NONE, r, 1.0f);
    bind_i32(c, lists[v], (size_t)p.k, CMP_NONE);
    bind_f32(c, (size_t)p.Hk * p.n, CMP_F32, NULL, 0);
    c->op = KVP_OP_HEAD_SUBSET_MEAN;
    SET_PARAMS(c, p);
}

/* Production-sized cases, only with KVP_TEST_LARGE=1 (slow on the CPU reference). */
static void b_rerotate(op_case *c, rng *r, int v) {
    /* variants: dtypes x layouts; ragged heads with gapped positions, moved to pos0 + t */
    int ds[4] = {64, 128, 8, 32}, len[16], Hk = 3, d = ds[v % 4];
    for (int j = 0; j < Hk; j++) len[j] = 200 - 37 * j + (v == 3 ? 4000 : 0);
    layer_desc L;
    make_layer(&L, r, Hk, d, dts[v % 3], len);
    for (int i = 0; i < L.rows; i++) L.pos[i] *= 7; /* large deltas: big angles */
    kvp_p_rerotate p = {.Hk = Hk, .d = d, .n = len[0], .k_dtype = L.dt, .rope_layout = v % 2,
                        .pos0 = v == 2 ? 100 : 0};
    int kb = bind_rows(c, L.k, &L, CMP_LIVE_ROWS);
    c->meta = bind_i32(c, L.meta, (size_t)2 * Hk, CMP_EXACT);
    int pb = bind_i32(c, L.pos, (size_t)L.rows, CMP_LIVE_ROWS);
    c->b[pb].row_bytes = sizeof(int32_t);
    float *freq = malloc(sizeof(float) * (size_t)(d / 2));
    for (int f = 0; f < d / 2; f++) freq[f] = 1.0f / powf(v == 1 ? 500000.0f : 10000.0f, (float)(2 * f) / (float)d);
    bind_host(c, freq, sizeof(float) * (size_t)(d / 2), CMP_NONE);
    /* keys compare as floats: GPU cos/sin may differ from the reference's in the last ulp */
    c->b[kb].cmp = CMP_LIVE_NMSE;
    c->b[kb].dt = L.dt;
    c->hk = Hk;
    c->op = KVP_OP_REROTATE;
    c->tol = 1e-10;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_topk_rows(op_case *c, rng *r, int v) {
    /* variants: small/large rows, coarse scores (ties), infinities, k from 0 to n */
    int rows[4] = {4, 3, 8, 2}, n[4] = {300, 5000, 257, 70000};
    kvp_p_topk_rows p = {.H = rows[v], .n = n[v]};
    int sb = bind_f32(c, (size_t)p.H * p.n, CMP_NONE, NULL, 0);
    float *x = c->b[sb].host;
    for (int i = 0; i < p.H * p.n; i++)
        x[i] = (v % 2) ? floorf(rng_uniform(r, 0.0f, 8.0f)) : rng_normal(r);
    if (v == 2)
        for (int i = 0; i < p.H * p.n; i += 5) x[i] = (i % 2) ? INFINITY : 3.4028235e38f;
    int32_t k[8];
    for (int h = 0; h < p.H; h++) k[h] = h == 0 ? 0 : h == 1 ? p.n : rng_int(r, 1, p.n - 1);
    bind_i32(c, k, (size_t)p.H, CMP_NONE);
    bind_i32(c, NULL, (size_t)p.H * p.n, CMP_EXACT);
    c->op = KVP_OP_TOPK_ROWS;
    SET_PARAMS(c, p);
}

static void b_mask_count(op_case *c, rng *r, int v) {
    kvp_p_mask_count p = {.H = v ? 8 : 3, .n = v ? 40000 : 77};
    int32_t *m = malloc(sizeof(int32_t) * (size_t)p.H * p.n);
    for (int i = 0; i < p.H * p.n; i++) m[i] = rng_int(r, 0, 2) == 0 ? 0 : rng_int(r, 1, 5);
    bind_i32(c, m, (size_t)p.H * p.n, CMP_NONE);
    free(m);
    bind_i32(c, NULL, (size_t)p.H, CMP_EXACT);
    c->op = KVP_OP_MASK_COUNT;
    SET_PARAMS(c, p);
}

static void b_threshold_mask(op_case *c, rng *r, int v) {
    /* prefill (offsets 0, e = n - window) and decode steps (per-head offsets into a ragged layer) */
    int Hk = 4, m = v == 0 ? 500 : 130, n = v == 0 ? 500 : 700;
    kvp_p_threshold_mask p = {.H = Hk, .m = m, .n = n, .e = v == 0 ? 372 : v == 1 ? 2 : 0,
                              .threshold = v == 0 ? 0.1f : -0.5f};
    int sb = bind_f32(c, (size_t)Hk * m, CMP_NONE, r, 1.0f);
    ((float *)c->b[sb].host)[3] = NAN; /* a NaN score is below any threshold */
    int32_t off[4];
    for (int h = 0; h < Hk; h++) off[h] = v == 0 ? 0 : 700 - m - 17 * h;
    bind_i32(c, off, (size_t)Hk, CMP_NONE);
    bind_i32(c, NULL, (size_t)Hk * n, CMP_EXACT);
    c->op = KVP_OP_THRESHOLD_MASK;
    SET_PARAMS(c, p);
}

static void b_merge_match(op_case *c, rng *r, int v) {
    /* variants: dtypes and head dims; a head that keeps nothing; a near-zero key (norm clamp) */
    int ds[3] = {64, 128, 8}, len[16], Hk = 3, d = ds[v % 3], n = v == 1 ? 700 : 257;
    uniform_len(len, Hk, n);
    layer_desc L;
    make_layer(&L, r, Hk, d, dts[v % 3], len);
    for (int c2 = 0; c2 < d; c2++) L.k[(size_t)L.meta[2] * d + c2] = 1e-9f;
    kvp_p_merge_match p = {.Hk = Hk, .d = d, .n = n, .k_dtype = L.dt};
    bind_rows(c, L.k, &L, CMP_NONE);
    bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    int32_t *keep = malloc(sizeof(int32_t) * (size_t)Hk * n);
    for (int i = 0; i < Hk * n; i++) keep[i] = (v == 2 && i < n) ? 0 : rng_int(r, 0, 2) == 0;
    bind_i32(c, keep, (size_t)Hk * n, CMP_NONE);
    free(keep);
    bind_f32(c, (size_t)Hk * n, CMP_F32, NULL, 0);
    bind_i32(c, NULL, (size_t)Hk * n, CMP_EXACT);
    c->op = KVP_OP_MERGE_MATCH;
    c->tol = 1e-10;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_merge_values(op_case *c, rng *r, int v) {
    /* a match from random data: targets are kept entries, several evicted per target; gates
     * none / a value / NaN per head */
    int ds[3] = {64, 128, 16}, len[16], Hk = 3, d = ds[v % 3], n = v == 1 ? 1000 : 300;
    uniform_len(len, Hk, n);
    layer_desc L;
    make_layer(&L, r, Hk, d, dts[v % 3], len);
    kvp_p_merge_values p = {.Hk = Hk, .d = d, .n = n, .v_dtype = L.dt, .threshold = v == 2 ? 0.2f : 0.0f};
    int vb = bind_rows(c, L.v, &L, CMP_LIVE_NMSE);
    c->b[vb].dt = L.dt;
    c->meta = bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    float *sim = malloc(sizeof(float) * (size_t)Hk * n);
    int32_t *target = malloc(sizeof(int32_t) * (size_t)Hk * n);
    for (int j = 0; j < Hk; j++)
        for (int t = 0; t < n; t++) {
            int kept = t % 4 == 0;
            sim[j * n + t] = kept ? 0.0f : rng_uniform(r, -0.3f, 1.0f);
            target[j * n + t] = kept ? -1 : 4 * rng_int(r, 0, (n - 1) / 4);
        }
    bind_host(c, sim, sizeof(float) * (size_t)Hk * n, CMP_NONE);
    bind_i32(c, target, (size_t)Hk * n, CMP_NONE);
    free(target);
    float gate[3] = {-INFINITY, 0.4f, v == 0 ? NAN : -INFINITY};
    int gb = bind_f32(c, 3, CMP_NONE, NULL, 0);
    memcpy(c->b[gb].host, gate, sizeof gate);
    c->hk = Hk;
    c->op = KVP_OP_MERGE_VALUES;
    c->tol = 1e-10;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_merge_add(op_case *c, rng *r, int v) {
    /* cascades: several sources per destination, a source that is also a destination */
    int ds[3] = {64, 8, 128}, len[16], Hk = 4, d = ds[v % 3], count = v == 1 ? 2000 : 60;
    for (int j = 0; j < Hk; j++) len[j] = 500 - 20 * j;
    layer_desc L;
    make_layer(&L, r, Hk, d, dts[v % 3], len);
    kvp_p_merge_add p = {.Hk = Hk, .d = d, .count = count, .v_dtype = L.dt};
    int vb = bind_rows(c, L.v, &L, CMP_LIVE_NMSE);
    c->b[vb].dt = L.dt;
    c->meta = bind_i32(c, L.meta, (size_t)2 * Hk, CMP_NONE);
    int32_t *pairs = malloc(sizeof(int32_t) * 2 * (size_t)count);
    for (int i = 0; i < count; i++) {
        pairs[2 * i] = rng_int(r, 0, 439);
        pairs[2 * i + 1] = i == 5 ? pairs[0] : rng_int(r, 0, 439);
    }
    bind_i32(c, pairs, (size_t)2 * count, CMP_NONE);
    free(pairs);
    bind_f32(c, (size_t)Hk * count, CMP_NONE, r, 0.3f);
    c->hk = Hk;
    c->op = KVP_OP_MERGE_ADD;
    c->tol = 1e-10;
    SET_PARAMS(c, p);
    free(L.k), free(L.v), free(L.pos);
}

static void b_accum_rows(op_case *c, rng *r, int v) {
    kvp_p_accum_rows p = {.H = 4, .n = v ? 5000 : 300, .stride = v ? 5100 : 300, .n_prev = v ? 4990 : 0};
    bind_f32(c, (size_t)p.H * p.n, CMP_NONE, r, 1.0f);
    bind_f32(c, (size_t)p.H * p.stride, CMP_F32, r, 1.0f);
    c->op = KVP_OP_ACCUM_ROWS;
    SET_PARAMS(c, p);
}

static void b_large(op_case *c, rng *r, int v) {
    if (v <= 1) { /* top-k over 8 x 131072 scores, per row and global (a million entries) */
        kvp_p_topk p = {.H = 8, .n = 131072, .global_mode = v};
        p.k = v ? p.H * p.n / 2 + 7 : p.n / 3;
        int s = bind_f32(c, (size_t)p.H * p.n, CMP_NONE, NULL, 0);
        float *x = c->b[s].host;
        for (int i = 0; i < p.H * p.n; i++) x[i] = (float)rng_int(r, -5000, 5000) / 64.0f;
        bind_i32(c, NULL, (size_t)p.H * p.n, CMP_EXACT);
        c->op = KVP_OP_TOPK;
        SET_PARAMS(c, p);
    } else if (v == 2) { /* decode over 65536 tokens, a GQA group of 4, f16 */
        int len[2] = {65536, 64536};
        layer_desc L;
        make_layer(&L, r, 2, 128, KVP_DT_F16, len);
        kvp_p_attention p = {.Hq = 8, .Hk = 2, .d = 128, .m = 1, .q_pos0 = L.max_pos,
                             .q_dtype = KVP_DT_F32, .kv_dtype = L.dt, .scale = 1.0f / sqrtf(128.0f)};
        bind_f32(c, 8 * 128, CMP_NONE, r, 1.0f);
        bind_rows(c, L.k, &L, CMP_NONE);
        bind_rows(c, L.v, &L, CMP_NONE);
        bind_i32(c, L.meta, 4, CMP_NONE);
        bind_i32(c, L.pos, (size_t)L.rows, CMP_NONE);
        bind_f32(c, 8 * 128, CMP_F32, NULL, 0);
        c->op = KVP_OP_ATTENTION;
        c->tol = 1e-8;
        c->atol = 1e-4f;
        SET_PARAMS(c, p);
        free(L.k), free(L.v), free(L.pos);
    } else if (v == 3) { /* query statistics of 16384 rows, d = 128 */
        kvp_p_qstats p = {.H = 2, .m = 16384, .d = 128, .dtype = KVP_DT_BF16, .r0 = 4, .n_prev = 0};
        size_t qn = (size_t)p.H * p.m * p.d;
        float *q = malloc(qn * sizeof(float));
        fill_normal(r, q, qn, 1.0f);
        for (size_t i = 0; i < qn; i++) q[i] += 0.5f;
        bind_typed(c, q, qn, p.dtype, CMP_NONE);
        free(q);
        bind_f32(c, 2 * 128, CMP_F32, NULL, 0);
        bind_f32(c, 2 * 128 * 128, CMP_F32, NULL, 0);
        c->op = KVP_OP_QSTATS;
        c->rtol = 1e-3f;
        c->atol = 1e-4f;
        SET_PARAMS(c, p);
    } else if (v == 4) { /* compaction of 8 heads x 32768 tokens, d = 128, bf16 */
        int len[8];
        for (int j = 0; j < 8; j++) len[j] = 32768 - 37 * j;
        layer_desc L;
        make_layer(&L, r, 8, 128, KVP_DT_BF16, len);
        kvp_p_compact p = {.Hk = 8, .d = 128, .n = 32768, .kv_dtype = L.dt};
        bind_rows(c, L.k, &L, CMP_LIVE_ROWS);
        bind_rows(c, L.v, &L, CMP_LIVE_ROWS);
        int pb = bind_i32(c, L.pos, (size_t)L.rows, CMP_LIVE_ROWS);
        c->b[pb].row_bytes = sizeof(int32_t);
        c->meta = bind_i32(c, L.meta, 16, CMP_EXACT);
        int32_t *m = malloc(sizeof(int32_t) * 8 * 32768);
        for (int i = 0; i < 8 * 32768; i++) m[i] = rng_int(r, 0, 1);
        bind_i32(c, m, 8 * 32768, CMP_NONE);
        free(m);
        c->hk = 8;
        c->op = KVP_OP_COMPACT;
        SET_PARAMS(c, p);
        free(L.k), free(L.v), free(L.pos);
    } else { /* softmax over 8 rows of 131072 */
        kvp_p_softmax p = {.H = 8, .n = 131072, .t0 = 4};
        bind_f32(c, (size_t)8 * 131072, CMP_F32, r, 10.0f);
        c->op = KVP_OP_SOFTMAX;
        c->tol = 1e-8;
        SET_PARAMS(c, p);
    }
}

typedef void (*builder)(op_case *c, rng *r, int variant);

static const struct {
    const char *name;
    builder build;
    int variants;
} table[] = {
    {"rope", b_rope, 8},
    {"attn_colsum", b_attn_colsum, 7},
    {"probs_colsum", b_probs_colsum, 4},
    {"row_norm", b_row_norm, 3},
    {"qstats", b_qstats, 6},
    {"ea_rotate", b_ea_rotate, 4},
    {"ea_logits", b_ea_logits, 3},
    {"softmax", b_softmax, 3},
    {"head_reduce", b_head_reduce, 3},
    {"pool1d", b_pool1d, 3},
    {"score_map", b_score_map, 2},
    {"score_pad", b_score_pad, 3},
    {"masked_fill", b_masked_fill, 2},
    {"topk", b_topk, 8},
    {"compact", b_compact, 4},
    {"attention", b_attention, 10},
    {"proj_vnorm", b_proj_vnorm, 2},
    {"keydiff", b_keydiff, 3},
    {"lagkv", b_lagkv, 3},
    {"count_nonfinite", b_count_nonfinite, 3},
    {"truncate", b_truncate, 3},
    {"rerotate", b_rerotate, 4},
    {"topk_rows", b_topk_rows, 4},
    {"mask_count", b_mask_count, 2},
    {"threshold_mask", b_threshold_mask, 3},
    {"merge_match", b_merge_match, 3},
    {"merge_values", b_merge_values, 3},
    {"merge_add", b_merge_add, 3},
    {"accum_rows", b_accum_rows, 2},
    {"anchor_cosine", b_anchor_cosine, 3},
    {"gram", b_gram, 3},
    {"cholesky", b_cholesky, 3},
    {"chol_quadform", b_chol_quadform, 3},
    {"cur_score", b_cur_score, 4},
    {"rope_rows", b_rope_rows, 3},
    {"sketch", b_sketch, 3},
    {"chunk_colsum", b_chunk_colsum, 4},
    {"zscore", b_zscore, 3},
    {"score_pad_add", b_score_pad_add, 2},
    {"linear", b_linear, 3},
    {"channel_mean", b_channel_mean, 3},
    {"channel_zero", b_channel_zero, 3},
    {"pass_score", b_pass_score, 6},
    {"wov_norm", b_wov_norm, 3},
    {"fastkvzip_gate", b_fastkvzip_gate, 3},
    {"head_subset_mean", b_head_subset_mean, 3},
    {"large", b_large, 6}, /* only with KVP_TEST_LARGE=1 */
};

#define N_BUILDERS ((int)(sizeof table / sizeof table[0]))

static int case_count(void) {
    int n = 0;
    for (int i = 0; i < N_BUILDERS; i++) n += table[i].variants;
    return n;
}

static void case_at(int index, int *builder_index, int *variant) {
    for (int i = 0; i < N_BUILDERS; i++) {
        if (index < table[i].variants) {
            *builder_index = i;
            *variant = index;
            return;
        }
        index -= table[i].variants;
    }
}

/* Runs the case on ctx; returns the downloaded bindings (offset, range and guard). */
static unsigned char **run_on(kvp_context *ctx, const op_case *c, const char *label) {
    kvp_buffer *bufs[KVP_MAX_BINDINGS] = {0};
    kvp_binding binds[KVP_MAX_BINDINGS];
    unsigned char **out = calloc(KVP_MAX_BINDINGS, sizeof *out);
    for (int i = 0; i < c->nb; i++) {
        const tbind *b = &c->b[i];
        if (b->alias >= 0) {
            binds[i] = binds[b->alias];
            continue;
        }
        size_t total = b->offset + b->bytes + GUARD;
        unsigned char *img = malloc(total);
        memset(img, GUARD_BYTE, total);
        memcpy(img + b->offset, b->host, b->bytes);
        ck_assert_int_eq(kvp_buffer_alloc(ctx, total, &bufs[i]), KVP_OK);
        ck_assert_int_eq(kvp_buffer_upload(ctx, bufs[i], 0, img, total), KVP_OK);
        binds[i] = (kvp_binding){bufs[i], b->offset};
        out[i] = img;
    }
    kvp_status st = kvp__run(ctx, c->op, c->params, c->nb, binds);
    ck_assert_msg(st == KVP_OK, "%s: %s: %s", label, kvp_status_name(st), kvp_context_last_error(ctx));
    ck_assert_int_eq(kvp_context_synchronize(ctx), KVP_OK);
    for (int i = 0; i < c->nb; i++) {
        if (!bufs[i]) continue;
        ck_assert_int_eq(kvp_buffer_download(ctx, bufs[i], 0, out[i],
                                             c->b[i].offset + c->b[i].bytes + GUARD),
                         KVP_OK);
        kvp_buffer_free(bufs[i]);
    }
    return out;
}

static void check_guards(const unsigned char *img, const tbind *b, const char *label, int i) {
    for (size_t g = 0; g < b->offset; g++)
        ck_assert_msg(img[g] == GUARD_BYTE, "%s: binding %d written before its start", label, i);
    for (size_t g = 0; g < GUARD; g++)
        ck_assert_msg(img[b->offset + b->bytes + g] == GUARD_BYTE,
                      "%s: binding %d written past its end", label, i);
}

static void compare_f32(const op_case *c, const float *a, const float *b, size_t n,
                        const char *label, int i) {
    double e = nmse(a, b, n);
    ck_assert_msg(e <= c->tol, "%s: binding %d: NMSE %.3g > %.3g", label, i, e, c->tol);
    float mx = 0;
    for (size_t k = 0; k < n; k++) mx = fmaxf(mx, fabsf(b[k]));
    for (size_t k = 0; k < n; k++) {
        if (isnan(a[k]) && isnan(b[k])) continue;
        float tol = c->rtol * fabsf(b[k]) + c->atol * mx;
        ck_assert_msg(a[k] == b[k] || fabsf(a[k] - b[k]) <= tol,
                      "%s: binding %d element %zu: %.9g, cpu %.9g (tolerance %.3g)", label, i, k,
                      (double)a[k], (double)b[k], (double)tol);
    }
}

START_TEST(test_op_case) {
    int bi = 0, v = 0;
    case_at(_i, &bi, &v);
    char label[96];
    snprintf(label, sizeof label, "%s/%d on %s", table[bi].name, v, H.backend);
    const char *filter = getenv("KVP_TEST_FILTER");
    if (filter && *filter && !strstr(label, filter)) return;
    const char *large = getenv("KVP_TEST_LARGE");
    if (table[bi].build == b_large && !(large && atoi(large))) return;
    op_case c;
    memset(&c, 0, sizeof c);
    c.tol = 1e-9;
    c.rtol = 2e-4f;
    c.atol = 1e-5f;
    c.meta = -1;
    rng r = rng_for(table[bi].name, v);
    table[bi].build(&c, &r, v);
    unsigned char **dev = run_on(H.ctx, &c, label);
    unsigned char **ref = run_on(H.ref, &c, label);
    const int32_t *meta =
        c.meta >= 0 ? (const int32_t *)(ref[c.meta] + c.b[c.meta].offset) : NULL;
    for (int i = 0; i < c.nb; i++) {
        const tbind *b = &c.b[i];
        if (b->alias >= 0) continue; /* compared through the binding it aliases */
        check_guards(dev[i], b, label, i);
        const unsigned char *x = dev[i] + b->offset, *y = ref[i] + b->offset;
        switch (b->cmp) {
        case CMP_NONE:
            ck_assert_msg(!memcmp(x, b->host, b->bytes), "%s: binding %d (an input) changed",
                          label, i);
            break;
        case CMP_UNSPECIFIED:
            break;
        case CMP_F32:
            compare_f32(&c, (const float *)x, (const float *)y, b->bytes / sizeof(float), label, i);
            break;
        case CMP_EXACT:
            if (memcmp(x, y, b->bytes)) {
                size_t k = 0;
                while (k + 4 <= b->bytes && !memcmp(x + k, y + k, 4)) k += 4;
                ck_abort_msg("%s: binding %d differs first at 32-bit word %zu (%d vs %d)", label, i,
                             k / 4, ((const int32_t *)x)[k / 4], ((const int32_t *)y)[k / 4]);
            }
            break;
        case CMP_LIVE_NMSE: {
            size_t es = kvp_dtype_size((kvp_dtype)b->dt), per_row = b->row_bytes / es, m = 0;
            for (int j = 0; j < c.hk; j++) m += (size_t)meta[2 * j + 1] * per_row;
            float *u = malloc((m ? m : 1) * sizeof(float)), *w = malloc((m ? m : 1) * sizeof(float));
            size_t k = 0;
            for (int j = 0; j < c.hk; j++)
                for (size_t e = 0; e < (size_t)meta[2 * j + 1] * per_row; e++, k++) {
                    size_t at = (size_t)meta[2 * j] * per_row + e;
                    u[k] = kvp__load((kvp_dtype)b->dt, x, at);
                    w[k] = kvp__load((kvp_dtype)b->dt, y, at);
                }
            double e = nmse(u, w, m);
            ck_assert_msg(e <= c.tol, "%s: binding %d live rows: NMSE %.3g > %.3g", label, i, e, c.tol);
            free(u);
            free(w);
            break;
        }
        case CMP_LIVE_ROWS:
            for (int j = 0; j < c.hk; j++) {
                size_t off = (size_t)meta[2 * j] * b->row_bytes;
                size_t len = (size_t)meta[2 * j + 1] * b->row_bytes;
                ck_assert_msg(!memcmp(x + off, y + off, len), "%s: binding %d head %d: live rows differ",
                              label, i, j);
            }
            break;
        }
    }
    for (int i = 0; i < c.nb; i++) {
        free(dev[i]);
        free(ref[i]);
        free(c.b[i].host); /* an aliased binding still owns the host copy it was built with */
    }
    free(dev);
    free(ref);
}
END_TEST

int main(void) {
    harness_init();
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("case table");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_op_case, 0, case_count());
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    harness_done();
    return rc;
}
