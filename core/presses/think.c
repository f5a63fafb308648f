/* ThinKPress (arXiv 2407.21018; PRESSES.md 2.22): prunes key *channels*, not tokens. Per kv
 * head, channel c scores mean_a q_{a,c}^2 (the last window_size post-RoPE queries, averaged
 * over the head's group) times mean_t k_{t,c}^2; the floor(d * key_channel_compression_ratio)
 * lowest-scoring channels are set to 0 in every cached key. Values, lengths and positions do
 * not change, and, as in kvpress, no memory is saved (kvpress reports compression_ratio =
 * key_channel_compression_ratio / 2). Fewer than window_size queries: all are used (kvpress
 * takes hidden_states[-window_size:]). Ties between channel scores go to the lower channel.
 *
 * Recipe: ROPE (window queries) -> CHANNEL_MEAN (squares) -> HEAD_REDUCE; CHANNEL_MEAN of the
 * keys; SCORE_MAP (product) -> TOPK (kept channels) -> CHANNEL_ZERO. */
#include "press_impl.h"

static kvp_status think_compress(kvp_press *p, const kvp_press_run *run) {
    kvp_context *ctx = run->ctx;
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    double rho = kvp__press_param(p, "key_channel_compression_ratio");
    int d = run->d, Hk = run->Hk;
    int pruned = (int)((double)d * rho);
    if (rho == 0 || pruned == 0) return KVP_OK;
    int64_t m = run->in->queries.t.shape[1], w = kvp__press_int(p, "window_size");
    if (w > m) w = m;
    int Hq = (int)run->in->queries.t.shape[0];
    kvp_buffer *q, *qmeta, *qn, *qg, *kn, *keep;
    int64_t q_pos0;
    KVP_TRY(kvp__window_queries(run, w, &q, &q_pos0));
    KVP_TRY(kvp__meta_dense(run, Hq, w, 0, &qmeta));
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hq * d, &qn));
    kvp_p_channel_mean cq = {.H = Hq, .n = (int)w, .d = d, .dtype = KVP_DT_F32, .square = 1};
    KVP_TRY(KVP_RUN(ctx, CHANNEL_MEAN, &cq, KVP_B(q), KVP_B(qmeta), KVP_B(qn)));
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hk * d, &qg));
    kvp_p_head_reduce hr = {.Hq = Hq, .Hk = Hk, .n = d, .mode = KVP_REDUCE_GROUP_MEAN};
    KVP_TRY(KVP_RUN(ctx, HEAD_REDUCE, &hr, KVP_B(qn), KVP_B(qg)));
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hk * d, &kn));
    kvp_p_channel_mean ck = {.H = Hk, .n = (int)run->n, .d = d,
                             .dtype = (int)run->cache->opt.dtype, .square = 1};
    KVP_TRY(KVP_RUN(ctx, CHANNEL_MEAN, &ck, KVP_BO(L->keys, L->keys_offset), KVP_B(L->meta),
                    KVP_B(kn)));
    kvp_p_score_map sm = {.H = Hk, .n = d, .has_w = 1, .a = 1.0f, .b = 0.0f};
    KVP_TRY(KVP_RUN(ctx, SCORE_MAP, &sm, KVP_B(qg), KVP_B(kn)));
    if (ctx->options.check_finite) {
        kvp_tensor t = kvp_tensor_device(KVP_DTYPE_F32, qg, 0, 2, Hk, d, 1);
        KVP_TRY(kvp__tensor_check_finite(ctx, &t, "think: the channel scores"));
    }
    KVP_TRY(kvp__scratch(ctx, sizeof(int32_t) * (size_t)Hk * d, &keep));
    kvp_p_topk tk = {.H = Hk, .n = d, .k = d - pruned, .global_mode = 0};
    KVP_TRY(KVP_RUN(ctx, TOPK, &tk, KVP_B(qg), KVP_B(keep)));
    kvp_p_channel_zero cz = {.H = Hk, .d = d, .dtype = (int)run->cache->opt.dtype};
    return KVP_RUN(ctx, CHANNEL_ZERO, &cz, KVP_BO(L->keys, L->keys_offset), KVP_B(L->meta),
                   KVP_B(keep));
}

static const kvp_param_info think_params[] = {
    {"key_channel_compression_ratio", KVP_PARAM_FLOAT, 0.0, 0.0, 1.0, 1,
     "fraction of the key channels to zero in every kv head"},
    {"window_size", KVP_PARAM_INT, 32, 1, 1e9, 0,
     "recent queries whose channel norms score the key channels"},
};

const kvp_press_vtable kvp_press_think = {
    .info = {.name = "think",
             .summary = "zero the least important key channels of every head",
             .paper = "arXiv:2407.21018",
             .kind = KVP_PRESS_STRUCTURAL,
             .needs = KVP_NEED_QUERIES | KVP_NEED_ROPE,
             .n_params = KVP_COUNT(think_params),
             .params = think_params},
    .compress = think_compress,
};
