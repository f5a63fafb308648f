#include <math.h>

#include "../cpu_ops.h"

kvp_status kvp_cpu_op_count_nonfinite(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_count_nonfinite *p = params;
    int32_t count = 0;
    for (int i = 0; i < p->count; i++)
        if (!isfinite(kvp_cpu_load(p->dtype, ptr[0], (size_t)i))) count++;
    *(int32_t *)ptr[1] = count;
    return KVP_OK;
}
