#include <math.h>
#include <stdlib.h>

#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_linear *p;
    const void *x, *W;
    const float *b;
    float *y;
    float *w32; /* W converted to f32 once */
} job;

static void one_row(void *arg, int r, void *scratch) {
    const job *jb = arg;
    const kvp_p_linear *p = jb->p;
    float *x = scratch;
    kvp_cpu_load_row(p->x_dtype, jb->x, (size_t)r * p->n_in, p->n_in, x);
    for (int o = 0; o < p->n_out; o++) {
        double z = kvp_cpu_dot(x, jb->w32 + (size_t)o * p->n_in, p->n_in);
        if (p->has_bias) z += jb->b[o];
        if (p->act == KVP_ACT_GELU) z = 0.5 * z * (1.0 + erf(z / sqrt(2.0)));
        size_t at = p->out_t ? (size_t)o * p->rows + r : (size_t)r * p->n_out + o;
        jb->y[at] = (float)z;
    }
}

kvp_status kvp_cpu_op_linear(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_linear *p = params;
    size_t wn = (size_t)p->n_out * (size_t)p->n_in;
    float *w32 = kvp__malloc(ctx, wn * sizeof(float));
    if (!w32) return KVP_ERR_OUT_OF_HOST_MEMORY;
    kvp_cpu_load_row(p->w_dtype, ptr[1], 0, (int)wn, w32);
    job jb = {p, ptr[0], ptr[1], ptr[2], ptr[3], w32};
    kvp_status st = kvp_cpu_parallel(ctx, p->rows, sizeof(float) * (size_t)p->n_in, one_row, &jb);
    free(w32);
    return st;
}
