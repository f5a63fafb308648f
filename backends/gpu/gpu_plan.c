/*
 * The GPU plans: how each op of core/ops.def runs as kernel passes (gpu_plan.h). Plain C,
 * independent of the GPU API, shared by the OpenCL, Vulkan and CUDA backends.
 *
 * Every plan is sized from the op parameters only: the plan never reads device memory (the
 * cache lengths in `meta` are on the device), so per-head lengths are handled inside the
 * kernels and sizes that depend on them use the bound from the op contract (n >= lengths)
 * or from the size of the bound buffer.
 */
#include <string.h>

#include "gpu_plan.h"

#define WG KVP_GPU_WG

const char *const kvp_gpu_kernels[] = {
    "fill",              "copy_words",        "count_nonfinite",  "score_map",
    "masked_fill",       "rope",              "head_reduce",      "pool1d",
    "probs_colsum",      "row_norm",          "attn_colsum_stats", "attn_colsum_merge",
    "attn_colsum_accum",
    "qstats_colsum",     "qstats_mean",       "qstats_m2",        "qstats_merge_m2",
    "qstats_merge_mean", "ea_rotate",         "ea_logits",        "softmax_partial",
    "softmax_apply",     "score_pad_max",     "score_pad_apply",  "topk_init",
    "topk_hist",         "topk_digit",        "topk_tie_count",   "topk_mask",
    "topk_row",
    "compact_count",     "compact_scan",      "compact_gather",   "compact_copyback",
    "attention_tile",    "attention_decode",  "attention_combine", "proj_vnorm",
    "keydiff_invnorm",   "keydiff_colsum",    "keydiff_anchor",   "keydiff_score",
    "lagkv_fill",        "lagkv_partition",   "truncate",
    "rerotate",          "topk_rows_row",     "topk_rows_init",   "topk_rows_mask",
    "mask_count",        "threshold_mask",    "accum_rows",       "merge_invnorm",
    "merge_match",       "merge_values",      "merge_add_gather", "merge_add_apply",
    /* the ops of the scorer presses of issue 5 */
    "anchor_cosine",     "anchor_exp",        "gram_tile",        "gram_merge",
    "cholesky",          "tri_inverse",       "chol_quadform",    "cur_norms",
    "cur_window",        "cur_combine",       "rope_rows",        "sketch_colsum",
    "sketch_gemm",       "chunk_stats",       "chunk_accum",      "zscore_sum",
    "zscore_var",        "zscore_apply",      "score_pad_add_apply", "linear",
    "channel_mean_part", "channel_mean_merge", "channel_zero",
    /* presses that run the model or select across layers (issue 5) */
    "pass_score_stats",  "pass_score_cols",   "pass_score_group", "wov_norm",
    "fastkvzip_gate",
    "head_subset_mean",
};
const int kvp_gpu_kernel_count = (int)(sizeof kvp_gpu_kernels / sizeof kvp_gpu_kernels[0]);

/* Limits that the kernels' fixed-size shared arrays and register blocks impose. */
#define ATTENTION_MAX_D 256   /* attention_tile keeps a query row of d floats */
#define ATTENTION_KEY_TILE 32 /* keys per step of attention_tile */
#define DECODE_ROWS 4         /* attention_decode: at most 4 query rows per kv head */
#define DECODE_KEY_TILE 128   /* keys per step of attention_decode */
#define LAGKV_MAX_D 1024      /* lagkv_partition: per-channel ranges in shared memory */
#define TOPK_CHUNK 4096       /* entries per workgroup in the selection passes */
#define TOPK_MAX_BINS 2048    /* 11-bit digits */
#define TOPK_ROW_MAX 4096     /* topk_row: a row in shared memory */
#define SOFTMAX_CHUNK 4096
#define GRID_STRIDE_MAX 1024  /* workgroups of a grid-stride kernel: enough to fill a GPU */

typedef struct builder {
    kvp_context *ctx;
    const kvp_op_call *call;
    const kvp_gpu_caps *caps;
    kvp_gpu_plan *plan;
    int overflow; /* a plan exceeded the fixed limits of kvp_gpu_plan (a bug in this file) */
} builder;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Workgroups for a grid-stride kernel over `count` items. */
static uint32_t stride_groups(int64_t count, int64_t per_group) {
    return (uint32_t)clamp64(ceil_div(count, per_group), 1, GRID_STRIDE_MAX);
}

static int add_scratch(builder *b, size_t bytes) {
    kvp_gpu_plan *pl = b->plan;
    if (pl->n_scratch >= KVP_GPU_MAX_SCRATCH) {
        b->overflow = 1;
        return KVP_GPU_SCRATCH(0);
    }
    pl->scratch_bytes[pl->n_scratch] = bytes ? bytes : 4;
    return KVP_GPU_SCRATCH(pl->n_scratch++);
}

/* Appends a pass; `binds` lists the op binding indices or scratch sources of the kernel's
 * buffers, in the order of its wrapper. */
static void add_pass(builder *b, const char *kernel, int64_t gx, int64_t gy, int64_t gz,
                     const void *params, size_t params_size, int n, const int *binds) {
    if (b->plan->n_passes >= KVP_GPU_MAX_PASSES || n > KVP_GPU_MAX_PASS_BINDINGS ||
        params_size > KVP_GPU_MAX_PARAMS) {
        b->overflow = 1;
        return;
    }
    kvp_gpu_pass *ps = &b->plan->pass[b->plan->n_passes++];
    ps->kernel = kernel;
    ps->groups[0] = (uint32_t)gx;
    ps->groups[1] = (uint32_t)gy;
    ps->groups[2] = (uint32_t)gz;
    ps->n_bindings = n;
    for (int i = 0; i < n; i++) ps->binding[i] = binds[i];
    ps->params_size = params_size;
    memcpy(ps->params, params, params_size);
}

#define PASS(b, kernel, gx, gy, gz, params, ...)                                              \
    add_pass((b), (kernel), (gx), (gy), (gz), &(params), sizeof(params),                      \
             (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (int[]){__VA_ARGS__})

static kvp_status unsupported(builder *b, const char *what) {
    return kvp__error(b->ctx, KVP_ERR_UNSUPPORTED, "gpu plan for %s: %s",
                      kvp__op_name(b->call->op), what);
}

/* Elements addressable behind a binding (bytes from its offset to the end of the buffer). */
static size_t binding_bytes(const builder *b, int i) {
    const kvp_binding *bd = &b->call->bindings[i];
    size_t size = kvp_buffer_size(bd->buffer);
    return size > bd->offset ? size - bd->offset : 0;
}

static int dtype_bytes(int dt) { return dt == KVP_DT_F32 ? 4 : 2; }

/* ---- elementwise and row ops ------------------------------------------------------------ */

static kvp_status plan_rope(builder *b) {
    const kvp_p_rope *p = b->call->params;
    int64_t rows = (int64_t)p->m - p->r0;
    int64_t pairs = (int64_t)p->H * rows * (p->d / 2);
    if (pairs <= 0) return KVP_OK;
    /* res may alias x only when r0 = 0 (each invocation reads its pair before writing it);
     * otherwise a shifted in-place write would race with reads of later rows: write to
     * scratch and copy back. */
    const kvp_binding *x = &b->call->bindings[0], *o = &b->call->bindings[2];
    size_t x_end = x->offset + (size_t)p->H * p->m * p->d * dtype_bytes(p->dtype);
    size_t o_end = o->offset + (size_t)pairs * 2 * sizeof(float);
    int overlap = x->buffer == o->buffer && x->offset < o_end && o->offset < x_end;
    if (overlap && (p->r0 != 0 || x->offset != o->offset || p->dtype != KVP_DT_F32)) {
        int tmp = add_scratch(b, (size_t)pairs * 2 * sizeof(float));
        PASS(b, "rope", stride_groups(pairs, WG), 1, 1, *p, 0, 1, tmp);
        kvp_p_copy_words c = {.count = (int)(pairs * 2)};
        PASS(b, "copy_words", stride_groups(pairs * 2, WG), 1, 1, c, tmp, 2);
        return KVP_OK;
    }
    PASS(b, "rope", stride_groups(pairs, WG), 1, 1, *p, 0, 1, 2);
    return KVP_OK;
}

static kvp_status plan_probs_colsum(builder *b) {
    const kvp_p_probs_colsum *p = b->call->params;
    int64_t total = (int64_t)p->H * p->n;
    if (total > 0) PASS(b, "probs_colsum", stride_groups(total, WG), 1, 1, *p, 0, 1);
    return KVP_OK;
}

static kvp_status plan_row_norm(builder *b) {
    const kvp_p_row_norm *p = b->call->params;
    int64_t rows = (int64_t)p->H * p->n;
    if (rows > 0)
        PASS(b, "row_norm", stride_groups(rows, WG / KVP_ROW_TPR(p->d)), 1, 1, *p, 0, 1, 2);
    return KVP_OK;
}

static kvp_status plan_head_reduce(builder *b) {
    const kvp_p_head_reduce *p = b->call->params;
    int64_t total = (int64_t)p->Hk * p->n;
    if (total > 0) PASS(b, "head_reduce", stride_groups(total, WG), 1, 1, *p, 0, 1);
    return KVP_OK;
}

static kvp_status plan_head_subset_mean(builder *b) {
    const kvp_p_head_subset_mean *p = b->call->params;
    int64_t total = (int64_t)p->Hk * p->n;
    if (total > 0) PASS(b, "head_subset_mean", stride_groups(total, WG), 1, 1, *p, 0, 1, 2);
    return KVP_OK;
}

static kvp_status plan_pool1d(builder *b) {
    const kvp_p_pool1d *p = b->call->params;
    int64_t total = (int64_t)p->H * p->len;
    if (total > 0) PASS(b, "pool1d", stride_groups(total, WG), 1, 1, *p, 0, 1);
    return KVP_OK;
}

static kvp_status plan_score_map(builder *b) {
    const kvp_p_score_map *p = b->call->params;
    int64_t total = (int64_t)p->H * p->n;
    if (total > 0) PASS(b, "score_map", stride_groups(total, WG), 1, 1, *p, 0, 1);
    return KVP_OK;
}

static kvp_status plan_masked_fill(builder *b) {
    const kvp_p_masked_fill *p = b->call->params;
    int64_t total = (int64_t)p->H * p->n;
    if (total > 0) PASS(b, "masked_fill", stride_groups(total, WG), 1, 1, *p, 0, 1);
    return KVP_OK;
}

static kvp_status plan_count_nonfinite(builder *b) {
    const kvp_p_count_nonfinite *p = b->call->params;
    kvp_p_fill zero = {.count = 1, .value = 0};
    PASS(b, "fill", 1, 1, 1, zero, 1);
    if (p->count > 0)
        PASS(b, "count_nonfinite", stride_groups(p->count, WG), 1, 1, *p, 0, 1);
    return KVP_OK;
}

static kvp_status plan_truncate(builder *b) {
    const kvp_p_truncate *p = b->call->params;
    if (p->Hk > 0) PASS(b, "truncate", 1, p->Hk, 1, *p, 0, 1);
    return KVP_OK;
}

/* ---- reductions over rows ---------------------------------------------------------------- */

static kvp_status plan_softmax(builder *b) {
    const kvp_p_softmax *p = b->call->params;
    int64_t len = (int64_t)p->n - p->t0;
    if (len <= 0 || p->H <= 0) return KVP_OK;
    int nchunk = (int)clamp64(ceil_div(len, SOFTMAX_CHUNK), 1, WG);
    kvp_p_softmax_pass sp = {.H = p->H, .n = p->n, .t0 = p->t0, .nchunk = nchunk,
                             .chunk = (int)ceil_div(len, nchunk)};
    int part = add_scratch(b, sizeof(float) * 2 * (size_t)p->H * nchunk);
    PASS(b, "softmax_partial", nchunk, p->H, 1, sp, 0, part);
    PASS(b, "softmax_apply", nchunk, p->H, 1, sp, 0, part);
    return KVP_OK;
}

static kvp_status plan_score_pad(builder *b) {
    const kvp_p_score_pad *p = b->call->params;
    if (p->H <= 0 || p->n <= 0) return KVP_OK;
    if (p->lo >= p->hi) return unsupported(b, "requires lo < hi");
    int64_t inside = (int64_t)p->H * (p->hi - p->lo);
    int nparts = (int)clamp64(ceil_div(inside, 16 * WG), 1, WG);
    kvp_p_score_pad_pass sp = {.H = p->H, .n = p->n, .lo = p->lo, .hi = p->hi, .nparts = nparts};
    int part = add_scratch(b, sizeof(float) * (size_t)nparts);
    PASS(b, "score_pad_max", nparts, 1, 1, sp, 0, part);
    PASS(b, "score_pad_apply", stride_groups((int64_t)p->H * p->n, WG), 1, 1, sp, 0, part);
    return KVP_OK;
}

static kvp_status plan_keydiff(builder *b) {
    const kvp_p_keydiff *p = b->call->params;
    if (p->Hk <= 0 || p->n <= 0) return KVP_OK;
    int chunk = (int)clamp64(ceil_div(p->n, 64), 64, p->n);
    int nchunk = (int)ceil_div(p->n, chunk);
    kvp_p_keydiff_pass kp = {.Hk = p->Hk, .d = p->d, .n = p->n, .k_dtype = p->k_dtype,
                             .nchunk = nchunk, .chunk = chunk};
    int64_t rows = (int64_t)p->Hk * p->n;
    int invn = add_scratch(b, sizeof(float) * (size_t)rows);
    int part = add_scratch(b, sizeof(float) * (size_t)p->Hk * nchunk * p->d);
    int anchor = add_scratch(b, sizeof(float) * (size_t)p->Hk * (p->d + 1));
    uint32_t row_groups = stride_groups(rows, WG / KVP_ROW_TPR(p->d));
    PASS(b, "keydiff_invnorm", row_groups, 1, 1, kp, 0, 1, invn);
    PASS(b, "keydiff_colsum", nchunk, p->Hk, 1, kp, 0, 1, invn, part);
    PASS(b, "keydiff_anchor", 1, p->Hk, 1, kp, part, anchor);
    PASS(b, "keydiff_score", row_groups, 1, 1, kp, 0, 1, anchor, 2);
    return KVP_OK;
}

static kvp_status plan_lagkv(builder *b) {
    const kvp_p_lagkv *p = b->call->params;
    if (p->Hk <= 0 || p->n <= 0) return KVP_OK;
    if (p->lag <= 0) return unsupported(b, "lag must be positive");
    PASS(b, "lagkv_fill", stride_groups((int64_t)p->Hk * p->n, WG), 1, 1, *p, 3);
    if (p->n < p->n_sink + 2 * p->lag) return KVP_OK;
    int parts = (p->n - p->n_sink) / p->lag - 1; /* the last full partition has no reference */
    if (parts <= 0) return KVP_OK;
    if (p->d > LAGKV_MAX_D) return unsupported(b, "head_dim above 1024");
    int tmp = add_scratch(b, sizeof(float) * (size_t)p->Hk * p->n);
    PASS(b, "lagkv_partition", parts, p->Hk, 1, *p, 0, 1, 2, 3, tmp);
    return KVP_OK;
}

/* ---- query statistics and Expected Attention --------------------------------------------- */

static kvp_status plan_qstats(builder *b) {
    const kvp_p_qstats *p = b->call->params;
    int64_t rows = (int64_t)p->m - p->r0;
    if (rows <= 0 || p->H <= 0) return KVP_OK;
    int chunk = (int)clamp64(ceil_div(rows, 256), 64, rows);
    int split = (int)clamp64(ceil_div(rows, 16), 256, rows);
    int T = (p->d + 63) / 64;
    kvp_p_qstats_pass qp = {.H = p->H, .m = p->m, .d = p->d, .dtype = p->dtype, .r0 = p->r0,
                            .n_prev = p->n_prev, .nchunk = (int)ceil_div(rows, chunk),
                            .chunk = chunk, .nsplit = (int)ceil_div(rows, split),
                            .split = split, .tiles = T * (T + 1) / 2};
    size_t hd = (size_t)p->H * p->d;
    int part = add_scratch(b, sizeof(float) * hd * qp.nchunk);
    int mub = add_scratch(b, sizeof(float) * hd);
    int m2part = add_scratch(b, sizeof(float) * hd * p->d * qp.nsplit);
    PASS(b, "qstats_colsum", qp.nchunk, p->H, 1, qp, 0, part);
    PASS(b, "qstats_mean", stride_groups((int64_t)hd, WG), 1, 1, qp, part, mub);
    PASS(b, "qstats_m2", qp.tiles, p->H, qp.nsplit, qp, 0, mub, m2part);
    PASS(b, "qstats_merge_m2", stride_groups((int64_t)hd * p->d, WG), 1, 1, qp, 1, mub, m2part, 2);
    PASS(b, "qstats_merge_mean", stride_groups((int64_t)hd, WG), 1, 1, qp, 1, mub);
    return KVP_OK;
}

static kvp_status plan_ea_rotate(builder *b) {
    const kvp_p_ea_rotate *p = b->call->params;
    int64_t total = (int64_t)p->H * p->d * (p->use_cov ? p->d : 1);
    if (total > 0) PASS(b, "ea_rotate", stride_groups(total, WG), 1, 1, *p, 0, 1, 2, 3, 4);
    return KVP_OK;
}

static kvp_status plan_ea_logits(builder *b) {
    const kvp_p_ea_logits *p = b->call->params;
    if (p->n > 0 && p->Hq > 0) PASS(b, "ea_logits", ceil_div(p->n, 64), p->Hq, 1, *p, 0, 1, 2, 3, 4);
    return KVP_OK;
}

/* ---- attention --------------------------------------------------------------------------- */

/* About four workgroups per compute unit: the split count of the split-K passes. */
static int64_t split_for(const builder *b, int64_t groups, int64_t max_splits) {
    int64_t cu = b->caps->compute_units > 0 ? b->caps->compute_units : 16;
    if (groups >= 2 * cu) return 1;
    return clamp64(clamp64(ceil_div(4 * cu, groups), 1, 64), 1, clamp64(max_splits, 1, 64));
}

static kvp_status plan_attn_colsum(builder *b) {
    const kvp_p_attn_colsum *p = b->call->params;
    if (p->n <= 0 || p->Hq <= 0) return KVP_OK;
    if (p->w <= 0) return unsupported(b, "an empty window");
    int64_t rows = (int64_t)(p->Hq / p->Hk) * p->w;
    int64_t row_tiles = ceil_div(rows, 64), key_tiles = ceil_div(p->n, 64);
    int64_t nsplit = split_for(b, row_tiles * p->Hk, key_tiles);
    kvp_p_attn_colsum_pass cp = {.Hq = p->Hq, .Hk = p->Hk, .d = p->d, .w = p->w, .n = p->n,
                                 .q_pos0 = p->q_pos0, .k_dtype = p->k_dtype,
                                 .mean_mode = p->mean_mode, .scale = p->scale,
                                 .nsplit = (int)nsplit, .rows = (int)rows};
    int stats = add_scratch(b, sizeof(float) * 2 * (size_t)p->Hq * p->w);
    if (nsplit == 1) {
        PASS(b, "attn_colsum_stats", 1, p->Hk, row_tiles, cp, 0, 1, 2, 3, stats);
    } else {
        int part = add_scratch(b, sizeof(float) * 2 * (size_t)p->Hq * p->w * nsplit);
        PASS(b, "attn_colsum_stats", nsplit, p->Hk, row_tiles, cp, 0, 1, 2, 3, part);
        PASS(b, "attn_colsum_merge", stride_groups((int64_t)p->Hq * p->w, WG), 1, 1, cp, part,
             stats);
    }
    PASS(b, "attn_colsum_accum", key_tiles, p->Hk, 1, cp, 0, 1, 2, 3, stats, 4);
    return KVP_OK;
}

static kvp_status plan_attention(builder *b) {
    const kvp_p_attention *p = b->call->params;
    if (p->m <= 0 || p->Hq <= 0) return KVP_OK;
    if (p->d > ATTENTION_MAX_D) return unsupported(b, "head_dim above 256");
    int64_t rows = (int64_t)(p->Hq / p->Hk) * p->m;
    /* Decoding (at most 4 query rows per kv head) has its own kernel: attention_tile packs
     * rows 16 at a time and would leave most of a tile idle. */
    int decode = rows <= DECODE_ROWS;
    const char *kernel = decode ? "attention_decode" : "attention_tile";
    int64_t row_tiles = decode ? 1 : ceil_div(rows, 16);
    /* Split-K when the row tiles alone cannot fill the device (decoding, short prefill
     * chunks). The head lengths are on the device; the rows of the key buffer bound them, so
     * there are never more splits than key tiles can exist, and splits take interleaved
     * tiles, so the work stays balanced whatever the real lengths are. */
    int64_t max_rows = (int64_t)(binding_bytes(b, 1) / ((size_t)p->d * dtype_bytes(p->kv_dtype)));
    int64_t key_tile = decode ? DECODE_KEY_TILE : ATTENTION_KEY_TILE;
    int64_t nsplit = split_for(b, row_tiles * p->Hk, ceil_div(max_rows, key_tile));
    kvp_p_attention_split sp = {.Hq = p->Hq, .Hk = p->Hk, .d = p->d, .m = p->m,
                                .q_pos0 = p->q_pos0, .q_dtype = p->q_dtype,
                                .kv_dtype = p->kv_dtype, .scale = p->scale,
                                .nsplit = (int)nsplit, .rows = (int)rows};
    if (nsplit == 1) {
        PASS(b, kernel, row_tiles, p->Hk, 1, sp, 0, 1, 2, 3, 4, 5);
        return KVP_OK;
    }
    int part = add_scratch(b, sizeof(float) * (size_t)p->Hq * p->m * nsplit * (p->d + 2));
    PASS(b, kernel, row_tiles, p->Hk, nsplit, sp, 0, 1, 2, 3, 4, part);
    PASS(b, "attention_combine", clamp64((int64_t)p->Hq * p->m, 1, GRID_STRIDE_MAX), 1, 1, sp,
         part, 5);
    return KVP_OK;
}

static kvp_status plan_proj_vnorm(builder *b) {
    const kvp_p_proj_vnorm *p = b->call->params;
    if (p->n > 0 && p->Hk > 0) PASS(b, "proj_vnorm", ceil_div(p->n, 64), p->Hk, 1, *p, 0, 1, 2, 3);
    return KVP_OK;
}

/* ---- extra forward passes and learned gates (issue 5) ----------------------------------- */

#define PASS_SCORE_MAX_D 256 /* pass_score_*: a query row (or 16) in shared memory */

static kvp_status plan_pass_score(builder *b) {
    const kvp_p_pass_score *p = b->call->params;
    int64_t ch = (int64_t)p->e - p->s;
    if (ch <= 0 || p->m <= 0 || p->Hq <= 0) return KVP_OK;
    if (p->d > PASS_SCORE_MAX_D) return unsupported(b, "head_dim > 256");
    int stats = add_scratch(b, sizeof(float) * 2 * (size_t)p->Hq * (size_t)p->m);
    int red = add_scratch(b, sizeof(float) * (size_t)p->Hq * (size_t)ch);
    PASS(b, "pass_score_stats", p->m, p->Hq, 1, *p, 0, 1, 2, 3, stats);
    PASS(b, "pass_score_cols", ceil_div(ch, WG), p->Hq, 1, *p, 0, 1, 2, 4, 5, stats, red);
    int rows = p->group_mode == KVP_PASS_GROUP_NONE ? p->Hq : p->Hk;
    PASS(b, "pass_score_group", stride_groups((int64_t)rows * ch, WG), 1, 1, *p, red, 6);
    return KVP_OK;
}

static kvp_status plan_wov_norm(builder *b) {
    const kvp_p_wov_norm *p = b->call->params;
    int64_t T = (int64_t)p->t1 - p->t0;
    if (T > 0 && p->Hq > 0) PASS(b, "wov_norm", ceil_div(T, 64), p->Hq, 1, *p, 0, 1, 2, 3);
    return KVP_OK;
}

static kvp_status plan_fastkvzip_gate(builder *b) {
    const kvp_p_fastkvzip_gate *p = b->call->params;
    if (p->n <= 0 || p->Hk <= 0) return KVP_OK;
    /* fastkvzip_gate keeps (G + 1) e projections of 8 tokens in shared memory */
    if (p->G > 32 || (int64_t)(p->G + 1) * p->e > 512)
        return unsupported(b, "more than 32 query heads per kv head or (G + 1) * e > 512");
    PASS(b, "fastkvzip_gate", ceil_div(p->n, 8), p->Hk, 1, *p, 0, 1, 2);
    return KVP_OK;
}

/* ---- selection and compaction ------------------------------------------------------------ */

static kvp_status plan_topk(builder *b) {
    const kvp_p_topk *p = b->call->params;
    int rows = p->global_mode ? 1 : p->H;
    int64_t len = p->global_mode ? (int64_t)p->H * p->n : p->n;
    if (rows <= 0 || len <= 0) return KVP_OK;
    if (len > INT32_MAX) return unsupported(b, "more than 2^31 entries");
    int nchunk = (int)ceil_div(len, TOPK_CHUNK);
    kvp_p_topk_pass tp = {.rows = rows, .len = (int)len, .k = (int)clamp64(p->k, 0, len),
                          .nchunk = nchunk, .chunk = TOPK_CHUNK};
    if (len <= TOPK_ROW_MAX) { /* one launch, everything in shared memory */
        PASS(b, "topk_row", 1, rows, 1, tp, 0, 1);
        return KVP_OK;
    }
    int hist = add_scratch(b, sizeof(int32_t) * (size_t)rows * TOPK_MAX_BINS);
    int state = add_scratch(b, sizeof(int32_t) * 4 * (size_t)rows);
    int counts = add_scratch(b, sizeof(int32_t) * (size_t)rows * nchunk);
    PASS(b, "topk_init", stride_groups((int64_t)rows * TOPK_MAX_BINS, WG), 1, 1, tp, hist, state);
    /* Three radix rounds over the 32-bit order keys: bits 31..21, 20..10, 9..0. */
    static const int shifts[3] = {21, 10, 0}, widths[3] = {11, 11, 10};
    for (int r = 0; r < 3; r++) {
        tp.shift = shifts[r];
        tp.bits = widths[r];
        PASS(b, "topk_hist", nchunk, rows, 1, tp, 0, hist, state);
        PASS(b, "topk_digit", 1, rows, 1, tp, hist, state);
    }
    PASS(b, "topk_tie_count", nchunk, rows, 1, tp, 0, state, counts);
    PASS(b, "topk_mask", nchunk, rows, 1, tp, 0, state, counts, 1);
    return KVP_OK;
}

static kvp_status plan_compact(builder *b) {
    const kvp_p_compact *p = b->call->params;
    if (p->Hk <= 0 || p->n <= 0) return KVP_OK;
    if (p->kv_dtype != KVP_DT_F32 && p->d % 2)
        return unsupported(b, "a 16-bit cache with an odd head_dim");
    int words = p->kv_dtype == KVP_DT_F32 ? p->d : p->d / 2;
    int nchunk = (int)ceil_div(p->n, WG);
    int64_t plane = (int64_t)p->Hk * p->n * words;
    if (2 * plane + (int64_t)p->Hk * p->n > INT32_MAX)
        return unsupported(b, "a layer of more than 2^30 words");
    kvp_p_compact_pass cp = {.Hk = p->Hk, .d = p->d, .n = p->n, .kv_dtype = p->kv_dtype,
                             .words = words, .nchunk = nchunk};
    int counts = add_scratch(b, sizeof(int32_t) * ((size_t)p->Hk * nchunk + p->Hk));
    int rows = add_scratch(b, sizeof(uint32_t) * (size_t)(2 * plane + (int64_t)p->Hk * p->n));
    PASS(b, "compact_count", nchunk, p->Hk, 1, cp, 3, 4, counts);
    PASS(b, "compact_scan", 1, p->Hk, 1, cp, counts);
    PASS(b, "compact_gather", nchunk, p->Hk, 1, cp, 0, 1, 2, 3, 4, counts, rows);
    PASS(b, "compact_copyback", nchunk, p->Hk, 1, cp, 0, 1, 2, 3, counts, rows);
    return KVP_OK;
}

/* ---- re-rotation, head budgets, thresholds and merges (presses of WP1) -------------------- */

#define ROW_MAX_D 256 /* kernels that keep a cache row in a private array */

static kvp_status plan_rerotate(builder *b) {
    const kvp_p_rerotate *p = b->call->params;
    if (p->Hk <= 0 || p->n <= 0) return KVP_OK;
    if (p->d > ROW_MAX_D) return unsupported(b, "head_dim above 256");
    PASS(b, "rerotate", stride_groups((int64_t)p->Hk * p->n, WG), 1, 1, *p, 0, 1, 2, 3);
    return KVP_OK;
}

static kvp_status plan_topk_rows(builder *b) {
    const kvp_p_topk_rows *p = b->call->params;
    if (p->H <= 0 || p->n <= 0) return KVP_OK;
    int nchunk = (int)ceil_div(p->n, TOPK_CHUNK);
    kvp_p_topk_pass tp = {.rows = p->H, .len = p->n, .k = 0, .nchunk = nchunk, .chunk = TOPK_CHUNK};
    if (p->n <= TOPK_ROW_MAX) {
        PASS(b, "topk_rows_row", 1, p->H, 1, tp, 0, 1, 2);
        return KVP_OK;
    }
    int hist = add_scratch(b, sizeof(int32_t) * (size_t)p->H * TOPK_MAX_BINS);
    int state = add_scratch(b, sizeof(int32_t) * 4 * (size_t)p->H);
    int counts = add_scratch(b, sizeof(int32_t) * (size_t)p->H * nchunk);
    PASS(b, "topk_rows_init", stride_groups((int64_t)p->H * TOPK_MAX_BINS, WG), 1, 1, tp, hist,
         state, 1);
    static const int shifts[3] = {21, 10, 0}, widths[3] = {11, 11, 10};
    for (int r = 0; r < 3; r++) {
        tp.shift = shifts[r];
        tp.bits = widths[r];
        PASS(b, "topk_hist", nchunk, p->H, 1, tp, 0, hist, state);
        PASS(b, "topk_digit", 1, p->H, 1, tp, hist, state);
    }
    PASS(b, "topk_tie_count", nchunk, p->H, 1, tp, 0, state, counts);
    PASS(b, "topk_rows_mask", nchunk, p->H, 1, tp, 0, state, counts, 1, 2);
    return KVP_OK;
}

static kvp_status plan_mask_count(builder *b) {
    const kvp_p_mask_count *p = b->call->params;
    if (p->H > 0) PASS(b, "mask_count", 1, p->H, 1, *p, 0, 1);
    return KVP_OK;
}

static kvp_status plan_threshold_mask(builder *b) {
    const kvp_p_threshold_mask *p = b->call->params;
    int64_t total = (int64_t)p->H * p->n;
    if (total > 0) PASS(b, "threshold_mask", stride_groups(total, WG), 1, 1, *p, 0, 1, 2);
    return KVP_OK;
}

static kvp_status plan_accum_rows(builder *b) {
    const kvp_p_accum_rows *p = b->call->params;
    int64_t total = (int64_t)p->H * p->n;
    if (total > 0) PASS(b, "accum_rows", stride_groups(total, WG), 1, 1, *p, 0, 1);
    return KVP_OK;
}

static kvp_status plan_merge_match(builder *b) {
    const kvp_p_merge_match *p = b->call->params;
    if (p->Hk <= 0 || p->n <= 0) return KVP_OK;
    if (p->d > ROW_MAX_D) return unsupported(b, "head_dim above 256");
    int64_t rows = (int64_t)p->Hk * p->n;
    int invn = add_scratch(b, sizeof(float) * (size_t)rows);
    PASS(b, "merge_invnorm", stride_groups(rows, WG), 1, 1, *p, 0, 1, invn);
    PASS(b, "merge_match", ceil_div(p->n, WG), p->Hk, 1, *p, 0, 1, 2, invn, 3, 4);
    return KVP_OK;
}

static kvp_status plan_merge_values(builder *b) {
    const kvp_p_merge_values *p = b->call->params;
    if (p->Hk <= 0 || p->n <= 0) return KVP_OK;
    if (p->d > ROW_MAX_D) return unsupported(b, "head_dim above 256");
    PASS(b, "merge_values", ceil_div(p->n, WG), p->Hk, 1, *p, 0, 1, 2, 3, 4);
    return KVP_OK;
}

static kvp_status plan_merge_add(builder *b) {
    const kvp_p_merge_add *p = b->call->params;
    if (p->Hk <= 0 || p->count <= 0) return KVP_OK;
    if (p->d > ROW_MAX_D) return unsupported(b, "head_dim above 256");
    /* the head lengths are on the device: the rows of the value buffer bound them */
    int64_t rows = (int64_t)(binding_bytes(b, 0) / ((size_t)p->d * dtype_bytes(p->v_dtype)));
    int src = add_scratch(b, sizeof(float) * (size_t)p->Hk * p->count * p->d);
    PASS(b, "merge_add_gather", stride_groups((int64_t)p->Hk * p->count * p->d, WG), 1, 1, *p, 0,
         1, 2, src);
    PASS(b, "merge_add_apply", ceil_div(rows > 0 ? rows : 1, WG), p->Hk, 1, *p, 0, 1, 2, 3, src);
    return KVP_OK;
}

/* ---- the ops of the scorer presses of issue 5 -------------------------------------------- */

#define SKETCH_MAX_D 1024 /* sketch_gemm keeps the mean row in shared memory */

/* Chunks of the columns [lo, hi) of a row for a two-pass row reduction: at most KVP_GPU_WG,
 * at least `min_chunk` columns each. */
static void row_chunks(int64_t len, int64_t min_chunk, int *nchunk, int *chunk) {
    int64_t c = clamp64(ceil_div(len, WG), min_chunk, len > 0 ? len : 1);
    *chunk = (int)c;
    *nchunk = (int)ceil_div(len > 0 ? len : 1, c);
}

static kvp_status plan_anchor_cosine(builder *b) {
    const kvp_p_anchor_cosine *p = b->call->params;
    if (p->Hq <= 0 || p->n <= 0) return KVP_OK;
    int64_t len = (int64_t)p->n - p->t0;
    int nchunk, chunk;
    row_chunks(len, 4 * WG, &nchunk, &chunk);
    kvp_p_anchor_pass ap = {.Hq = p->Hq, .Hk = p->Hk, .d = p->d, .n = p->n, .t0 = p->t0,
                            .k_dtype = p->k_dtype, .exp_shift = p->exp_shift, .scale = p->scale,
                            .nchunk = nchunk, .chunk = chunk};
    int part = add_scratch(b, sizeof(float) * (size_t)p->Hq * nchunk);
    PASS(b, "anchor_cosine", nchunk, p->Hq, 1, ap, 0, 1, 2, 3, part);
    if (p->exp_shift && len > 0) PASS(b, "anchor_exp", nchunk, p->Hq, 1, ap, 3, part);
    return KVP_OK;
}

static kvp_status plan_gram(builder *b) {
    const kvp_p_gram *p = b->call->params;
    if (p->H <= 0 || p->d <= 0) return KVP_OK;
    int64_t rows = clamp64((int64_t)p->n - p->t0, 0, INT32_MAX);
    int T = (p->d + 63) / 64;
    int tiles = T * (T + 1) / 2;
    /* split-K over the rows (at least 256 each) so that few heads still fill the device */
    int nsplit = rows > 0 ? (int)split_for(b, (int64_t)tiles * p->H, ceil_div(rows, 256)) : 1;
    int64_t split = ceil_div(rows > 0 ? rows : 1, nsplit);
    kvp_p_gram_pass gp = {.H = p->H, .Hx = p->Hx, .d = p->d, .n = p->n, .t0 = p->t0,
                          .x_dtype = p->x_dtype, .has_w = p->has_w, .eps = p->eps,
                          .diag = p->diag, .compensated = p->compensated, .nsplit = nsplit,
                          .split = (int)split, .tiles = tiles};
    size_t hdd = (size_t)p->H * p->d * p->d;
    int part = add_scratch(b, sizeof(float) * hdd * nsplit);
    PASS(b, "gram_tile", tiles, p->H, nsplit, gp, 0, 1, 2, part);
    PASS(b, "gram_merge", stride_groups((int64_t)hdd, WG), 1, 1, gp, part, 3);
    return KVP_OK;
}

static kvp_status plan_cholesky(builder *b) {
    const kvp_p_cholesky *p = b->call->params;
    if (p->H > 0 && p->d > 0) PASS(b, "cholesky", 1, p->H, 1, *p, 0, 1);
    return KVP_OK;
}

static kvp_status plan_chol_quadform(builder *b) {
    const kvp_p_chol_quadform *p = b->call->params;
    if (p->H <= 0 || p->n <= 0) return KVP_OK;
    int inv = add_scratch(b, sizeof(float) * (size_t)p->H * p->d * p->d);
    PASS(b, "tri_inverse", 1, p->H, 1, *p, 0, inv);
    PASS(b, "chol_quadform", ceil_div(p->n, 64), p->H, 1, *p, inv, 1, 2, 3);
    return KVP_OK;
}

static kvp_status plan_cur_score(builder *b) {
    const kvp_p_cur_score *p = b->call->params;
    if (p->Hk <= 0 || p->n <= 0) return KVP_OK;
    int64_t rows = (int64_t)p->Hk * p->n;
    int64_t nwin = p->window > 0 ? ceil_div(p->n, p->window) : 1;
    int kv2 = add_scratch(b, sizeof(float) * 2 * (size_t)rows);
    int wsum = add_scratch(b, sizeof(float) * 2 * (size_t)p->Hk * nwin);
    PASS(b, "cur_norms", stride_groups(rows, WG), 1, 1, *p, 0, 1, 2, 3, kv2);
    if (p->window > 0)
        PASS(b, "cur_window", stride_groups((int64_t)p->Hk * nwin, WG), 1, 1, *p, kv2, wsum);
    PASS(b, "cur_combine", 1, p->Hk, 1, *p, kv2, wsum, 4);
    return KVP_OK;
}

static kvp_status plan_rope_rows(builder *b) {
    const kvp_p_rope_rows *p = b->call->params;
    int64_t pairs = (int64_t)p->H * p->n * (p->d / 2);
    if (pairs > 0) PASS(b, "rope_rows", stride_groups(pairs, WG), 1, 1, *p, 0, 1, 2, 3, 4);
    return KVP_OK;
}

static kvp_status plan_sketch(builder *b) {
    const kvp_p_sketch *p = b->call->params;
    if (p->H <= 0 || p->n <= 0 || p->k <= 0) return KVP_OK;
    if (p->d > SKETCH_MAX_D) return unsupported(b, "head_dim above 1024");
    int nchunk, chunk;
    row_chunks(p->n, 64, &nchunk, &chunk);
    kvp_p_sketch_pass sp = {.H = p->H, .n = p->n, .d = p->d, .k = p->k, .x_dtype = p->x_dtype,
                            .x_rows = p->x_rows, .r0 = p->r0, .nchunk = nchunk, .chunk = chunk};
    int part = add_scratch(b, sizeof(float) * (size_t)p->H * nchunk * p->d);
    PASS(b, "sketch_colsum", nchunk, p->H, 1, sp, 0, part);
    PASS(b, "sketch_gemm", ceil_div(p->n, 64), ceil_div(p->k, 64), p->H, sp, 0, 1, part, 2);
    return KVP_OK;
}

static kvp_status plan_chunk_colsum(builder *b) {
    const kvp_p_chunk_colsum *p = b->call->params;
    if (p->Hq <= 0 || p->n <= 0) return KVP_OK;
    if (p->C <= 0) return unsupported(b, "chunk size must be positive");
    int64_t nchunk = ceil_div(p->n, p->C);
    int stats = add_scratch(b, sizeof(float) * 2 * (size_t)p->Hq * nchunk * p->C);
    PASS(b, "chunk_stats", ceil_div(p->C, 16), nchunk, p->Hq, *p, 0, 1, 2, stats);
    PASS(b, "chunk_accum", ceil_div(p->C, 64), nchunk, p->Hq, *p, 0, 1, 2, stats, 3);
    return KVP_OK;
}

static kvp_status plan_zscore(builder *b) {
    const kvp_p_zscore *p = b->call->params;
    int64_t total = (int64_t)p->H * p->m;
    if (total <= 0) return KVP_OK;
    int nparts = (int)clamp64(ceil_div(total, 16 * WG), 1, WG);
    kvp_p_zscore_pass zp = {.H = p->H, .m = p->m, .n_out = p->n_out, .off = p->off,
                            .accumulate = p->accumulate, .scale = p->scale, .nparts = nparts};
    int part = add_scratch(b, sizeof(float) * 2 * (size_t)nparts);
    PASS(b, "zscore_sum", nparts, 1, 1, zp, 0, part);
    PASS(b, "zscore_var", nparts, 1, 1, zp, 0, part);
    PASS(b, "zscore_apply", stride_groups(total, WG), 1, 1, zp, 0, part, 1);
    return KVP_OK;
}

static kvp_status plan_score_pad_add(builder *b) {
    const kvp_p_score_pad_add *p = b->call->params;
    if (p->H <= 0 || p->n <= 0) return KVP_OK;
    if (p->lo >= p->hi) return unsupported(b, "requires lo < hi");
    int64_t inside = (int64_t)p->H * (p->hi - p->lo);
    int nparts = (int)clamp64(ceil_div(inside, 16 * WG), 1, WG);
    kvp_p_score_pad_pass mp = {.H = p->H, .n = p->n, .lo = p->lo, .hi = p->hi, .nparts = nparts};
    kvp_p_score_pad_add_pass ap = {.H = p->H, .n = p->n, .lo = p->lo, .hi = p->hi,
                                   .nparts = nparts, .add = p->add};
    int part = add_scratch(b, sizeof(float) * (size_t)nparts);
    PASS(b, "score_pad_max", nparts, 1, 1, mp, 0, part);
    PASS(b, "score_pad_add_apply", stride_groups((int64_t)p->H * p->n, WG), 1, 1, ap, 0, part);
    return KVP_OK;
}

static kvp_status plan_linear(builder *b) {
    const kvp_p_linear *p = b->call->params;
    if (p->rows > 0 && p->n_out > 0)
        PASS(b, "linear", ceil_div(p->rows, 64), ceil_div(p->n_out, 64), 1, *p, 0, 1, 2, 3);
    return KVP_OK;
}

static kvp_status plan_channel_mean(builder *b) {
    const kvp_p_channel_mean *p = b->call->params;
    if (p->H <= 0 || p->d <= 0) return KVP_OK;
    int nchunk, chunk;
    row_chunks(p->n, 64, &nchunk, &chunk);
    kvp_p_channel_mean_pass cp = {.H = p->H, .n = p->n, .d = p->d, .dtype = p->dtype,
                                  .square = p->square, .nchunk = nchunk, .chunk = chunk};
    int part = add_scratch(b, sizeof(float) * (size_t)p->H * nchunk * p->d);
    PASS(b, "channel_mean_part", nchunk, p->H, 1, cp, 0, 1, part);
    PASS(b, "channel_mean_merge", stride_groups((int64_t)p->H * p->d, WG), 1, 1, cp, part, 2);
    return KVP_OK;
}

static kvp_status plan_channel_zero(builder *b) {
    const kvp_p_channel_zero *p = b->call->params;
    if (p->H <= 0 || p->d <= 0) return KVP_OK;
    if (p->dtype != KVP_DT_F32 && p->d % 2)
        return unsupported(b, "a 16-bit cache with an odd head_dim");
    /* the head lengths are on the device: bound the rows by the size of the key buffer */
    int64_t rows = (int64_t)(binding_bytes(b, 0) / ((size_t)p->d * dtype_bytes(p->dtype)));
    int wpr = p->dtype == KVP_DT_F32 ? p->d : p->d / 2;
    PASS(b, "channel_zero", clamp64(ceil_div(rows * wpr / (p->H > 0 ? p->H : 1), WG), 1, 256), p->H,
         1, *p, 0, 1, 2);
    return KVP_OK;
}

/* ---- dispatch ---------------------------------------------------------------------------- */

typedef kvp_status (*plan_fn)(builder *b);

static const struct {
    plan_fn fn;
    unsigned written; /* op bindings the op writes */
} op_plans[KVP_OP_COUNT] = {
    [KVP_OP_ROPE] = {plan_rope, 1u << 2},
    [KVP_OP_ATTN_COLSUM] = {plan_attn_colsum, 1u << 4},
    [KVP_OP_PROBS_COLSUM] = {plan_probs_colsum, 1u << 1},
    [KVP_OP_ROW_NORM] = {plan_row_norm, 1u << 2},
    [KVP_OP_QSTATS] = {plan_qstats, (1u << 1) | (1u << 2)},
    [KVP_OP_EA_ROTATE] = {plan_ea_rotate, (1u << 3) | (1u << 4)},
    [KVP_OP_EA_LOGITS] = {plan_ea_logits, 1u << 4},
    [KVP_OP_SOFTMAX] = {plan_softmax, 1u << 0},
    [KVP_OP_HEAD_REDUCE] = {plan_head_reduce, 1u << 1},
    [KVP_OP_POOL1D] = {plan_pool1d, 1u << 1},
    [KVP_OP_SCORE_MAP] = {plan_score_map, 1u << 0},
    [KVP_OP_SCORE_PAD] = {plan_score_pad, 1u << 0},
    [KVP_OP_MASKED_FILL] = {plan_masked_fill, 1u << 0},
    [KVP_OP_TOPK] = {plan_topk, 1u << 1},
    [KVP_OP_COMPACT] = {plan_compact, 0xfu},
    [KVP_OP_ATTENTION] = {plan_attention, 1u << 5},
    [KVP_OP_PROJ_VNORM] = {plan_proj_vnorm, 1u << 3},
    [KVP_OP_KEYDIFF] = {plan_keydiff, 1u << 2},
    [KVP_OP_LAGKV] = {plan_lagkv, 1u << 3},
    [KVP_OP_COUNT_NONFINITE] = {plan_count_nonfinite, 1u << 1},
    [KVP_OP_TRUNCATE] = {plan_truncate, 1u << 1},
    [KVP_OP_REROTATE] = {plan_rerotate, (1u << 0) | (1u << 2)},
    [KVP_OP_TOPK_ROWS] = {plan_topk_rows, 1u << 2},
    [KVP_OP_MASK_COUNT] = {plan_mask_count, 1u << 1},
    [KVP_OP_THRESHOLD_MASK] = {plan_threshold_mask, 1u << 2},
    [KVP_OP_MERGE_MATCH] = {plan_merge_match, (1u << 3) | (1u << 4)},
    [KVP_OP_MERGE_VALUES] = {plan_merge_values, 1u << 0},
    [KVP_OP_MERGE_ADD] = {plan_merge_add, 1u << 0},
    [KVP_OP_ACCUM_ROWS] = {plan_accum_rows, 1u << 1},
    [KVP_OP_ANCHOR_COSINE] = {plan_anchor_cosine, 1u << 3},
    [KVP_OP_GRAM] = {plan_gram, 1u << 3},
    [KVP_OP_CHOLESKY] = {plan_cholesky, (1u << 0) | (1u << 1)},
    [KVP_OP_CHOL_QUADFORM] = {plan_chol_quadform, 1u << 3},
    [KVP_OP_CUR_SCORE] = {plan_cur_score, 1u << 4},
    [KVP_OP_ROPE_ROWS] = {plan_rope_rows, 1u << 4},
    [KVP_OP_SKETCH] = {plan_sketch, 1u << 2},
    [KVP_OP_CHUNK_COLSUM] = {plan_chunk_colsum, 1u << 3},
    [KVP_OP_ZSCORE] = {plan_zscore, 1u << 1},
    [KVP_OP_SCORE_PAD_ADD] = {plan_score_pad_add, 1u << 0},
    [KVP_OP_LINEAR] = {plan_linear, 1u << 3},
    [KVP_OP_CHANNEL_MEAN] = {plan_channel_mean, 1u << 2},
    [KVP_OP_CHANNEL_ZERO] = {plan_channel_zero, 1u << 0},
    [KVP_OP_PASS_SCORE] = {plan_pass_score, 1u << 6},
    [KVP_OP_WOV_NORM] = {plan_wov_norm, 1u << 3},
    [KVP_OP_FASTKVZIP_GATE] = {plan_fastkvzip_gate, 1u << 2},
    [KVP_OP_HEAD_SUBSET_MEAN] = {plan_head_subset_mean, 1u << 2},
};

kvp_status kvp_gpu_plan_op(kvp_context *ctx, const kvp_op_call *call, const kvp_gpu_caps *caps,
                           kvp_gpu_plan *plan) {
    memset(plan, 0, sizeof *plan);
    builder b = {.ctx = ctx, .call = call, .caps = caps, .plan = plan};
    if (call->op < 0 || call->op >= KVP_OP_COUNT || !op_plans[call->op].fn)
        return kvp__error(ctx, KVP_ERR_UNSUPPORTED, "gpu: op %s has no GPU plan",
                          kvp__op_name(call->op));
    plan->written = op_plans[call->op].written;
    KVP_TRY(op_plans[call->op].fn(&b));
    if (b.overflow)
        return kvp__error(ctx, KVP_ERR_INTERNAL,
                          "gpu plan for %s exceeds the pass, binding, parameter or scratch "
                          "limits of gpu_plan.h",
                          kvp__op_name(call->op));
    for (int i = 0; i < plan->n_passes; i++) {
        const kvp_gpu_pass *ps = &plan->pass[i];
        for (int k = 0; k < 3; k++) {
            uint32_t limit = caps->max_groups[k] ? caps->max_groups[k] : 65535u;
            if (ps->groups[k] == 0 || ps->groups[k] > limit)
                return kvp__error(ctx, KVP_ERR_UNSUPPORTED,
                                  "gpu plan for %s: pass %s needs %u workgroups in dimension %d "
                                  "(the device allows %u)",
                                  kvp__op_name(call->op), ps->kernel, ps->groups[k], k, limit);
        }
    }
    return KVP_OK;
}
