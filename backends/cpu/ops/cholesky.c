#include <math.h>

#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_cholesky *p;
    float *A;
    int32_t *info;
} job;

/* Cholesky-Banachiewicz in double on a copy of the lower triangle; the f32 result is
 * written back only as a whole. */
static void one_matrix(void *arg, int h, void *scratch) {
    const job *jb = arg;
    int d = jb->p->d;
    float *A = jb->A + (size_t)h * d * d;
    double *L = scratch;
    for (int i = 0; i < d; i++)
        for (int k = 0; k <= i; k++) L[(size_t)i * d + k] = A[(size_t)i * d + k];
    for (int k = 0; k < d; k++) {
        double piv = L[(size_t)k * d + k];
        for (int c = 0; c < k; c++) piv -= L[(size_t)k * d + c] * L[(size_t)k * d + c];
        if (!(piv > 0) || !isfinite(piv)) {
            jb->info[h] = k + 1;
            return;
        }
        double lkk = sqrt(piv);
        L[(size_t)k * d + k] = lkk;
        for (int i = k + 1; i < d; i++) {
            double s = L[(size_t)i * d + k];
            for (int c = 0; c < k; c++) s -= L[(size_t)i * d + c] * L[(size_t)k * d + c];
            L[(size_t)i * d + k] = s / lkk;
        }
    }
    jb->info[h] = 0;
    for (int i = 0; i < d; i++)
        for (int k = 0; k < d; k++) A[(size_t)i * d + k] = k <= i ? (float)L[(size_t)i * d + k] : 0.0f;
}

kvp_status kvp_cpu_op_cholesky(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_cholesky *p = params;
    job jb = {p, ptr[0], ptr[1]};
    return kvp_cpu_parallel(ctx, p->H, sizeof(double) * (size_t)p->d * (size_t)p->d, one_matrix,
                            &jb);
}
