/*
 * Zero-copy integration through kvp_vulkan.h: the test plays an inference engine that owns
 * its VkInstance, VkDevice and the VkBuffers holding one layer's keys and values. It hands
 * them to libkvpress (kvp_context_create_vulkan, kvp_buffer_wrap_vulkan,
 * kvp_cache_wrap_layer), compresses the layer, and checks the result against the CPU
 * backend, both through kvp_cache_read and directly in its own mapped memory (the
 * compaction happens in place, in the engine's buffers). Exits 77 (skip) when no Vulkan
 * device exists.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvpress/kvp_vulkan.h"
#include "kvpress/kvpress.h"

/* ---- the "engine": its own Vulkan objects -------------------------------------------- */

static struct {
    VkInstance instance;
    VkPhysicalDevice phys;
    VkDevice device;
    uint32_t family;
    VkDeviceSize align;
    VkPhysicalDeviceMemoryProperties mem;
} eng;

typedef struct engine_buffer {
    VkBuffer buffer;
    VkDeviceMemory memory;
    void *map;
    VkDeviceSize size;
} engine_buffer;

static int engine_open(void) {
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "kvpress interop test",
                             .apiVersion = VK_API_VERSION_1_1};
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                .pApplicationInfo = &app};
    if (vkCreateInstance(&ici, NULL, &eng.instance) != VK_SUCCESS) return 0;
    uint32_t n = 0;
    vkEnumeratePhysicalDevices(eng.instance, &n, NULL);
    VkPhysicalDevice pds[16];
    if (n > 16) n = 16;
    if (n == 0 || vkEnumeratePhysicalDevices(eng.instance, &n, pds) < 0) return 0;
    /* The first device with a compute queue that libkvpress also lists. */
    for (uint32_t i = 0; i < n && !eng.device; i++) {
        uint32_t nf = 0;
        vkGetPhysicalDeviceQueueFamilyProperties(pds[i], &nf, NULL);
        VkQueueFamilyProperties fam[16];
        if (nf > 16) nf = 16;
        vkGetPhysicalDeviceQueueFamilyProperties(pds[i], &nf, fam);
        for (uint32_t f = 0; f < nf; f++) {
            if (!(fam[f].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
            float prio = 1.0f;
            VkDeviceQueueCreateInfo q = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                         .queueFamilyIndex = f,
                                         .queueCount = 1,
                                         .pQueuePriorities = &prio};
            VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                                      .queueCreateInfoCount = 1,
                                      .pQueueCreateInfos = &q};
            if (vkCreateDevice(pds[i], &dci, NULL, &eng.device) != VK_SUCCESS) break;
            eng.phys = pds[i];
            eng.family = f;
            break;
        }
    }
    if (!eng.device) return 0;
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(eng.phys, &props);
    eng.align = props.limits.minStorageBufferOffsetAlignment;
    vkGetPhysicalDeviceMemoryProperties(eng.phys, &eng.mem);
    return 1;
}

static void engine_close(void) {
    if (eng.device) vkDestroyDevice(eng.device, NULL);
    if (eng.instance) vkDestroyInstance(eng.instance, NULL);
    memset(&eng, 0, sizeof eng);
}

/* A storage buffer in host-visible memory, so the engine can fill and inspect it. */
static engine_buffer engine_buffer_create(VkDeviceSize size) {
    engine_buffer b = {.size = size};
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = size,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT};
    ck_assert_int_eq(vkCreateBuffer(eng.device, &bi, NULL, &b.buffer), VK_SUCCESS);
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(eng.device, b.buffer, &req);
    VkMemoryPropertyFlags want =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    uint32_t type = UINT32_MAX;
    for (uint32_t i = 0; i < eng.mem.memoryTypeCount && type == UINT32_MAX; i++)
        if ((req.memoryTypeBits & (1u << i)) &&
            (eng.mem.memoryTypes[i].propertyFlags & want) == want)
            type = i;
    ck_assert_uint_ne(type, UINT32_MAX);
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size,
                               .memoryTypeIndex = type};
    ck_assert_int_eq(vkAllocateMemory(eng.device, &ai, NULL, &b.memory), VK_SUCCESS);
    ck_assert_int_eq(vkBindBufferMemory(eng.device, b.buffer, b.memory, 0), VK_SUCCESS);
    ck_assert_int_eq(vkMapMemory(eng.device, b.memory, 0, VK_WHOLE_SIZE, 0, &b.map), VK_SUCCESS);
    return b;
}

static void engine_buffer_destroy(engine_buffer *b) {
    vkUnmapMemory(eng.device, b->memory);
    vkDestroyBuffer(eng.device, b->buffer, NULL);
    vkFreeMemory(eng.device, b->memory, NULL);
}

/* ---- the layer ------------------------------------------------------------------------- */

enum { HK = 4, D = 64, N = 300, CAP = 320 };

static uint32_t rng_state;
static float rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return (float)(rng_state % 20001u) / 10000.0f - 1.0f;
}

/* Keys and values [HK, N, D] in `dt`, deterministic. */
static void make_layer(kvp_dtype dt, void *keys, void *values) {
    size_t count = (size_t)HK * N * D;
    float *f = malloc(count * sizeof *f);
    ck_assert_ptr_nonnull(f);
    rng_state = 2024u + (uint32_t)dt;
    for (size_t i = 0; i < count; i++) f[i] = rnd() * (1.0f + (float)(i % 7));
    ck_assert_int_eq(kvp_convert(KVP_DTYPE_F32, f, dt, keys, count), KVP_OK);
    for (size_t i = 0; i < count; i++) f[i] = rnd();
    ck_assert_int_eq(kvp_convert(KVP_DTYPE_F32, f, dt, values, count), KVP_OK);
    free(f);
}

typedef struct layer_result {
    int64_t len[HK];
    unsigned char *keys[HK], *values[HK]; /* [len, D] in the cache dtype */
    int32_t *pos[HK];
} layer_result;

static void read_result(const kvp_cache *cache, kvp_dtype dt, layer_result *r) {
    ck_assert_int_eq(kvp_cache_get_lengths(cache, 0, r->len), KVP_OK);
    for (int j = 0; j < HK; j++) {
        size_t rows = (size_t)(r->len[j] ? r->len[j] : 1);
        r->keys[j] = malloc(rows * D * kvp_dtype_size(dt));
        r->values[j] = malloc(rows * D * kvp_dtype_size(dt));
        r->pos[j] = malloc(rows * sizeof(int32_t));
        ck_assert_int_eq(kvp_cache_read(cache, 0, j, r->keys[j], r->values[j], r->pos[j]), KVP_OK);
    }
}

static void free_result(layer_result *r) {
    for (int j = 0; j < HK; j++) {
        free(r->keys[j]);
        free(r->values[j]);
        free(r->pos[j]);
    }
}

/* The reference: the same layer compressed by the same press on the CPU backend. */
static void cpu_reference(const char *spec, kvp_dtype dt, const void *keys, const void *values,
                          layer_result *r) {
    kvp_device *dev;
    kvp_context *ctx;
    ck_assert_int_eq(kvp_device_by_name("cpu", &dev), KVP_OK);
    ck_assert_int_eq(kvp_context_create(dev, NULL, &ctx), KVP_OK);
    kvp_cache_options o = {
        .n_layers = 1, .n_kv_heads = HK, .head_dim = D, .capacity = CAP, .dtype = dt};
    kvp_cache *cache;
    ck_assert_int_eq(kvp_cache_create(ctx, &o, &cache), KVP_OK);
    kvp_tensor k = kvp_tensor_host(dt, (void *)keys, 3, HK, N, D);
    kvp_tensor v = kvp_tensor_host(dt, (void *)values, 3, HK, N, D);
    ck_assert_int_eq(kvp_cache_append(cache, 0, &k, &v, 0), KVP_OK);
    kvp_press *press;
    ck_assert_int_eq(kvp_press_parse(spec, &press), KVP_OK);
    kvp_inputs *in;
    ck_assert_int_eq(kvp_inputs_create(ctx, &in), KVP_OK);
    ck_assert_msg(kvp_compress(ctx, press, cache, 0, in) == KVP_OK, "cpu: %s",
                  kvp_context_last_error(ctx));
    read_result(cache, dt, r);
    kvp_inputs_destroy(in);
    kvp_press_destroy(press);
    kvp_cache_destroy(cache);
    kvp_context_destroy(ctx);
}

/* Wraps the engine's buffers as layer 0 (keys at byte k_off of one buffer, values at v_off
 * of another, rows [HK, CAP, D]), compresses it with `spec` and compares with the CPU. */
static void check_press(const char *spec, kvp_dtype dt, size_t k_off, size_t v_off) {
    size_t es = kvp_dtype_size(dt);
    size_t layer_bytes = (size_t)HK * CAP * D * es;
    size_t head_in = (size_t)N * D * es, head_cap = (size_t)CAP * D * es;
    engine_buffer kb = engine_buffer_create(k_off + layer_bytes);
    engine_buffer vb = engine_buffer_create(v_off + layer_bytes);
    unsigned char *keys = malloc((size_t)HK * head_in), *values = malloc((size_t)HK * head_in);
    ck_assert(keys && values);
    make_layer(dt, keys, values);
    /* The engine's own data before the layer must survive. */
    memset(kb.map, 0x5a, k_off);
    memset(vb.map, 0xa5, v_off);
    for (int j = 0; j < HK; j++) {
        memcpy((char *)kb.map + k_off + j * head_cap, keys + j * head_in, head_in);
        memcpy((char *)vb.map + v_off + j * head_cap, values + j * head_in, head_in);
    }

    kvp_context *ctx;
    ck_assert_msg(kvp_context_create_vulkan(eng.instance, eng.phys, eng.device, eng.family, 0, NULL,
                                            &ctx) == KVP_OK,
                  "kvp_context_create_vulkan: %s", kvp_last_error());
    kvp_device_props props;
    ck_assert_int_eq(kvp_device_get_props(kvp_context_device(ctx), &props), KVP_OK);
    ck_assert_str_eq(props.backend, "vulkan");
    kvp_buffer *kbuf, *vbuf;
    ck_assert_int_eq(kvp_buffer_wrap_vulkan(ctx, kb.buffer, kb.size, &kbuf), KVP_OK);
    ck_assert_int_eq(kvp_buffer_wrap_vulkan(ctx, vb.buffer, vb.size, &vbuf), KVP_OK);
    kvp_cache_options o = {
        .n_layers = 1, .n_kv_heads = HK, .head_dim = D, .capacity = 0, .dtype = dt};
    kvp_cache *cache;
    ck_assert_int_eq(kvp_cache_create(ctx, &o, &cache), KVP_OK);
    int64_t lengths[HK] = {N, N, N, N};
    ck_assert_int_eq(kvp_cache_wrap_layer(cache, 0, CAP, kbuf, k_off, vbuf, v_off, lengths),
                     KVP_OK);
    kvp_press *press;
    ck_assert_int_eq(kvp_press_parse(spec, &press), KVP_OK);
    kvp_inputs *in;
    ck_assert_int_eq(kvp_inputs_create(ctx, &in), KVP_OK);
    ck_assert_msg(kvp_compress(ctx, press, cache, 0, in) == KVP_OK, "vulkan %s: %s", spec,
                  kvp_context_last_error(ctx));
    layer_result got, ref;
    read_result(cache, dt, &got);
    cpu_reference(spec, dt, keys, values, &ref);
    ck_assert_int_eq(kvp_context_synchronize(ctx), KVP_OK);
    for (int j = 0; j < HK; j++) {
        ck_assert_int_eq(got.len[j], ref.len[j]);
        size_t bytes = (size_t)ref.len[j] * D * es;
        ck_assert_int_eq(memcmp(got.pos[j], ref.pos[j], (size_t)ref.len[j] * 4), 0);
        ck_assert_int_eq(memcmp(got.keys[j], ref.keys[j], bytes), 0);
        ck_assert_int_eq(memcmp(got.values[j], ref.values[j], bytes), 0);
        /* Zero copy: the kept entries sit at the start of each head in the engine's memory. */
        ck_assert_int_eq(memcmp((char *)kb.map + k_off + j * head_cap, ref.keys[j], bytes), 0);
        ck_assert_int_eq(memcmp((char *)vb.map + v_off + j * head_cap, ref.values[j], bytes), 0);
    }
    for (size_t i = 0; i < k_off; i++) ck_assert_uint_eq(((unsigned char *)kb.map)[i], 0x5a);
    for (size_t i = 0; i < v_off; i++) ck_assert_uint_eq(((unsigned char *)vb.map)[i], 0xa5);
    free_result(&got);
    free_result(&ref);
    kvp_inputs_destroy(in);
    kvp_press_destroy(press);
    kvp_cache_destroy(cache);
    kvp_buffer_free(kbuf);
    kvp_buffer_free(vbuf);
    kvp_context_destroy(ctx);
    /* The engine's buffers outlive the wrappers: still valid, freed by their owner. */
    engine_buffer_destroy(&kb);
    engine_buffer_destroy(&vb);
    free(keys);
    free(values);
}

static void setup(void) { ck_assert_msg(engine_open(), "the engine's Vulkan device"); }
static void teardown(void) { engine_close(); }

/* Engines often pack a layer at an offset: aligned ones bind directly. */
static size_t aligned_offset(void) { return eng.align > 16 ? (size_t)eng.align : 256; }

START_TEST(test_knorm_f32) {
    check_press("knorm(compression_ratio=0.5)", KVP_DTYPE_F32, aligned_offset(), 0);
}
END_TEST

START_TEST(test_knorm_bf16) {
    check_press("knorm(compression_ratio=0.3)", KVP_DTYPE_BF16, 0, aligned_offset());
}
END_TEST

START_TEST(test_streaming_f16) {
    check_press("streaming_llm(compression_ratio=0.5, n_sink=4)", KVP_DTYPE_F16, 0, 0);
}
END_TEST

START_TEST(test_misaligned_offset) {
    /* Offsets that are not multiples of minStorageBufferOffsetAlignment are staged through
     * aligned temporaries (and copied back in place): same results, same zero-copy layout. */
    check_press("knorm(compression_ratio=0.5)", KVP_DTYPE_F32, 4, 12);
    check_press("streaming_llm(compression_ratio=0.25, n_sink=2)", KVP_DTYPE_BF16, 2, 6);
}
END_TEST

START_TEST(test_bad_arguments) {
    kvp_context *ctx = (kvp_context *)1;
    ck_assert_int_eq(kvp_context_create_vulkan(eng.instance, eng.phys, VK_NULL_HANDLE, eng.family,
                                               0, NULL, &ctx),
                     KVP_ERR_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert_int_eq(
        kvp_context_create_vulkan(eng.instance, eng.phys, eng.device, eng.family, 99, NULL, &ctx),
        KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_last_error(), "queue") != NULL);
    /* A wrapped VkBuffer belongs to Vulkan contexts only. */
    kvp_device *cpu;
    kvp_context *cc;
    ck_assert_int_eq(kvp_device_by_name("cpu", &cpu), KVP_OK);
    ck_assert_int_eq(kvp_context_create(cpu, NULL, &cc), KVP_OK);
    engine_buffer kb = engine_buffer_create(256);
    kvp_buffer *b = (kvp_buffer *)1;
    ck_assert_int_eq(kvp_buffer_wrap_vulkan(cc, kb.buffer, 256, &b), KVP_ERR_INVALID_ARG);
    ck_assert_ptr_null(b);
    kvp_context_destroy(cc);
    engine_buffer_destroy(&kb);
}
END_TEST

int main(void) {
    kvp_device *dev = NULL;
    if (kvp_device_by_name("vulkan", &dev) != KVP_OK) {
        printf("SKIP: no Vulkan device: %s\n", kvp_last_error());
        return 77;
    }
    Suite *s = suite_create("vulkan-interop");
    TCase *tc = tcase_create("interop");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_misaligned_offset);
    tcase_add_test(tc, test_knorm_f32);
    tcase_add_test(tc, test_knorm_bf16);
    tcase_add_test(tc, test_streaming_f16);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
