/* CompressKV (arXiv 2508.02401): what the press (compresskv.c), its calibration
 * (kvpress-tool calibrate) and the tests share: the artefact's tensor names and the
 * layer-adaptive budget allocation. */
#ifndef KVP_COMPRESSKV_H
#define KVP_COMPRESSKV_H

#include <stdint.h>

#include "kvpress/kvpress.h"

/* The artefact (safetensors; README "CompressKV artefact" has the whole format):
 *   head_ranking   [L, Hq]  every layer's query heads by decreasing semantic-retrieval score,
 *                           a permutation of 0 .. Hq-1 stored as whole numbers (required);
 *   head_scores    [L, Hq]  the scores behind the ranking (optional, informational);
 *   layer_profile  [L]      the normalised eviction-error profile, >= 0, sum 1 (optional:
 *                           without it every layer gets the average budget);
 *   layer_errors   [G, L]   the raw per-group error sums behind the profile (optional).
 * __metadata__ "format" is KVP_COMPRESSKV_FORMAT when present; "n_kv_heads", when present,
 * must match the cache. */
#define KVP_COMPRESSKV_FORMAT "kvpress-compresskv-1"
#define KVP_COMPRESSKV_RANKING "head_ranking"
#define KVP_COMPRESSKV_SCORES "head_scores"
#define KVP_COMPRESSKV_PROFILE "layer_profile"
#define KVP_COMPRESSKV_ERRORS "layer_errors"
/* Larger models than any published one, small enough for stack arrays of budgets. */
#define KVP_COMPRESSKV_MAX_LAYERS 1024
#define KVP_COMPRESSKV_MAX_HEADS 4096

/* Per-layer budgets out[L] from the profile e[L] (>= 0, sum ~1) for an average budget B,
 * with bounds m <= B <= M (COMPRESSKV.md 2.2, the reference code's rule):
 *   out[l] = clip(m + rint(e[l] (L B - L m)), m, M)   (rint: half to even)
 * then the difference D = L B - sum(out) is given back one unit per layer per pass: D > 0
 * adds to layers below M in decreasing e order, D < 0 takes from layers above m in
 * increasing e order (ties: lower layer first), until sum(out) = L B.
 * KVP_ERR_INVALID_ARG (thread message) for L outside [1, KVP_COMPRESSKV_MAX_LAYERS], bounds
 * out of order, or an entry of e that is negative or not finite. */
kvp_status kvp__compresskv_budgets(const double *e, int L, int64_t B, int64_t m, int64_t M,
                                   int64_t *out);

#endif /* KVP_COMPRESSKV_H */
