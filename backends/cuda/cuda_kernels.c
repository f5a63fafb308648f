/* The table of the CUDA kernels compiled into this build, by the names the GPU plans use.
 * Each wrapper shaders/cuda/<name>.cu exports a kvp_cuda_kernel record kvp_cuda_kernel_<name>;
 * the list comes from backends/cuda/meson.build. */
#include <string.h>

#include "backends/cuda/kvp_cuda_kernel_list.h"
#include "cuda_internal.h"

#define X(name) extern const kvp_cuda_kernel kvp_cuda_kernel_##name;
KVP_CUDA_KERNEL_LIST
#undef X

static const kvp_cuda_kernel *const kernels[] = {
#define X(name) &kvp_cuda_kernel_##name,
    KVP_CUDA_KERNEL_LIST
#undef X
};

#define N_KERNELS ((int)(sizeof kernels / sizeof kernels[0]))

const kvp_cuda_kernel *kvp_cuda_kernel_find(const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < N_KERNELS; i++)
        if (strcmp(kernels[i]->name, name) == 0) return kernels[i];
    return NULL;
}

int kvp_cuda_kernel_count(void) { return N_KERNELS; }

const kvp_cuda_kernel *kvp_cuda_kernel_at(int index) {
    return index >= 0 && index < N_KERNELS ? kernels[index] : NULL;
}
