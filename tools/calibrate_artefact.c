/* The CompressKV artefact's tensors, written by kvpress-tool calibrate and built in memory for
 * the profile's simulation (see calibrate.h and core/presses/compresskv.h), and the small
 * helpers the calibration files share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "core/presses/compresskv.h"
#include "safetensors.h"

int calibrate_add_tensors(st_writer *w, const llama_model *m, const float *ranking,
                          const float *profile, char *err, size_t err_size) {
    const llama_config *c = &m->cfg;
    char hk[32];
    snprintf(hk, sizeof hk, "%d", c->n_kv_heads);
    int64_t rs[2] = {c->n_layers, c->n_heads}, ps[1] = {c->n_layers};
    return st_writer_add_meta(w, "format", KVP_COMPRESSKV_FORMAT, err, err_size) ||
           st_writer_add_meta(w, "n_kv_heads", hk, err, err_size) ||
           st_writer_add_f32(w, KVP_COMPRESSKV_RANKING, 2, rs, ranking, err, err_size) ||
           (profile && st_writer_add_f32(w, KVP_COMPRESSKV_PROFILE, 1, ps, profile, err, err_size));
}

kvp_artefact *calibrate_make_artefact(const llama_model *model, const float *ranking,
                                      const float *profile, char *err, size_t err_size) {
    st_writer *w = st_writer_create();
    kvp_artefact *a = NULL;
    char msg[512];
    if (!w)
        snprintf(err, err_size, "calibrate: out of memory");
    else if (!calibrate_add_tensors(w, model, ranking, profile, err, err_size) &&
             st_writer_to_artefact(w, &a, msg, sizeof msg))
        snprintf(err, err_size, "calibrate: %s", msg);
    st_writer_free(w);
    return a;
}

int calibrate_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

const char *calibrate_base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}
