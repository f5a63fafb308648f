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
 * KVP_COLSUM_VISIBLE a key seen by no row gets 0. Requires n <= every meta length. */
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
 * divides by #{a in [r0, r1) : row_pos0 + a >= t} (0 if none), KVP_COLSUM_WINDOW by r1 - r0. */
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

/* Threads that cooperate on one row of d elements in the row-reduction kernels (row_norm,
 * keydiff_invnorm, keydiff_score): the largest power of two <= min(d, 32). */
#define KVP_ROW_TPR(d)                                                                        \
    ((d) >= 32 ? 32 : (d) >= 16 ? 16 : (d) >= 8 ? 8 : (d) >= 4 ? 4 : (d) >= 2 ? 2 : 1)

#endif /* KVP_PARAMS_H */
