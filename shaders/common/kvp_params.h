/*
 * Parameters of every primitive op, shared verbatim by the host (C), OpenCL C, CUDA and GLSL
 * (through GL_GOOGLE_include_directive). This file is the numerical contract of the op table:
 * each struct documents its bindings (in order) and exactly what the op computes. The CPU
 * backend (backends/cpu/ops) is the executable form of these comments.
 *
 * Rules that keep the structs identical in every language and safe as std430 / push
 * constants: only 32-bit `int` and `float` members, no arrays, no nested structs, at most
 * 16 members (64 bytes).
 *
 * Shared conventions
 *  - dtype codes: KVP_DT_F32 0, KVP_DT_F16 1, KVP_DT_BF16 2 (same values as kvp_dtype).
 *    Loads convert to f32; all arithmetic and accumulation is f32 or wider.
 *  - Cache rows: a cache layer is one buffer of rows of d elements. Head j of the layer owns
 *    rows meta[2j] .. meta[2j] + meta[2j+1] - 1 (meta[2j] = first row, meta[2j+1] = length);
 *    element c of token t of head j is at (meta[2j] + t) * d + c. `pos` holds the original
 *    token position of each row (int32, indexed by row).
 *  - Scores and masks are dense [H, n] with row stride n. Masks are int32, nonzero = set.
 *  - Kernels never write outside the ranges stated here.
 */
#ifndef KVP_PARAMS_H
#define KVP_PARAMS_H

#define KVP_DT_F32 0
#define KVP_DT_F16 1
#define KVP_DT_BF16 2

#define KVP_LAYOUT_HALF_SPLIT 0
#define KVP_LAYOUT_INTERLEAVED 1

#define KVP_COLSUM_SUM 0       /* plain sum over the window rows */
#define KVP_COLSUM_VISIBLE 1   /* divided by the number of rows that can see the key */
#define KVP_COLSUM_WINDOW 2    /* divided by the number of window rows */
#define KVP_COLSUM_POSITION 3  /* each row weighted by its position, divided by the rows
                                  (FINCH's normalisation: a row sees about `position` keys) */

#define KVP_REDUCE_GROUP_MEAN 0 /* out[j] = mean of the G = Hq/Hk query heads of kv head j */
#define KVP_REDUCE_ALL_MEAN 1   /* out[j] = mean of all Hq heads, for every j */

#ifdef KVP_GLSL
#define KVP_PARAMS(name) struct name
#define KVP_PARAMS_END(name) ;
#else
#define KVP_PARAMS(name) typedef struct name
#define KVP_PARAMS_END(name) name;
#endif

/* ROPE: rotates rows [r0, m) of x; row a is at position pos0 + a.
 * bindings: 0 x [H, m, d] (dtype)
 *           1 cs f32 [m - r0, d/2, 2]: (cos, sin) of row a - r0 and frequency f, already
 *             multiplied by the attention scaling (computed on the host in double from the
 *             f32 angle pos * inv_freq[f], then rounded to f32)
 *           2 out f32 [H, m - r0, d]
 * For frequency f the pair is (f, f + d/2) in the half-split layout and (2f, 2f+1) in the
 * interleaved one: out[u] = x[u]*cos - x[v]*sin, out[v] = x[v]*cos + x[u]*sin. */
KVP_PARAMS(kvp_p_rope) {
    int H;
    int m;
    int d;
    int r0;
    int rope_layout; /* KVP_LAYOUT_*; not `layout`, a GLSL keyword */
    int dtype;
} KVP_PARAMS_END(kvp_p_rope)

/* ATTN_COLSUM: column sums of the causal attention of w window queries over n cached keys.
 * bindings: 0 q f32 [Hq, w, d] (post-RoPE; row a at position q_pos0 + a)
 *           1 K (k_dtype, cache rows)   2 meta   3 pos
 *           4 out f32 [Hq, n]
 * For query head i (kv head j = i / (Hq/Hk)) and row a: z_t = scale * <q, K[j,t]> for
 * t in [0, n) with pos[row(j,t)] <= q_pos0 + a, else -inf; P = softmax_t(z).
 * out[i, t] = sum_a P[a, t], then divided according to mean_mode (KVP_COLSUM_*); with
 * KVP_COLSUM_VISIBLE a key seen by no row gets 0; KVP_COLSUM_POSITION sums
 * (q_pos0 + a) P[a, t] and divides by w. Requires n <= every meta length. */
KVP_PARAMS(kvp_p_attn_colsum) {
    int Hq;
    int Hk;
    int d;
    int w;
    int n;
    int q_pos0;
    int k_dtype;
    int mean_mode;
    float scale;
} KVP_PARAMS_END(kvp_p_attn_colsum)

/* PROBS_COLSUM: column sums of given attention probabilities.
 * bindings: 0 probs f32 [H, m, n] (row a is the token at position row_pos0 + a)
 *           1 out f32 [H, n]
 * out[h, t] = sum over a in [r0, r1) of probs[h, a, t], then mean_mode: KVP_COLSUM_VISIBLE
 * divides by #{a in [r0, r1) : row_pos0 + a >= t} (0 if none), KVP_COLSUM_WINDOW by r1 - r0;
 * KVP_COLSUM_POSITION sums (row_pos0 + a) probs[h, a, t] and divides by r1 - r0. */
KVP_PARAMS(kvp_p_probs_colsum) {
    int H;
    int m;
    int n;
    int r0;
    int r1;
    int row_pos0;
    int mean_mode;
} KVP_PARAMS_END(kvp_p_probs_colsum)

/* ROW_NORM: L2 norm of each cached row.
 * bindings: 0 X (dtype, cache rows: keys or values)  1 meta  2 out f32 [H, n]
 * out[j, t] = ||X[j, t]||_2 for t < n. */
KVP_PARAMS(kvp_p_row_norm) {
    int H;
    int n;
    int d;
    int dtype;
} KVP_PARAMS_END(kvp_p_row_norm)

/* QSTATS: merges rows [r0, m) of a query chunk into running statistics.
 * bindings: 0 q [H, m, d] (dtype)   1 mean f32 [H, d] (in/out)   2 m2 f32 [H, d, d] (in/out)
 * With b = m - r0 > 0 chunk rows, chunk mean mu_b and centred M2_b = sum (q-mu_b)(q-mu_b)^T:
 * if n_prev == 0: mean = mu_b, m2 = M2_b; else delta = mu_b - mean, N = n_prev + b,
 * mean += delta * b / N, m2 += M2_b + delta delta^T * n_prev * b / N. */
KVP_PARAMS(kvp_p_qstats) {
    int H;
    int m;
    int d;
    int dtype;
    int r0;
    int n_prev;
} KVP_PARAMS_END(kvp_p_qstats)

/* EA_ROTATE: the averaged rotation R = diag(cbar) + diag(sbar) P of Expected Attention applied
 * to query statistics: mu' = R mu, Sigma' = R (m2 * inv_count) R^T.
 * bindings: 0 mean f32 [H, d]  1 m2 f32 [H, d, d]  2 cs f32 [d/2, 2] (mean cos, mean sin)
 *           3 mu_out f32 [H, d]  4 sigma_out f32 [H, d, d] (written only when use_cov)
 * R x = cbar(c) * x + sbar(c) * rot(x) per channel c, with rot(x)[u] = -x[v], rot(x)[v] = x[u]
 * for each pair (u, v) of the layout (see ROPE). */
KVP_PARAMS(kvp_p_ea_rotate) {
    int H;
    int d;
    int rope_layout; /* KVP_LAYOUT_*; not `layout`, a GLSL keyword */
    int use_cov;
    float inv_count;
} KVP_PARAMS_END(kvp_p_ea_rotate)

/* EA_LOGITS: Expected Attention logits.
 * bindings: 0 K (k_dtype, cache rows)  1 meta  2 mu f32 [Hq, d]  3 sigma f32 [Hq, d, d]
 *           4 out f32 [Hq, n]
 * out[i, t] = inv_sqrt_d <mu_i, k> + (use_cov ? inv_2d k^T Sigma_i k : 0), k = K[j, t],
 * j = i / (Hq/Hk), for t in [t0, n); out[i, t < t0] = 0. */
KVP_PARAMS(kvp_p_ea_logits) {
    int Hq;
    int Hk;
    int d;
    int n;
    int t0;
    int k_dtype;
    int use_cov;
    float inv_sqrt_d;
    float inv_2d;
} KVP_PARAMS_END(kvp_p_ea_logits)

/* SOFTMAX: in place over columns [t0, n) of every row; columns < t0 untouched.
 * bindings: 0 x f32 [H, n] */
KVP_PARAMS(kvp_p_softmax) {
    int H;
    int n;
    int t0;
} KVP_PARAMS_END(kvp_p_softmax)

/* HEAD_REDUCE: query-head scores to kv-head scores (mode KVP_REDUCE_*).
 * bindings: 0 in f32 [Hq, n]  1 out f32 [Hk, n] */
KVP_PARAMS(kvp_p_head_reduce) {
    int Hq;
    int Hk;
    int n;
    int mode;
} KVP_PARAMS_END(kvp_p_head_reduce)

/* POOL1D: average pooling of odd width k, stride 1, zero padding counted (divide by k).
 * bindings: 0 in f32 [H, n]  1 out f32 [H, n] (distinct buffers)
 * For t < len: out[h, t] = (1/k) sum_{u = t - k/2}^{t + k/2} (0 <= u < len ? in[h, u] : 0).
 * Columns >= len are not written. */
KVP_PARAMS(kvp_p_pool1d) {
    int H;
    int n;
    int len;
    int k;
} KVP_PARAMS_END(kvp_p_pool1d)

/* SCORE_MAP: s = (a * s + b) * (has_w ? w : 1), elementwise over [H, n].
 * bindings: 0 s f32 [H, n] (in/out)  1 w f32 [H, n] (bind anything when has_w = 0) */
KVP_PARAMS(kvp_p_score_map) {
    int H;
    int n;
    int has_w;
    float a;
    float b;
} KVP_PARAMS_END(kvp_p_score_map)

/* SCORE_PAD: protective padding. M = max of s[h, t] over all h and t in [lo, hi);
 * every entry with t < lo or t >= hi becomes M + 1 (f32 addition). Requires lo < hi.
 * bindings: 0 s f32 [H, n] (in/out) */
KVP_PARAMS(kvp_p_score_pad) {
    int H;
    int n;
    int lo;
    int hi;
} KVP_PARAMS_END(kvp_p_score_pad)

/* MASKED_FILL: s[h, t] = value where mask[h, t] != 0.
 * bindings: 0 s f32 [H, n] (in/out)  1 mask int32 [H, n] */
KVP_PARAMS(kvp_p_masked_fill) {
    int H;
    int n;
    float value;
} KVP_PARAMS_END(kvp_p_masked_fill)

/* TOPK: selection mask. Entries are ordered by decreasing score, ties by increasing index
 * (t within a row; the flat index h*n + t when global). global_mode = 0: in every row the first
 * k entries get mask 1 and the others 0; global_mode = 1: the first k of all H*n entries.
 * 0 <= k <= n (per row) or H*n (global). Scores are finite.
 * bindings: 0 s f32 [H, n]  1 mask int32 [H, n] (out) */
KVP_PARAMS(kvp_p_topk) {
    int H;
    int n;
    int k;
    int global_mode; /* not `global`, an OpenCL address space */
} KVP_PARAMS_END(kvp_p_topk)

/* COMPACT: in-place, order-preserving compaction of every head of a cache layer.
 * bindings: 0 K  1 V (kv_dtype, cache rows)  2 pos  3 meta (in/out)  4 mask int32 [Hk, n]
 * For head j, the entries t < meta length with mask[j, t] != 0 are moved, in order, to
 * rows meta[2j] + 0, 1, ... (keys, values and positions); the length becomes their count.
 * Requires n >= every meta length. Rows past the new length are left unspecified. */
KVP_PARAMS(kvp_p_compact) {
    int Hk;
    int d;
    int n;
    int kv_dtype;
} KVP_PARAMS_END(kvp_p_compact)

/* ATTENTION: grouped-query attention over the (ragged) cache layer.
 * bindings: 0 q [Hq, m, d] (q_dtype, post-RoPE; row a at position q_pos0 + a)
 *           1 K  2 V (kv_dtype, cache rows)  3 meta  4 pos  5 out f32 [Hq, m, d]
 * out[i, a] = sum_t softmax_t(scale <q[i, a], K[j, t]>) V[j, t] over the t < length of
 * head j = i / (Hq/Hk) with pos[row(j, t)] <= q_pos0 + a; zero when no entry is visible. */
KVP_PARAMS(kvp_p_attention) {
    int Hq;
    int Hk;
    int d;
    int m;
    int q_pos0;
    int q_dtype;
    int kv_dtype;
    float scale;
} KVP_PARAMS_END(kvp_p_attention)

/* PROJ_VNORM: value norm through the output projection (CriticalKV).
 * bindings: 0 V (v_dtype, cache rows)  1 meta  2 wo [D, Hq*d] (wo_dtype)  3 out f32 [Hk, n]
 * out[j, t] = (1/G) sum_{i in group j} sum_{o < D} | sum_{c < d} V[j, t, c] wo[o, i*d + c] |. */
KVP_PARAMS(kvp_p_proj_vnorm) {
    int Hq;
    int Hk;
    int d;
    int D;
    int n;
    int v_dtype;
    int wo_dtype;
} KVP_PARAMS_END(kvp_p_proj_vnorm)

/* KEYDIFF: negative cosine similarity to the mean normalised key of the head.
 * bindings: 0 K (k_dtype, cache rows)  1 meta  2 out f32 [Hk, n]
 * a_j = (1/n) sum_t K[j,t] / max(||K[j,t]||, 1e-12);
 * out[j, t] = -<K[j,t], a_j> / (max(||K[j,t]||, 1e-8) * max(||a_j||, 1e-8)). */
KVP_PARAMS(kvp_p_keydiff) {
    int Hk;
    int d;
    int n;
    int k_dtype;
} KVP_PARAMS_END(kvp_p_keydiff)

/* LAGKV: LagKV scores (PRESSES.md 2.14), per kv head j.
 * bindings: 0 K  1 V (dtype, cache rows)  2 meta  3 out f32 [Hk, n]
 * Short input (n < n_sink + 2 lag): out = 1 for t < n_sink, (t - n_sink)/(n - n_sink) else.
 * Otherwise P = (n - n_sink) / lag partitions, end = n_sink + P lag; partition p < P - 1
 * covers rows s = n_sink + p lag .. s + lag - 1 and uses partition p + 1 as reference. For
 * X = K and X = V separately: per channel c, lo/hi = min/max of the reference rows;
 * X'[u,c] = (X[u,c] - lo) / (hi - lo), or 0 when hi == lo (kvpress yields NaN there);
 * sigma_u = unbiased std of X'[u, :] over the d channels; s_X = softmax_u(sigma) over the
 * partition. s = (s_K + s_V) / 2. Unless cross: s_u = rank_u / lag where rank 0 is the
 * smallest s (ties: the lower index ranks lower). out = s on [n_sink, end - lag), 1 on
 * t < n_sink and on t >= end - lag. */
KVP_PARAMS(kvp_p_lagkv) {
    int Hk;
    int d;
    int n;
    int n_sink;
    int lag;
    int dtype;
    int cross;
} KVP_PARAMS_END(kvp_p_lagkv)

/* COUNT_NONFINITE: out[0] = number of NaN or infinite values among x[0 .. count).
 * bindings: 0 x (dtype)  1 out int32 [1] */
KVP_PARAMS(kvp_p_count_nonfinite) {
    int count;
    int dtype;
} KVP_PARAMS_END(kvp_p_count_nonfinite)

/* TRUNCATE: drops the entries at positions >= position from every head (entries are in
 * increasing position order, so the kept ones are a prefix).
 * bindings: 0 pos  1 meta (in/out) */
KVP_PARAMS(kvp_p_truncate) {
    int Hk;
    int position;
} KVP_PARAMS_END(kvp_p_truncate)

/* REROTATE: moves every entry of a cache layer to a new RoPE position, in place (SinkCache /
 * FINCH / KeyRerotationPress re-rotation, PRESSES.md 2.39 and 5.5). No gather: the layer is
 * already in its final order (position order after a compaction).
 * bindings: 0 K (k_dtype, cache rows, in/out)  1 meta  2 pos (in/out)
 *           3 inv_freq f32 [d/2] (the raw RoPE frequencies, no attention scaling)
 * For head j and entry t < meta length (<= n): new = pos0 + t, delta = new - pos[row];
 * for each frequency f: angle = (float)delta * inv_freq[f] (an f32 product),
 * c = cos(angle), s = sin(angle) computed to f32 precision, then rounded to k_dtype (the model
 * dtype, as kvpress does); with (u, v) the pair of f in the layout (see ROPE):
 * K[u] = K[u] c - K[v] s, K[v] = K[v] c + K[u] s in f32 (inputs read before writing), rounded
 * to k_dtype. Then pos[row] = new. Rows past a head's length are not touched. */
KVP_PARAMS(kvp_p_rerotate) {
    int Hk;
    int d;
    int n;
    int k_dtype;
    int rope_layout; /* KVP_LAYOUT_*; not `layout`, a GLSL keyword */
    int pos0;
} KVP_PARAMS_END(kvp_p_rerotate)

/* TOPK_ROWS: per-row top-k mask with a count per row (head budgets of CriticalAdaKV and LUKV).
 * bindings: 0 s f32 [H, n] (finite or infinite, no NaN)  1 k int32 [H]  2 mask int32 [H, n] (out)
 * In row h the first k[h] entries in the order of TOPK (decreasing score, ties by increasing
 * index; +inf first) get mask 1, the others 0. 0 <= k[h] <= n. */
KVP_PARAMS(kvp_p_topk_rows) {
    int H;
    int n;
} KVP_PARAMS_END(kvp_p_topk_rows)

/* MASK_COUNT: out[h] = number of nonzero mask[h, t] for t < n.
 * bindings: 0 mask int32 [H, n]  1 out int32 [H] */
KVP_PARAMS(kvp_p_mask_count) {
    int H;
    int n;
} KVP_PARAMS_END(kvp_p_mask_count)

/* THRESHOLD_MASK: keep mask of a score threshold over the oldest scores of a buffer (DMSPress).
 * bindings: 0 s f32 [H, m] (row stride m)  1 off int32 [H]  2 mask int32 [H, n] (out)
 * For t < n, with u = t - off[h]: mask[h, t] = 0 when 0 <= u < e and s[h, u] < threshold
 * (NaN counts as below), 1 otherwise. 0 <= e <= m. */
KVP_PARAMS(kvp_p_threshold_mask) {
    int H;
    int m;
    int n;
    int e;
    float threshold;
} KVP_PARAMS_END(kvp_p_threshold_mask)

/* MERGE_MATCH: the most similar kept key of every evicted key (MergingPress, PRESSES.md 2.40).
 * bindings: 0 K (k_dtype, cache rows)  1 meta  2 keep int32 [Hk, n] (nonzero = kept)
 *           3 sim f32 [Hk, n] (out)  4 target int32 [Hk, n] (out)
 * With u_t = K[j, t] / max(||K[j, t]||, 1e-6) for the entries t < n of head j: for every
 * evicted e (keep == 0), sim[j, e] = max over kept k of <u_e, u_k> and target[j, e] = the
 * lowest kept index reaching it. Kept entries, and evicted ones of a head that keeps nothing,
 * get sim 0 and target -1. Norms and dot products in f32 precision or better. */
KVP_PARAMS(kvp_p_merge_match) {
    int Hk;
    int d;
    int n;
    int k_dtype;
} KVP_PARAMS_END(kvp_p_merge_match)

/* MERGE_VALUES: folds each evicted value into its target (MergingPress).
 * bindings: 0 V (v_dtype, cache rows, in/out)  1 meta  2 sim f32 [Hk, n]
 *           3 target int32 [Hk, n] (MERGE_MATCH)  4 gate f32 [Hk]
 * For e < n of head j with t = target[j, e] >= 0: ok = sim >= threshold and sim >= gate[j]
 * (gate -inf: no gate; NaN: nothing merges in that head);
 * w_e = ok ? max(sim, 0) |V_e| / (|V_e| + |V_t| + 1e-6) : 0 (L2 norms of the values before
 * the op). Every row k with W_k = sum of the w_e targeting it > 0 becomes
 * (V_k + sum w_e V_e) / (1 + W_k), computed in f32 or wider from the values before the op
 * and rounded to v_dtype once; the other rows are unchanged. */
KVP_PARAMS(kvp_p_merge_values) {
    int Hk;
    int d;
    int n;
    int v_dtype;
    float threshold;
} KVP_PARAMS_END(kvp_p_merge_values)

/* MERGE_ADD: adds scaled value rows to other rows of the same head (CAMPress's merges).
 * bindings: 0 V (v_dtype, cache rows, in/out)  1 meta
 *           2 pairs int32 [count, 2]: (destination entry, source entry), the same in every head
 *           3 coef f32 [Hk, count]
 * For every head j: V[j, dst] = V[j, dst] + sum over the pairs i with that destination of
 * coef[j, i] V[j, src_i], every source read before the op changes anything; sums in f32 or
 * wider, each changed row rounded to v_dtype once. Entries are < the head's length. */
KVP_PARAMS(kvp_p_merge_add) {
    int Hk;
    int d;
    int count;
    int v_dtype;
} KVP_PARAMS_END(kvp_p_merge_add)

/* ACCUM_ROWS: running sums of per-token rows (CAMPress's accumulated attention).
 * bindings: 0 x f32 [H, n]  1 acc f32 [H, stride] (in/out)
 * acc[h, t] = (t < n_prev ? acc[h, t] : 0) + x[h, t] for t < n <= stride; columns >= n are
 * not touched. */
KVP_PARAMS(kvp_p_accum_rows) {
    int H;
    int n;
    int stride;
    int n_prev;
} KVP_PARAMS_END(kvp_p_accum_rows)
/* ---- scorer presses with new numerics (CapPress, CUR, LeverageScore, NonCausalAttn,
 * Compactor, KVzap, ThinK). "rows" bindings use the cache-row addressing above; a dense
 * tensor [H, m, w] is addressed the same way with meta[2h] = h*m, meta[2h+1] = m. ---------- */

#define KVP_CUR_KEY 0        /* CUR_SCORE modes (CURPress.leverage_type) */
#define KVP_CUR_VALUE 1
#define KVP_CUR_KV_AVG 2
#define KVP_CUR_KV_PRODUCT 3

#define KVP_ACT_NONE 0       /* LINEAR activations */
#define KVP_ACT_GELU 1       /* exact GELU: z/2 (1 + erf(z / sqrt 2)) */

/* ANCHOR_COSINE: clamped cosine of every key with a per-query-head anchor (CapPress).
 * bindings: 0 K (k_dtype, rows)  1 meta  2 anchor f32 [Hq, d]  3 out f32 [Hq, n]
 * For query head i (kv head j = i / (Hq/Hk)) and t in [t0, n), with a = anchor[i], k = K[j,t]:
 *   c = clamp(<a, k> / (max(||a||, 1e-12) max(||k||, 1e-12)), -1, 1),  z_t = scale * c;
 *   out[i, t] = exp_shift ? exp(z_t - max_{t' in [t0, n)} z_t') : z_t.
 * out[i, t < t0] = 0. Dot products and norms accumulate in f32 or wider. */
KVP_PARAMS(kvp_p_anchor_cosine) {
    int Hq;
    int Hk;
    int d;
    int n;
    int t0;
    int k_dtype;
    int exp_shift;
    float scale;
} KVP_PARAMS_END(kvp_p_anchor_cosine)

/* GRAM: per-head weighted Gram matrix of rows plus a diagonal (CapPress's capacity matrix,
 * LeverageScore's sketch Gram).
 * bindings: 0 X (x_dtype, rows of width d)  1 meta  2 w f32 [H, n] (bind anything when
 *           has_w = 0)  3 out f32 [H, d, d]
 * For head h, x_t = X[h / (H/Hx), t]:
 *   out[h] = diag * I + sum_{t in [t0, n)} (has_w ? w[h, t] + eps : 1) x_t x_t^T.
 * The sum accumulates in f32 or wider; with `compensated` it must be as accurate as a double
 * sum rounded to f32 (GPUs: compensated f32 sums): leverage scores amplify the rounding of a
 * plain f32 sum past the kvpress comparison rule. out is exactly symmetric. */
KVP_PARAMS(kvp_p_gram) {
    int H;
    int Hx;
    int d;
    int n;
    int t0;
    int x_dtype;
    int has_w;
    float eps;
    float diag;
    int compensated;
} KVP_PARAMS_END(kvp_p_gram)

/* CHOLESKY: in-place factorisation A = L L^T of H symmetric positive definite d x d matrices.
 * bindings: 0 A f32 [H, d, d] (in: only the lower triangle is read; out: L in the lower
 *             triangle, 0 in the strict upper triangle)
 *           1 info int32 [H] (out): 0 when every pivot was positive and finite, else k + 1
 *             for the first column k whose pivot was not; A[h] is then unspecified.
 * L[k][k] = sqrt(A[k][k] - sum_{c<k} L[k][c]^2), L[i][k] = (A[i][k] - sum_{c<k} L[i][c] L[k][c])
 * / L[k][k] for i > k; sums in f32 or wider. */
KVP_PARAMS(kvp_p_cholesky) {
    int H;
    int d;
} KVP_PARAMS_END(kvp_p_cholesky)

/* CHOL_QUADFORM: x^T (L L^T)^-1 x = ||L^-1 x||^2 for rows x (leverage scores).
 * bindings: 0 L f32 [H, d, d] (lower triangle with a positive diagonal: CHOLESKY's output)
 *           1 X (x_dtype, rows of width d)  2 meta  3 out f32 [H, n]
 * For head h, x = X[h / (H/Hx), t], t in [t0, n): out[h, t] = sum_c y_c^2 with L_h y = x
 * (forward substitution, f32 or wider); out[h, t < t0] = 0. */
KVP_PARAMS(kvp_p_chol_quadform) {
    int H;
    int Hx;
    int d;
    int n;
    int t0;
    int x_dtype;
} KVP_PARAMS_END(kvp_p_chol_quadform)

/* CUR_SCORE: CURPress's scores (PRESSES.md 2.16), per kv head j.
 * bindings: 0 K  1 V (dtype, rows)  2 meta  3 proj f32 [d, r] (bind anything when r = 0)
 *           4 out f32 [Hk, n]
 * x2_t = ||x_t||^2 for x = K[j, t] and x = V[j, t], or ||proj^T x_t||^2 when r > 0.
 * window > 0: tokens form windows [window*b, window*(b+1)) (the last one cut at n) and each
 * x2_t is divided by the sum of its window (0 when that sum is 0; kvpress gives NaN).
 * s_t = k2 (mode KVP_CUR_KEY), v2 (VALUE), (k2 + v2)/2 (KV_AVG), k2 * v2 (KV_PRODUCT);
 * out[j, t] = s_t / sum_{u < n} s_u (0 when the sum is 0), then 1 for t < n_sinks. */
KVP_PARAMS(kvp_p_cur_score) {
    int Hk;
    int d;
    int n;
    int dtype;
    int r;
    int window;
    int mode;
    int n_sinks;
} KVP_PARAMS_END(kvp_p_cur_score)

/* ROPE_ROWS: rotates rows into a dense tensor, each row by the rotation of its own position
 * (LeverageScore rotates the cached keys back to pre-RoPE keys with a table of inverses).
 * bindings: 0 X (x_dtype, rows of width d)  1 meta  2 pos  3 cs f32 [P, d/2, 2]: (cos, sin)
 *           of position p0 + r at row r of the table, per frequency  4 out f32 [H, n, d]
 * out[h, t] = the ROPE formula (pairs of rope_layout) applied to X[h, t] with the table row
 * pos[row(h, t)] - p0, which must lie in [0, P). */
KVP_PARAMS(kvp_p_rope_rows) {
    int H;
    int n;
    int d;
    int rope_layout; /* KVP_LAYOUT_*; not `layout`, a GLSL keyword */
    int x_dtype;
    int p0;
    int P;
} KVP_PARAMS_END(kvp_p_rope_rows)

/* SKETCH: centres rows along the tokens and projects them (LeverageScore's right sketch).
 * bindings: 0 x [H, x_rows, d] (x_dtype; rows r0 .. r0+n-1 used)  1 phi f32 [H, d, k]
 *           2 out f32 [H, n, k]
 * mu_h = (1/n) sum_t x[h, r0+t]; out[h, t, :] = (x[h, r0+t] - mu_h) phi[h] (f32 or wider). */
KVP_PARAMS(kvp_p_sketch) {
    int H;
    int n;
    int d;
    int k;
    int x_dtype;
    int x_rows;
    int r0;
} KVP_PARAMS_END(kvp_p_sketch)

/* CHUNK_COLSUM: column sums of non-causal attention inside chunks (NonCausalAttnPress).
 * bindings: 0 q f32 [Hq, q_stride, d] (post-RoPE; rows 0 .. n-1 used)  1 K (k_dtype, rows)
 *           2 meta  3 out f32 [Hq, n]
 * The n tokens form chunks [C*c, C*c + C), the last one padded to C. For query head i (kv
 * head j = i / (Hq/Hk)) and each chunk: z[a, t] = scale <q[i, a], K[j, t]> for real a and t;
 * P[a, .] = softmax of z[a, .] over the chunk's columns; out[i, t] = sum over the chunk's
 * rows a of P[a, t]. When n % C != 0 the last chunk has padding:
 *   kvpress_pad = 1 (as kvpress): padded rows and columns take part, z = 0 for a padded row
 *     and a real column, z = -1e-9 for a padded column (every row); padded rows are summed;
 *   kvpress_pad = 0: only real rows and columns exist.
 * Exponentials and sums in f32 or wider. */
KVP_PARAMS(kvp_p_chunk_colsum) {
    int Hq;
    int Hk;
    int d;
    int n;
    int C;
    int q_stride;
    int k_dtype;
    int kvpress_pad;
    float scale;
} KVP_PARAMS_END(kvp_p_chunk_colsum)

/* ZSCORE: global z-score of a dense tensor, written into columns of another.
 * bindings: 0 x f32 [H, m]  1 out f32 [H, n_out] (in/out)
 * mean and unbiased standard deviation over all H*m entries of x (double precision on the
 * CPU; a single entry has std 0), std clamped below at 1e-6:
 * out[h, off + t] = (accumulate ? out[h, off + t] : 0) + scale (x[h, t] - mean) / std for
 * t < m; other columns untouched. off + m <= n_out. */
KVP_PARAMS(kvp_p_zscore) {
    int H;
    int m;
    int n_out;
    int off;
    int accumulate;
    float scale;
} KVP_PARAMS_END(kvp_p_zscore)

/* SCORE_PAD_ADD: SCORE_PAD with a chosen increment: M = max of s[h, t] over all h and t in
 * [lo, hi); every entry with t < lo or t >= hi becomes M + add (f32 addition). lo < hi.
 * bindings: 0 s f32 [H, n] (in/out) */
KVP_PARAMS(kvp_p_score_pad_add) {
    int H;
    int n;
    int lo;
    int hi;
    float add;
} KVP_PARAMS_END(kvp_p_score_pad_add)

/* LINEAR: y = act(x W^T + b), one dense layer (KVzap's surrogate models).
 * bindings: 0 x [rows, n_in] (x_dtype)  1 W [n_out, n_in] (w_dtype)  2 b f32 [n_out] (bind
 *           anything when has_bias = 0)  3 y f32 [rows, n_out] (out_t = 0) or [n_out, rows]
 *           (out_t = 1)
 * z = sum_c x[r, c] W[o, c] (f32 or wider) + (has_bias ? b[o] : 0); y = z (KVP_ACT_NONE) or
 * z/2 (1 + erf(z / sqrt 2)) (KVP_ACT_GELU). */
KVP_PARAMS(kvp_p_linear) {
    int rows;
    int n_in;
    int n_out;
    int x_dtype;
    int w_dtype;
    int has_bias;
    int act;
    int out_t;
} KVP_PARAMS_END(kvp_p_linear)

/* CHANNEL_MEAN: mean (square = 0) or mean square (square = 1) of every channel over the
 * first n rows of each head (CapPress's query mean, ThinK's channel norms).
 * bindings: 0 X (dtype, rows of width d)  1 meta  2 out f32 [H, d]
 * out[h, c] = (1/n) sum_{t < n} x^p with x = X[h, t, c], p = 1 + square (f32 or wider).
 * n <= every meta length. */
KVP_PARAMS(kvp_p_channel_mean) {
    int H;
    int n;
    int d;
    int dtype;
    int square;
} KVP_PARAMS_END(kvp_p_channel_mean)

/* CHANNEL_ZERO: zeroes chosen channels of every cached row of each head (ThinK).
 * bindings: 0 X (dtype, cache rows, in/out)  1 meta  2 keep int32 [H, d]
 * For every t < meta length of head h and every c with keep[h, c] == 0: X[h, t, c] = 0.
 * Nothing else is written. */
KVP_PARAMS(kvp_p_channel_zero) {
    int H;
    int d;
    int dtype;
} KVP_PARAMS_END(kvp_p_channel_zero)

#define KVP_PASS_REDUCE_MAX 0  /* PASS_SCORE: maximum over the reduced rows/heads */
#define KVP_PASS_REDUCE_MEAN 1 /* PASS_SCORE: mean over the reduced rows/heads */
#define KVP_PASS_GROUP_NONE 2  /* PASS_SCORE: one output row per query head */

/* PASS_SCORE: the attention an extra forward pass of the model (KVzip's context
 * reconstruction, KVCompose's replay) pays to part of a cache layer, reduced over its rows.
 * bindings: 0 q f32 [Hq, m, d] (the pass's POST-RoPE queries)
 *           1 K (k_dtype, cache rows)  2 meta
 *           3 kself [Hk, m, d] (s_dtype): the pass's own POST-RoPE keys
 *           4 rnorm f32 [m] (read when has_row_norm)
 *           5 ccol f32 [Hq, ccol_stride]: factor of cache token t for head i at [i, t]
 *             (read when has_col_scale)
 *           6 out f32 [Hq or Hk, out_stride] (in/out)
 * For query head i (kv head j = i / (Hq/Hk)) and pass row a, the keys are: cache tokens
 * t in [0, n_sink) and in [s, e) of head j, then the pass's keys b = 0 .. a (causal; later
 * ones are excluded, as kvpress's mask of the most negative finite value). With
 * z = scale <q[i, a], key>, P = softmax over those keys, and for each chunk token t in [s, e):
 *   v[i, a, t] = P[t] / (has_row_norm ? rnorm[a] : 1) * (has_col_scale ? ccol[i, t] : 1)
 *   r[i, t] = max over a (row_mode MAX) or (1/m) sum over a (MEAN) of v[i, a, t].
 * group_mode NONE writes out[i, t] = r[i, t]; MAX / MEAN write out[j, t] = the maximum / mean
 * of r over the query heads of group j. Only columns [s, e) are written. Requires
 * n_sink <= s <= e <= every meta length and m >= 1. (The sink columns and the pass's keys
 * only take part in the softmax, so they need no column factor.) */
KVP_PARAMS(kvp_p_pass_score) {
    int Hq;
    int Hk;
    int d;
    int m;
    int n_sink;
    int s;
    int e;
    int k_dtype;
    int s_dtype;
    int row_mode;
    int group_mode;
    int has_row_norm;
    int has_col_scale;
    int ccol_stride;
    int out_stride;
    float scale;
} KVP_PARAMS_END(kvp_p_pass_score)

/* WOV_NORM: norm of each value row through its query heads' output projection (KVzip+).
 * bindings: 0 V (v_dtype, cache rows)  1 meta  2 wo [D, Hq*d] (wo_dtype)
 *           3 out f32 [Hq, out_stride] (in/out)
 * For query head i of kv head j = i / (Hq/Hk) and token t in [t0, t1):
 * out[i, t] = sqrt( sum_{o < D} ( sum_{c < d} V[j, t, c] wo[o, i*d + c] )^2 ).
 * Other columns are not written. Requires t1 <= every meta length. */
KVP_PARAMS(kvp_p_wov_norm) {
    int Hq;
    int Hk;
    int d;
    int D;
    int t0;
    int t1;
    int v_dtype;
    int wo_dtype;
    int out_stride;
} KVP_PARAMS_END(kvp_p_wov_norm)

/* FASTKVZIP_GATE: Fast KVzip's learned gate (arXiv 2601.17668, PRESSES.md 2.28): the
 * probability that each token's own gate key beats S learned sink keys, per kv head.
 * bindings: 0 h [n, D] (h_dtype): the attention inputs of the layer
 *           1 w f32: the layer's gate, packed in this order (E = e, GE = G e):
 *             wq [Hk GE, D], bq [Hk GE], wk [Hk E, D], qn [e], kn [e], kb [Hk, S, e], b [Hk, G]
 *           2 out f32 [Hk, n]
 * For token t and kv head j: k_c = (wk[j e + c] . h_t), kappa_c = kn[c] k_c / rms(k), and for
 * g < G: q_c = (wq[(j G + g) e + c] . h_t) + bq[(j G + g) e + c], u_c = qn[c] q_c / rms(q),
 * with rms(x) = sqrt(mean_c x_c^2 + eps);
 * l = inv_scale <kappa, u> + b[j, g], l_s = inv_scale <kb[j, s], u>,
 * p_g = 1 / (1 + sum_{s < S} exp(l_s - l)); out[j, t] = (1/G) sum_g p_g. */
KVP_PARAMS(kvp_p_fastkvzip_gate) {
    int n;
    int D;
    int Hk;
    int G;
    int e;
    int S;
    int h_dtype;
    float eps;
    float inv_scale;
} KVP_PARAMS_END(kvp_p_fastkvzip_gate)
/* HEAD_SUBSET_MEAN: the mean of a list of query-head rows, written to every kv head (the
 * scores of a layer's chosen query heads fused into one row shared by all kv heads, as
 * CompressKV's semantic-retrieval heads do).
 * bindings: 0 in f32 [Hq, n]  1 heads int32 [k], each in [0, Hq) (repeats allowed)
 *           2 out f32 [Hk, n]
 * out[j, t] = (1/k) sum_{a < k} in[heads[a], t] for every j < Hk and t < n. k >= 1. */
KVP_PARAMS(kvp_p_head_subset_mean) {
    int Hq;
    int Hk;
    int n;
    int k;
} KVP_PARAMS_END(kvp_p_head_subset_mean)

/* ==========================================================================================
 * Pass parameters of the GPU kernels (backends/gpu/gpu_plan.c). An op that runs as several
 * kernels passes one of these structs to each of its passes; the kernel bodies
 * (shaders/common/<kernel>.inc) document their bindings. Same rules as above.
 * ======================================================================================== */

/* fill: buf[i] = value (bit pattern) for i < count. */
KVP_PARAMS(kvp_p_fill) {
    int count;
    int value;
} KVP_PARAMS_END(kvp_p_fill)

/* copy_words: dst[i] = src[i] for i < count (32-bit words). */
KVP_PARAMS(kvp_p_copy_words) {
    int count;
} KVP_PARAMS_END(kvp_p_copy_words)

/* attn_colsum_*: ATTN_COLSUM with the rows = G*w window rows of each kv head packed into
 * tiles of 64 (a key tile is read once per GQA group); the row statistics pass takes the
 * key tiles sp, sp + nsplit, ... of a head (split-K) and attn_colsum_merge merges them. */
KVP_PARAMS(kvp_p_attn_colsum_pass) {
    int Hq;
    int Hk;
    int d;
    int w;
    int n;
    int q_pos0;
    int k_dtype;
    int mean_mode;
    float scale;
    int nsplit;
    int rows;
} KVP_PARAMS_END(kvp_p_attn_colsum_pass)

/* qstats_*: the QSTATS op split into column sums, chunk mean, centred second moment and
 * merge. Rows [r0, m) are cut into nchunk chunks of `chunk` rows for the mean and into
 * nsplit splits of `split` rows for the second moment; tiles = number of 64x64 tiles of the
 * upper triangle of the d x d matrix. */
KVP_PARAMS(kvp_p_qstats_pass) {
    int H;
    int m;
    int d;
    int dtype;
    int r0;
    int n_prev;
    int nchunk;
    int chunk;
    int nsplit;
    int split;
    int tiles;
} KVP_PARAMS_END(kvp_p_qstats_pass)

/* softmax_partial / softmax_apply: columns [t0, n) of each row cut into nchunk chunks of
 * `chunk` columns (nchunk <= KVP_WG). */
KVP_PARAMS(kvp_p_softmax_pass) {
    int H;
    int n;
    int t0;
    int nchunk;
    int chunk;
} KVP_PARAMS_END(kvp_p_softmax_pass)

/* score_pad_max / score_pad_apply: nparts partial maxima (nparts <= KVP_WG). */
KVP_PARAMS(kvp_p_score_pad_pass) {
    int H;
    int n;
    int lo;
    int hi;
    int nparts;
} KVP_PARAMS_END(kvp_p_score_pad_pass)

/* topk_*: radix selection over `rows` independent rows of `len` entries (per-row mode:
 * rows = H, len = n; global mode: rows = 1, len = H*n), each cut into nchunk chunks of
 * `chunk` entries. Digit passes select bits [shift, shift + bits) of the order key. */
KVP_PARAMS(kvp_p_topk_pass) {
    int rows;
    int len;
    int k;
    int nchunk;
    int chunk;
    int shift;
    int bits;
} KVP_PARAMS_END(kvp_p_topk_pass)

/* compact_*: the COMPACT op as count / scan / gather / copy back, over nchunk chunks of
 * KVP_WG rows per head; `words` = 32-bit words per cache row. */
KVP_PARAMS(kvp_p_compact_pass) {
    int Hk;
    int d;
    int n;
    int kv_dtype;
    int words;
    int nchunk;
} KVP_PARAMS_END(kvp_p_compact_pass)

/* attention_tile / attention_decode / attention_combine: flash attention with the
 * rows = G*m query rows of each kv head (G = Hq/Hk query heads times m queries) packed into
 * tiles (16 rows; attention_decode: all of at most 4), so a key or value tile is read once for
 * the whole GQA group; with nsplit > 1 the key tiles of a head are shared out among nsplit
 * workgroups (split-K) and attention_combine merges them. */
KVP_PARAMS(kvp_p_attention_split) {
    int Hq;
    int Hk;
    int d;
    int m;
    int q_pos0;
    int q_dtype;
    int kv_dtype;
    float scale;
    int nsplit;
    int rows;
} KVP_PARAMS_END(kvp_p_attention_split)

/* keydiff_*: rows of each head cut into nchunk chunks of `chunk` rows for the anchor sums. */
KVP_PARAMS(kvp_p_keydiff_pass) {
    int Hk;
    int d;
    int n;
    int k_dtype;
    int nchunk;
    int chunk;
} KVP_PARAMS_END(kvp_p_keydiff_pass)

/* ---- passes of the scorer-press ops (anchor_cosine ... channel_zero) --------------------- */

/* anchor_cosine / anchor_exp: ANCHOR_COSINE with the columns [t0, n) of each head cut into
 * nchunk (<= KVP_WG) chunks of `chunk` columns; partial maxima per chunk. */
KVP_PARAMS(kvp_p_anchor_pass) {
    int Hq;
    int Hk;
    int d;
    int n;
    int t0;
    int k_dtype;
    int exp_shift;
    float scale;
    int nchunk;
    int chunk;
} KVP_PARAMS_END(kvp_p_anchor_pass)

/* gram_tile / gram_merge: GRAM as 64 x 64 tiles of the upper triangle (`tiles` of them),
 * the columns [t0, n) cut into nsplit splits of `split` rows (split-K). */
KVP_PARAMS(kvp_p_gram_pass) {
    int H;
    int Hx;
    int d;
    int n;
    int t0;
    int x_dtype;
    int has_w;
    float eps;
    float diag;
    int compensated;
    int nsplit;
    int split;
    int tiles;
} KVP_PARAMS_END(kvp_p_gram_pass)

/* sketch_colsum / sketch_gemm: SKETCH with the rows cut into nchunk chunks of `chunk` rows
 * for the column sums. */
KVP_PARAMS(kvp_p_sketch_pass) {
    int H;
    int n;
    int d;
    int k;
    int x_dtype;
    int x_rows;
    int r0;
    int nchunk;
    int chunk;
} KVP_PARAMS_END(kvp_p_sketch_pass)

/* zscore_sum / zscore_var / zscore_apply: ZSCORE with nparts (<= KVP_WG) partial sums. */
KVP_PARAMS(kvp_p_zscore_pass) {
    int H;
    int m;
    int n_out;
    int off;
    int accumulate;
    float scale;
    int nparts;
} KVP_PARAMS_END(kvp_p_zscore_pass)

/* score_pad_add_apply: SCORE_PAD_ADD after score_pad_max (same leading members as
 * kvp_p_score_pad_pass). */
KVP_PARAMS(kvp_p_score_pad_add_pass) {
    int H;
    int n;
    int lo;
    int hi;
    int nparts;
    float add;
} KVP_PARAMS_END(kvp_p_score_pad_add_pass)

/* channel_mean_part / channel_mean_merge: CHANNEL_MEAN with the rows cut into nchunk chunks
 * of `chunk` rows. */
KVP_PARAMS(kvp_p_channel_mean_pass) {
    int H;
    int n;
    int d;
    int dtype;
    int square;
    int nchunk;
    int chunk;
} KVP_PARAMS_END(kvp_p_channel_mean_pass)

/* Threads that cooperate on one row of d elements in the row-reduction kernels (row_norm,
 * keydiff_invnorm, keydiff_score): the largest power of two <= min(d, 32). */
#define KVP_ROW_TPR(d)                                                                        \
    ((d) >= 32 ? 32 : (d) >= 16 ? 16 : (d) >= 8 ? 8 : (d) >= 4 ? 4 : (d) >= 2 ? 2 : 1)

#endif /* KVP_PARAMS_H */
