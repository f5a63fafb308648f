/*
 * The Vulkan backend's runtime: device properties, memory (uploads, downloads, copies
 * through the staging paths), batching and barriers, plan execution, errors. Kernels are
 * exercised through plans written here for the two simplest kernels (score_map,
 * count_nonfinite), so these tests check the executor independently of the shared plan
 * layer; the op/press table (test_ops, test_presses) checks every op through the real plans.
 * Exits 77 (skip) when there is no Vulkan device.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "backends/vulkan/vk_internal.h"

static kvp_context *ctx;

static kvp_context *open_vulkan(void) {
    kvp_device *dev = NULL;
    kvp_context *c = NULL;
    if (kvp_device_by_name("vulkan", &dev) != KVP_OK) return NULL;
    if (kvp_context_create(dev, NULL, &c) != KVP_OK) return NULL;
    return c;
}

static void setup(void) {
    ctx = open_vulkan();
    ck_assert_msg(ctx != NULL, "vulkan context: %s", kvp_last_error());
}

static void teardown(void) {
    kvp_context_destroy(ctx);
    ctx = NULL;
}

/* Deterministic data (xorshift), so failures reproduce. */
static uint32_t rng_state = 12345u;
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}
static float rnd(void) { return (float)(rng() % 20001u) / 10000.0f - 1.0f; }

static kvp_buffer *alloc_buf(kvp_context *c, size_t bytes) {
    kvp_buffer *b = NULL;
    ck_assert_int_eq(kvp_buffer_alloc(c, bytes, &b), KVP_OK);
    return b;
}

/* ---- local plans for the two example kernels ------------------------------------------ */

static kvp_gpu_plan plan_one(const char *kernel, uint32_t groups, int n_bindings,
                             const void *params, size_t params_size) {
    kvp_gpu_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.n_passes = 1;
    plan.pass[0].kernel = kernel;
    plan.pass[0].groups[0] = groups;
    plan.pass[0].groups[1] = 1;
    plan.pass[0].groups[2] = 1;
    plan.pass[0].n_bindings = n_bindings;
    for (int i = 0; i < n_bindings; i++) plan.pass[0].binding[i] = i;
    plan.pass[0].params_size = params_size;
    memcpy(plan.pass[0].params, params, params_size);
    plan.written = 1u; /* score_map writes s, count_nonfinite writes only its result */
    return plan;
}

static kvp_status run_score_map(kvp_context *c, const kvp_p_score_map *p, kvp_buffer *s,
                                size_t s_off, kvp_buffer *w) {
    kvp_op_call call = {.op = KVP_OP_SCORE_MAP, .params = p, .n_bindings = 2};
    call.bindings[0] = (kvp_binding){s, s_off};
    call.bindings[1] = (kvp_binding){w, 0};
    kvp_gpu_plan plan =
        plan_one("score_map", (uint32_t)((p->H * p->n + 255) / 256), 2, p, sizeof *p);
    return kvp_vk_run_plan(c, &call, &plan);
}

static kvp_status run_count(kvp_context *c, const kvp_p_count_nonfinite *p, kvp_buffer *x,
                            kvp_buffer *out) {
    int32_t zero = 0;
    kvp_status st = kvp_buffer_upload(c, out, 0, &zero, sizeof zero);
    if (st != KVP_OK) return st;
    kvp_op_call call = {.op = KVP_OP_COUNT_NONFINITE, .params = p, .n_bindings = 2};
    call.bindings[0] = (kvp_binding){x, 0};
    call.bindings[1] = (kvp_binding){out, 0};
    kvp_gpu_plan plan =
        plan_one("count_nonfinite", (uint32_t)((p->count + 255) / 256), 2, p, sizeof *p);
    plan.written = 2u;
    return kvp_vk_run_plan(c, &call, &plan);
}

/* ---- device and registry ------------------------------------------------------------------ */

START_TEST(test_props) {
    kvp_device_props p;
    ck_assert_int_eq(kvp_device_get_props(kvp_context_device(ctx), &p), KVP_OK);
    ck_assert_str_eq(p.backend, "vulkan");
    ck_assert_int_eq(strncmp(p.name, "vulkan", 6), 0);
    ck_assert(p.description[0] != 0);
    ck_assert(strstr(p.driver, "Vulkan 1.") != NULL);
    ck_assert_int_ge(p.max_workgroup_size, KVP_VK_WG);
    ck_assert_int_ge(p.subgroup_size, 1);
    ck_assert(p.memory_bytes > 0);
    ck_assert_uint_eq(p.dtype_mask, 7u);
}
END_TEST

START_TEST(test_spirv_table) {
    /* Every kernel a plan can name has a portable variant, whose SPIR-V is well formed. */
    for (int k = 0; k < kvp_gpu_kernel_count; k++) {
        int portable = 0;
        for (int i = 0; i < kvp_vk_spirv_count; i++)
            if (!strcmp(kvp_vk_spirv_table[i].name, kvp_gpu_kernels[k]) &&
                kvp_vk_spirv_table[i].needs == 0)
                portable = 1;
        ck_assert_msg(portable, "kernel %s has no portable SPIR-V", kvp_gpu_kernels[k]);
    }
    for (int i = 0; i < kvp_vk_spirv_count; i++) {
        ck_assert_uint_eq(kvp_vk_spirv_table[i].words[0], 0x07230203u);
        ck_assert_uint_eq(kvp_vk_spirv_table[i].size % 4, 0);
    }
}
END_TEST

START_TEST(test_result_mapping) {
    ck_assert_int_eq(kvp_vk_result_status(VK_ERROR_OUT_OF_DEVICE_MEMORY),
                     KVP_ERR_OUT_OF_DEVICE_MEMORY);
    ck_assert_int_eq(kvp_vk_result_status(VK_ERROR_OUT_OF_HOST_MEMORY), KVP_ERR_OUT_OF_HOST_MEMORY);
    ck_assert_int_eq(kvp_vk_result_status(VK_ERROR_DEVICE_LOST), KVP_ERR_DEVICE_LOST);
    ck_assert_int_eq(kvp_vk_result_status(VK_ERROR_INCOMPATIBLE_DRIVER),
                     KVP_ERR_BACKEND_UNAVAILABLE);
    ck_assert_int_eq(kvp_vk_result_status(VK_ERROR_INVALID_SHADER_NV), KVP_ERR_KERNEL_BUILD);
    ck_assert_str_eq(kvp_vk_result_name(VK_ERROR_DEVICE_LOST), "VK_ERROR_DEVICE_LOST");
}
END_TEST

/* ---- memory -------------------------------------------------------------------------------- */

static void roundtrip(size_t bytes, size_t offset) {
    kvp_buffer *b = alloc_buf(ctx, bytes + offset);
    unsigned char *src = malloc(bytes), *dst = malloc(bytes);
    ck_assert(src && dst);
    for (size_t i = 0; i < bytes; i++) src[i] = (unsigned char)(rng() >> 7);
    memset(dst, 0xee, bytes);
    ck_assert_int_eq(kvp_buffer_upload(ctx, b, offset, src, bytes), KVP_OK);
    ck_assert_int_eq(kvp_buffer_download(ctx, b, offset, dst, bytes), KVP_OK);
    ck_assert_msg(memcmp(src, dst, bytes) == 0, "roundtrip of %zu bytes at %zu", bytes, offset);
    free(src);
    free(dst);
    kvp_buffer_free(b);
}

START_TEST(test_roundtrip_small) {
    roundtrip(1, 0);
    roundtrip(3, 1);
    roundtrip(4099, 7);
    roundtrip(300000, 12);
}
END_TEST

START_TEST(test_roundtrip_large) {
    /* Larger than a batch's staging area and the readback buffer: streams in pieces. */
    roundtrip((size_t)40 << 20, 4);
}
END_TEST

START_TEST(test_upload_order) {
    /* Uploads, copies and downloads take effect in call order even though nothing waits in
     * between: a later upload must not overtake the copy that reads the earlier contents. */
    const size_t n = 1000;
    int32_t a[1000], b[1000], out[1000];
    for (size_t i = 0; i < n; i++) {
        a[i] = (int32_t)i;
        b[i] = -(int32_t)i - 1;
    }
    kvp_buffer *x = alloc_buf(ctx, n * 4), *y = alloc_buf(ctx, n * 4);
    ck_assert_int_eq(kvp_buffer_upload(ctx, x, 0, a, n * 4), KVP_OK);
    ck_assert_int_eq(kvp__copy(ctx, y, 0, x, 0, n * 4), KVP_OK);
    ck_assert_int_eq(kvp_buffer_upload(ctx, x, 0, b, n * 4), KVP_OK);
    /* Many small overlapping uploads: the last one wins. */
    for (int r = 0; r < 50; r++) {
        int32_t v = r;
        ck_assert_int_eq(kvp_buffer_upload(ctx, x, 40, &v, 4), KVP_OK);
    }
    ck_assert_int_eq(kvp_buffer_download(ctx, y, 0, out, n * 4), KVP_OK);
    ck_assert_int_eq(memcmp(out, a, n * 4), 0);
    ck_assert_int_eq(kvp_buffer_download(ctx, x, 0, out, n * 4), KVP_OK);
    ck_assert_int_eq(out[10], 49);
    ck_assert_int_eq(out[9], b[9]);
    ck_assert_int_eq(out[11], b[11]);
    kvp_buffer_free(x);
    kvp_buffer_free(y);
}
END_TEST

START_TEST(test_copy_overlap) {
    /* Copies within one buffer may overlap (memmove semantics), in both directions. */
    const size_t n = 4096;
    unsigned char host[4096], out[4096];
    for (size_t i = 0; i < n; i++) host[i] = (unsigned char)(i * 7 + 3);
    kvp_buffer *b = alloc_buf(ctx, n);
    ck_assert_int_eq(kvp_buffer_upload(ctx, b, 0, host, n), KVP_OK);
    ck_assert_int_eq(kvp__copy(ctx, b, 100, b, 0, 3000), KVP_OK);
    memmove(host + 100, host, 3000);
    ck_assert_int_eq(kvp__copy(ctx, b, 0, b, 1000, 3000), KVP_OK);
    memmove(host, host + 1000, 3000);
    ck_assert_int_eq(kvp_buffer_download(ctx, b, 0, out, n), KVP_OK);
    ck_assert_int_eq(memcmp(out, host, n), 0);
    kvp_buffer_free(b);
}
END_TEST

START_TEST(test_out_of_memory) {
    kvp_buffer *b = (kvp_buffer *)1;
    kvp_status st = kvp_buffer_alloc(ctx, (size_t)1 << 44, &b);
    ck_assert_int_eq(st, KVP_ERR_OUT_OF_DEVICE_MEMORY);
    ck_assert_ptr_null(b);
    ck_assert_msg(strstr(kvp_context_last_error(ctx), "memory") != NULL, "message: %s",
                  kvp_context_last_error(ctx));
    /* The context stays usable. */
    roundtrip(1000, 0);
}
END_TEST

/* ---- plan execution ------------------------------------------------------------------------ */

static void check_score_map(int H, int n, int has_w, size_t s_off) {
    size_t count = (size_t)H * (size_t)n;
    float *s = malloc(count * 4), *w = malloc(count * 4), *ref = malloc(count * 4),
          *out = malloc(count * 4);
    ck_assert(s && w && ref && out);
    for (size_t i = 0; i < count; i++) {
        s[i] = rnd();
        w[i] = rnd();
    }
    kvp_p_score_map p = {.H = H, .n = n, .has_w = has_w, .a = 1.5f, .b = -0.25f};

    /* The CPU backend is the reference. */
    kvp_device *cpu;
    kvp_context *cc;
    ck_assert_int_eq(kvp_device_by_name("cpu", &cpu), KVP_OK);
    ck_assert_int_eq(kvp_context_create(cpu, NULL, &cc), KVP_OK);
    kvp_buffer *cs = alloc_buf(cc, count * 4), *cw = alloc_buf(cc, count * 4);
    ck_assert_int_eq(kvp_buffer_upload(cc, cs, 0, s, count * 4), KVP_OK);
    ck_assert_int_eq(kvp_buffer_upload(cc, cw, 0, w, count * 4), KVP_OK);
    ck_assert_int_eq(KVP_RUN(cc, SCORE_MAP, &p, KVP_B(cs), KVP_B(cw)), KVP_OK);
    ck_assert_int_eq(kvp_buffer_download(cc, cs, 0, ref, count * 4), KVP_OK);
    kvp_buffer_free(cs);
    kvp_buffer_free(cw);
    kvp_context_destroy(cc);

    kvp_buffer *gs = alloc_buf(ctx, s_off + count * 4), *gw = alloc_buf(ctx, count * 4);
    ck_assert_int_eq(kvp_buffer_upload(ctx, gs, s_off, s, count * 4), KVP_OK);
    ck_assert_int_eq(kvp_buffer_upload(ctx, gw, 0, w, count * 4), KVP_OK);
    ck_assert_int_eq(run_score_map(ctx, &p, gs, s_off, gw), KVP_OK);
    ck_assert_int_eq(kvp_buffer_download(ctx, gs, s_off, out, count * 4), KVP_OK);
    for (size_t i = 0; i < count; i++)
        ck_assert_msg(fabsf(out[i] - ref[i]) <= 1e-6f * (1.0f + fabsf(ref[i])),
                      "score_map[%zu]: %g vs %g", i, out[i], ref[i]);
    kvp_buffer_free(gs);
    kvp_buffer_free(gw);
    free(s);
    free(w);
    free(ref);
    free(out);
}

START_TEST(test_score_map) {
    check_score_map(1, 1, 0, 0);
    check_score_map(3, 1000, 1, 0);
    check_score_map(8, 4099, 0, 0);
}
END_TEST

START_TEST(test_binding_offset) {
    /* Aligned offsets bind directly; others (any multiple of 4 here) are staged through an
     * aligned temporary and copied back, with the same results. */
    VkDeviceSize align = kvp_vk_ctx(ctx)->info.props.limits.minStorageBufferOffsetAlignment;
    check_score_map(2, 300, 1, (size_t)(align > 4 ? align : 4) * 3);
    check_score_map(2, 300, 1, 4);
    check_score_map(1, 1000, 0, 36);
    /* A staged binding leaves the bytes before its offset alone. */
    kvp_p_score_map p = {.H = 1, .n = 16, .has_w = 0, .a = 2, .b = 1};
    float host[20], out[20];
    for (int i = 0; i < 20; i++) host[i] = (float)i;
    kvp_buffer *s = alloc_buf(ctx, sizeof host);
    ck_assert_int_eq(kvp_buffer_upload(ctx, s, 0, host, sizeof host), KVP_OK);
    ck_assert_int_eq(run_score_map(ctx, &p, s, 4, s), KVP_OK);
    ck_assert_int_eq(kvp_buffer_download(ctx, s, 0, out, sizeof out), KVP_OK);
    ck_assert_float_eq(out[0], 0.0f);
    for (int i = 1; i <= 16; i++) ck_assert_float_eq(out[i], 2.0f * (float)i + 1.0f);
    for (int i = 17; i < 20; i++) ck_assert_float_eq(out[i], (float)i);
    kvp_buffer_free(s);
}
END_TEST

static void check_count(kvp_dtype dt, int count) {
    size_t es = kvp_dtype_size(dt);
    float *f = malloc((size_t)count * 4);
    void *data = malloc((size_t)count * es + 4);
    ck_assert(f && data);
    int expect = 0;
    for (int i = 0; i < count; i++) {
        f[i] = rnd() * 100.0f;
        uint32_t r = rng() % 97u;
        if (r == 0) f[i] = NAN;
        if (r == 1) f[i] = INFINITY;
        if (r == 2) f[i] = -INFINITY;
        if (r <= 2) expect++;
    }
    ck_assert_int_eq(kvp_convert(KVP_DTYPE_F32, f, dt, data, (size_t)count), KVP_OK);
    kvp_buffer *x = alloc_buf(ctx, (size_t)count * es), *out = alloc_buf(ctx, 4);
    ck_assert_int_eq(kvp_buffer_upload(ctx, x, 0, data, (size_t)count * es), KVP_OK);
    kvp_p_count_nonfinite p = {.count = count, .dtype = (int)dt};
    ck_assert_int_eq(run_count(ctx, &p, x, out), KVP_OK);
    int32_t got = -1;
    ck_assert_int_eq(kvp_buffer_download(ctx, out, 0, &got, 4), KVP_OK);
    ck_assert_msg(got == expect, "%s x %d: %d non-finite, expected %d", kvp_dtype_name(dt), count,
                  got, expect);
    kvp_buffer_free(x);
    kvp_buffer_free(out);
    free(f);
    free(data);
}

START_TEST(test_count_nonfinite) {
    check_count(KVP_DTYPE_F32, 1);
    check_count(KVP_DTYPE_F32, 100003);
    check_count(KVP_DTYPE_F16, 4097);
    check_count(KVP_DTYPE_BF16, 65535);
}
END_TEST

START_TEST(test_subgroup_variants) {
    /* Where the device has subgroup arithmetic the subgroup variant is used, and both
     * variants give the same counts (toggling picks the other pipeline of the table). */
    kvp_vk_context *vk = kvp_vk_ctx(ctx);
    VkSubgroupFeatureFlags need =
        VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
    int has_variant = 0;
    for (int i = 0; i < kvp_vk_spirv_count; i++)
        has_variant |= !strcmp(kvp_vk_spirv_table[i].name, "count_nonfinite") &&
                       kvp_vk_spirv_table[i].needs != 0;
    ck_assert(has_variant);
    int usable = (vk->info.subgroup_ops & need) == need && vk->info.subgroup_size >= 4;
    const kvp_vk_spirv *k = kvp_vk_kernel_variant(vk, "count_nonfinite");
    ck_assert_ptr_nonnull(k);
    ck_assert_str_eq(k->variant, vk->allow_subgroups && usable ? "subgroup" : "");
    int saved = vk->allow_subgroups;
    for (int allow = 0; allow < 2; allow++) {
        vk->allow_subgroups = allow;
        ck_assert_str_eq(kvp_vk_kernel_variant(vk, "count_nonfinite")->variant,
                         allow && usable ? "subgroup" : "");
        check_count(KVP_DTYPE_F32, 70001);
        check_count(KVP_DTYPE_BF16, 333);
    }
    vk->allow_subgroups = saved;
}
END_TEST

/* n dependent dispatches s = s + 1: more than fit in one batch (descriptor pool) and more
 * batches than slots, so barriers and ordering across submissions are exercised. */
static int chain(kvp_context *c, int n) {
    const int len = 777;
    float host[777];
    for (int i = 0; i < len; i++) host[i] = (float)i;
    kvp_buffer *s = NULL;
    if (kvp_buffer_alloc(c, sizeof host, &s) != KVP_OK) return 0;
    int ok = kvp_buffer_upload(c, s, 0, host, sizeof host) == KVP_OK;
    kvp_p_score_map p = {.H = 1, .n = len, .has_w = 0, .a = 1.0f, .b = 1.0f};
    for (int r = 0; ok && r < n; r++) ok = run_score_map(c, &p, s, 0, s) == KVP_OK;
    ok = ok && kvp_buffer_download(c, s, 0, host, sizeof host) == KVP_OK;
    for (int i = 0; ok && i < len; i++) ok = host[i] == (float)(i + n);
    kvp_buffer_free(s);
    return ok;
}

START_TEST(test_batching) {
    ck_assert(chain(ctx, 1));
    ck_assert(chain(ctx, KVP_VK_SETS_PER_SLOT * KVP_VK_SLOTS * 2 + 17));
    ck_assert_int_eq(kvp_context_synchronize(ctx), KVP_OK);
}
END_TEST

START_TEST(test_free_in_flight) {
    /* A buffer freed while a batch still reads it must survive until the batch is done. */
    const int n = 5000;
    float *w = malloc((size_t)n * 4), *out = malloc((size_t)n * 4);
    ck_assert(w && out);
    for (int i = 0; i < n; i++) w[i] = (float)(i % 13);
    kvp_buffer *s = alloc_buf(ctx, (size_t)n * 4);
    memset(out, 0, (size_t)n * 4); /* 0 * s must not meet a NaN in fresh memory */
    ck_assert_int_eq(kvp_buffer_upload(ctx, s, 0, out, (size_t)n * 4), KVP_OK);
    for (int r = 0; r < 20; r++) {
        kvp_buffer *tmp = alloc_buf(ctx, (size_t)n * 4);
        ck_assert_int_eq(kvp_buffer_upload(ctx, tmp, 0, w, (size_t)n * 4), KVP_OK);
        kvp_p_score_map p = {.H = 1, .n = n, .has_w = 1, .a = 0.0f, .b = 1.0f};
        ck_assert_int_eq(run_score_map(ctx, &p, s, 0, tmp), KVP_OK); /* s = w */
        kvp_buffer_free(tmp);
    }
    ck_assert_int_eq(kvp_buffer_download(ctx, s, 0, out, (size_t)n * 4), KVP_OK);
    for (int i = 0; i < n; i++) ck_assert_float_eq(out[i], w[i]);
    kvp_buffer_free(s);
    free(w);
    free(out);
}
END_TEST

START_TEST(test_plan_errors) {
    kvp_p_score_map p = {.H = 1, .n = 16, .has_w = 0, .a = 1, .b = 1};
    kvp_buffer *s = alloc_buf(ctx, 64);
    kvp_op_call call = {.op = KVP_OP_SCORE_MAP, .params = &p, .n_bindings = 2};
    call.bindings[0] = (kvp_binding){s, 0};
    call.bindings[1] = (kvp_binding){s, 0};

    kvp_gpu_plan plan = plan_one("no_such_kernel", 1, 2, &p, sizeof p);
    ck_assert_int_eq(kvp_vk_run_plan(ctx, &call, &plan), KVP_ERR_UNSUPPORTED);
    ck_assert(strstr(kvp_context_last_error(ctx), "no_such_kernel") != NULL);

    plan = plan_one("score_map", 1, 2, &p, sizeof p);
    plan.pass[0].binding[1] = 5; /* the call has 2 bindings */
    ck_assert_int_eq(kvp_vk_run_plan(ctx, &call, &plan), KVP_ERR_INTERNAL);
    plan.pass[0].binding[1] = KVP_GPU_SCRATCH(0); /* no scratch declared */
    ck_assert_int_eq(kvp_vk_run_plan(ctx, &call, &plan), KVP_ERR_INTERNAL);

    /* Scratch buffers are provided and grown on demand. */
    plan = plan_one("score_map", 1, 2, &p, sizeof p);
    plan.n_scratch = 1;
    plan.scratch_bytes[0] = 64;
    plan.pass[0].binding[1] = KVP_GPU_SCRATCH(0);
    ck_assert_int_eq(kvp_vk_run_plan(ctx, &call, &plan), KVP_OK);
    plan.scratch_bytes[0] = 1 << 20;
    ck_assert_int_eq(kvp_vk_run_plan(ctx, &call, &plan), KVP_OK);
    ck_assert_uint_ge(kvp_vk_ctx(ctx)->scratch[0]->size, 1u << 20);
    /* Scratch that a descriptor could not reach is refused (before allocating it). */
    plan.scratch_bytes[0] =
        (size_t)kvp_vk_ctx(ctx)->info.props.limits.maxStorageBufferRange + 4;
    ck_assert_int_eq(kvp_vk_run_plan(ctx, &call, &plan), KVP_ERR_UNSUPPORTED);
    ck_assert(strstr(kvp_context_last_error(ctx), "maxStorageBufferRange") != NULL);
    ck_assert_int_eq(kvp_context_synchronize(ctx), KVP_OK);
    kvp_buffer_free(s);
}
END_TEST

START_TEST(test_device_lost_is_sticky) {
    /* A lost device (simulated: its VkResult fed through the backend's error path) fails
     * every later call with the same status, and the context can still be destroyed. */
    kvp_context *c = open_vulkan();
    ck_assert_ptr_nonnull(c);
    kvp_buffer *b = alloc_buf(c, 64);
    ck_assert_int_eq(kvp_vk_error(kvp_vk_ctx(c), VK_ERROR_DEVICE_LOST, "vkQueueSubmit"),
                     KVP_ERR_DEVICE_LOST);
    ck_assert_str_eq(kvp_context_last_error(c), "vkQueueSubmit: VK_ERROR_DEVICE_LOST (-4)");
    char data[64] = {0};
    ck_assert_int_eq(kvp_buffer_upload(c, b, 0, data, 64), KVP_ERR_DEVICE_LOST);
    ck_assert_int_eq(kvp_buffer_download(c, b, 0, data, 64), KVP_ERR_DEVICE_LOST);
    ck_assert_int_eq(kvp_context_synchronize(c), KVP_ERR_DEVICE_LOST);
    kvp_p_score_map p = {.H = 1, .n = 16, .has_w = 0, .a = 1, .b = 1};
    ck_assert_int_eq(run_score_map(c, &p, b, 0, b), KVP_ERR_DEVICE_LOST);
    kvp_buffer_free(b);
    kvp_context_destroy(c);
}
END_TEST

static int thread_main(void *arg) {
    (void)arg;
    kvp_context *c = open_vulkan();
    if (!c) return 0;
    int ok = chain(c, 600);
    kvp_context_destroy(c);
    return ok;
}

START_TEST(test_threads) {
    /* Contexts are independent: two threads, two contexts, at the same time. */
    thrd_t t[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(thrd_create(&t[i], thread_main, NULL), thrd_success);
    for (int i = 0; i < 2; i++) {
        int ok = 0;
        ck_assert_int_eq(thrd_join(t[i], &ok), thrd_success);
        ck_assert_msg(ok, "thread %d", i);
    }
}
END_TEST

int main(void) {
    kvp_device *dev = NULL;
    if (kvp_device_by_name("vulkan", &dev) != KVP_OK) {
        printf("SKIP: no Vulkan device: %s\n", kvp_last_error());
        return 77;
    }
    Suite *s = suite_create("vulkan");
    TCase *tc = tcase_create("runtime");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_props);
    tcase_add_test(tc, test_spirv_table);
    tcase_add_test(tc, test_result_mapping);
    tcase_add_test(tc, test_roundtrip_small);
    tcase_add_test(tc, test_roundtrip_large);
    tcase_add_test(tc, test_upload_order);
    tcase_add_test(tc, test_copy_overlap);
    tcase_add_test(tc, test_out_of_memory);
    tcase_add_test(tc, test_score_map);
    tcase_add_test(tc, test_binding_offset);
    tcase_add_test(tc, test_count_nonfinite);
    tcase_add_test(tc, test_subgroup_variants);
    tcase_add_test(tc, test_batching);
    tcase_add_test(tc, test_free_in_flight);
    tcase_add_test(tc, test_plan_errors);
    tcase_add_test(tc, test_device_lost_is_sticky);
    tcase_add_test(tc, test_threads);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    /* GPU drivers do not survive fork() reliably. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
