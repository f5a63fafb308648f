/* kvpress-tool calibrate --from-reference: the CompressKV reference repository's files as an
 * artefact (COMPRESSKV.md 5.6), for models calibrated there (Llama-3.1-8B, Mistral-7B-v0.3,
 * Qwen2.5-7B). The files carry no licence, so the library ships none of them; this converts a
 * copy the user has:
 *   <model>_head_idx.json        {"0": [heads of layer 0 by decreasing SRH score], ...}
 *   <model>_layer_score.jsonl    one JSON object (despite the name) of per-dataset profiles
 *                                and their "avg_score", the profile the reference uses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "core/json.h"
#include "core/presses/compresskv.h"
#include "safetensors.h"

/* The ranking [L, Hq] of a head_idx file: keys "0" .. "L-1", each a permutation of 0..Hq-1. */
static float *read_ranking(const kvp_json *root, int *L_out, int *Hq_out, char *err,
                           size_t err_size) {
    if (!root || root->kind != KVP_JSON_OBJECT || root->count < 1 ||
        root->count > KVP_COMPRESSKV_MAX_LAYERS) {
        snprintf(err, err_size, "the head list is not an object of 1 to %d layers",
                 KVP_COMPRESSKV_MAX_LAYERS);
        return NULL;
    }
    int L = root->count, Hq = 0;
    float *ranking = NULL;
    for (int l = 0; l < L; l++) {
        char key[16];
        snprintf(key, sizeof key, "%d", l);
        const kvp_json *row = kvp__json_get(root, key);
        if (!row || row->kind != KVP_JSON_ARRAY || row->count < 1 ||
            row->count > KVP_COMPRESSKV_MAX_HEADS || (Hq && row->count != Hq)) {
            snprintf(err, err_size, "layer \"%s\" of the head list is missing or not a list of "
                     "every query head", key);
            free(ranking);
            return NULL;
        }
        if (!Hq) {
            Hq = row->count;
            if (!(ranking = malloc(sizeof(float) * (size_t)L * (size_t)Hq))) {
                snprintf(err, err_size, "out of memory");
                return NULL;
            }
        }
        for (int i = 0; i < Hq; i++) {
            const kvp_json *h = row->items[i];
            if (h->kind != KVP_JSON_NUMBER || h->number != floor(h->number) || h->number < 0 ||
                h->number >= Hq) {
                snprintf(err, err_size, "layer %d, entry %d of the head list is not a head index "
                         "below %d", l, i, Hq);
                free(ranking);
                return NULL;
            }
            ranking[(size_t)l * Hq + i] = (float)h->number;
        }
    }
    *L_out = L;
    *Hq_out = Hq;
    return ranking; /* permutations are checked with the whole artefact */
}

/* "avg_score" of a layer_score file, [L]. */
static float *read_profile(const kvp_json *root, int L, char *err, size_t err_size) {
    const kvp_json *avg =
        root && root->kind == KVP_JSON_OBJECT ? kvp__json_get(root, "avg_score") : NULL;
    if (!avg || avg->kind != KVP_JSON_ARRAY || avg->count != L) {
        snprintf(err, err_size, "the layer scores have no \"avg_score\" list of %d layers", L);
        return NULL;
    }
    float *profile = malloc(sizeof(float) * (size_t)L);
    if (!profile) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    for (int l = 0; l < L; l++) {
        if (avg->items[l]->kind != KVP_JSON_NUMBER) {
            snprintf(err, err_size, "avg_score[%d] is not a number", l);
            free(profile);
            return NULL;
        }
        profile[l] = (float)avg->items[l]->number;
    }
    return profile;
}

int calibrate_convert(const char *heads_path, const char *scores_path, int n_kv_heads,
                      const char *out, char *err, size_t err_size) {
    char msg[512] = "";
    int L = 0, Hq = 0, rc = -1;
    float *ranking = NULL, *profile = NULL;
    st_writer *w = NULL;
    kvp_artefact *a = NULL;
    kvp_press *press = NULL;
    kvp_json *heads = kvp__json_parse_file(heads_path, msg, sizeof msg);
    kvp_json *scores = scores_path ? kvp__json_parse_file(scores_path, msg, sizeof msg) : NULL;
    if (!heads || (scores_path && !scores)) {
        snprintf(err, err_size, "calibrate: %s", msg);
        goto done;
    }
    if (!(ranking = read_ranking(heads, &L, &Hq, msg, sizeof msg))) {
        snprintf(err, err_size, "calibrate: %s: %s", heads_path, msg);
        goto done;
    }
    if (scores && !(profile = read_profile(scores, L, msg, sizeof msg))) {
        snprintf(err, err_size, "calibrate: %s: %s", scores_path, msg);
        goto done;
    }
    char hk[32];
    snprintf(hk, sizeof hk, "%d", n_kv_heads);
    int64_t rs[2] = {L, Hq}, ps[1] = {L};
    if (!(w = st_writer_create()) ||
        st_writer_add_meta(w, "format", KVP_COMPRESSKV_FORMAT, msg, sizeof msg) ||
        (n_kv_heads > 0 && st_writer_add_meta(w, "n_kv_heads", hk, msg, sizeof msg)) ||
        st_writer_add_f32(w, KVP_COMPRESSKV_RANKING, 2, rs, ranking, msg, sizeof msg) ||
        (profile && st_writer_add_f32(w, KVP_COMPRESSKV_PROFILE, 1, ps, profile, msg, sizeof msg)) ||
        st_writer_add_meta(w, "srh_source", calibrate_base_name(heads_path), msg, sizeof msg) ||
        (scores_path && st_writer_add_meta(w, "profile_source", calibrate_base_name(scores_path),
                                           msg, sizeof msg)) ||
        st_writer_to_artefact(w, &a, msg, sizeof msg)) {
        snprintf(err, err_size, "calibrate: %s", w ? msg : "out of memory");
        goto done;
    }
    /* the press's own checks: permutations, a normalised profile, kv heads dividing Hq */
    if (kvp_press_create("compresskv", &press) != KVP_OK ||
        kvp_press_set_artefact(press, a) != KVP_OK) {
        snprintf(err, err_size, "calibrate: %s", kvp_last_error());
        goto done;
    }
    if (st_writer_save(w, out, msg, sizeof msg)) {
        snprintf(err, err_size, "calibrate: %s", msg);
        goto done;
    }
    printf("%d layers x %d query heads%s; wrote %s\n", L, Hq, profile ? " with a layer profile" : "",
           out);
    rc = 0;
done:
    kvp_press_destroy(press);
    kvp_artefact_destroy(a);
    st_writer_free(w);
    free(ranking);
    free(profile);
    kvp__json_free(heads);
    kvp__json_free(scores);
    return rc;
}
