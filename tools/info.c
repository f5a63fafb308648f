/* kvpress-tool info: every backend and device, and why a backend is absent. */
#include <stdio.h>

#include "tool.h"

int tool_info(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("libkvpress %s\n\nbackends:\n", kvp_version_string());
    int nb = 0;
    kvp_backend_count(&nb);
    for (int i = 0; i < nb; i++) {
        kvp_backend_info b;
        kvp_backend_get_info(i, &b);
        if (b.available)
            printf("  %-7s available, %d device%s\n", b.name, b.device_count,
                   b.device_count == 1 ? "" : "s");
        else
            printf("  %-7s %s: %s\n", b.name, b.compiled ? "unavailable" : "absent", b.reason);
    }
    int nd = 0;
    kvp_device_count(&nd);
    printf("\ndevices:\n");
    for (int i = 0; i < nd; i++) {
        kvp_device *d;
        kvp_device_props p;
        if (kvp_device_get(i, &d) != KVP_OK || kvp_device_get_props(d, &p) != KVP_OK) continue;
        printf("  %s\n", p.name);
        printf("    name           %s\n", p.description);
        printf("    backend        %s (%s)\n", p.backend, p.driver);
        printf("    type           %s\n", kvp_device_type_name(p.type));
        printf("    memory         %.2f GiB\n", (double)p.memory_bytes / (1024.0 * 1024 * 1024));
        printf("    compute units  %d\n", p.compute_units);
        if (p.max_workgroup_size > 1)
            printf("    workgroup      %d max, subgroup %d\n", p.max_workgroup_size, p.subgroup_size);
        printf("    cache dtypes  ");
        for (int t = 0; t < KVP_DTYPE_COUNT; t++)
            if (p.dtype_mask & (1u << t)) printf(" %s", kvp_dtype_name((kvp_dtype)t));
        printf("\n");
        if (p.peak_bandwidth_gbs > 0) printf("    bandwidth      %.0f GB/s (peak)\n", p.peak_bandwidth_gbs);
    }
    return 0;
}
