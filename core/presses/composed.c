/* ComposedPress (kvpress composed_press.py): presses applied one after another on the same
 * layer, each to what the previous one left; the ratio it reports is 1 - prod(1 - r_p).
 * Later presses see the original inputs (queries, hidden states), as in kvpress; attention
 * probabilities given for the full layer no longer fit once a press has evicted tokens, and
 * are refused with a clear error.
 *
 * Differences from kvpress, on purpose: kvpress rejects AdaKV (head-wise) members; here a
 * head-wise press may be the last member (it leaves the layer ragged, which no later press
 * could read). And since this cache keeps entries in position order (kvpress keeps the
 * kept tokens of a gather in score order), a later member that depends on the order of the
 * cached tokens (StreamingLLM, window scorers) sees the tokens in position order.
 *
 * If a member fails, the layer is restored from a copy taken before the first member ran,
 * so the cache is left as it was. */
#include <math.h>

#include "press_impl.h"

static const kvp_param_list *members(const kvp_press *p) { return kvp__press_list(p, "presses"); }

static double composed_ratio(const kvp_press *p, int layer) {
    const kvp_param_list *l = members(p);
    double kept = 1.0;
    for (int k = 0; k < l->count; k++) {
        double r = kvp__press_layer_ratio(l->presses[k], layer);
        if (isnan(r)) return NAN; /* a member not driven by a ratio: always run */
        kept *= 1.0 - r;
    }
    return 1.0 - kept;
}

static kvp_status composed_accept(const kvp_press *p, const kvp_param_info *pi,
                                  const kvp_press *member) {
    if (member->vt->info.kind == KVP_PRESS_DECODING || (!member->vt->score && !member->vt->compress))
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "%s.%s: %s compresses during decoding, not in a prefill chain",
                              p->vt->info.name, pi->name, member->vt->info.name);
    return KVP_OK;
}

static kvp_status composed_check(const kvp_press *p, const kvp_press_run *run) {
    const kvp_param_list *l = members(p);
    for (int k = 0; k + 1 < l->count; k++)
        if (l->presses[k]->vt->info.kind == KVP_PRESS_HEADWISE)
            return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                              "composed: %s (press %d of %d) is head-wise and leaves the layer "
                              "ragged; only the last press of a chain may be head-wise",
                              l->presses[k]->vt->info.name, k + 1, l->count);
    return KVP_OK;
}

static kvp_status composed_compress(kvp_press *p, const kvp_press_run *run) {
    kvp_context *ctx = run->ctx;
    const kvp_param_list *l = members(p);
    kvp_layer_backup backup;
    KVP_TRY(kvp__layer_backup(ctx, run->cache, run->layer, KVP_BACKUP_KEYS | KVP_BACKUP_VALUES,
                              &backup));
    kvp_status st = KVP_OK;
    for (int k = 0; st == KVP_OK && k < l->count; k++) {
        kvp_press *m = l->presses[k];
        kvp_press_run sub;
        st = kvp__press_subrun(m, run, &sub);
        /* as kvpress, a member at ratio 0 does nothing; an emptied layer has nothing left */
        if (st != KVP_OK || sub.ratio == 0 || sub.n == 0) continue;
        st = kvp__press_compress_run(m, &sub);
    }
    if (st != KVP_OK) {
        kvp_status rs = kvp__layer_restore(ctx, run->cache, run->layer, &backup);
        if (rs != KVP_OK)
            kvp__log(ctx, KVP_LOG_ERROR, "composed: the layer could not be restored after a failure");
    }
    kvp__layer_backup_free(&backup);
    return st;
}

static const kvp_param_info composed_params[] = {
    {"presses", KVP_PARAM_PRESS_LIST, 0, 0, 0, 0, "the presses to apply, in order"},
};

const kvp_press_vtable kvp_press_composed = {
    .info = {.name = "composed",
             .summary = "a chain of presses applied one after another",
             .paper = "kvpress ComposedPress",
             .kind = KVP_PRESS_WRAPPER,
             .n_params = KVP_COUNT(composed_params),
             .params = composed_params},
    .check = composed_check,
    .compress = composed_compress,
    .ratio = composed_ratio,
    .accept = composed_accept,
};
