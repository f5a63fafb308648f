/*
 * The simulated CUDA runtime (see cuda_sim.h): the functions of cuda_runtime_api.h the CUDA
 * backend and its tests call, implemented on the host. Compiled against the real header, so
 * the types, error codes and entry-point names are exactly those the backend was built with.
 *
 * Devices: KVP_CUDA_SIM_DEVICES (default 1; 0 = no device). Even devices support memory pools
 * (cudaMallocAsync), odd ones do not, so a two-device run exercises both allocation paths.
 * Contexts: each device has a primary context, created by cudaSetDevice or the first call that
 * needs one; a thread has a current context (or none) that the driver entry points
 * cuCtxGetCurrent/cuCtxSetCurrent read and set, and the runtime's current device follows it.
 * Device memory is host memory with guard bytes behind every allocation, filled with 0xff
 * (NaN as floats, -1 as ints) so that a kernel reading memory nobody wrote is noticed.
 *
 * Kernels: a block's threads are ucontext fibers on the calling thread that switch at
 * __syncthreads; a block whose first thread finishes without reaching a barrier runs its
 * other threads directly (fast path for barrier-free kernels).
 */
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_sim.h"

namespace {

const size_t kGuard = 256;       /* bytes checked behind each device allocation */
const unsigned char kGuardByte = 0xfd;
const size_t kStackBytes = 256 * 1024;

enum class Kind { Device, Pinned, Managed };

struct Allocation {
    size_t size;
    int device;
    Kind kind;
    bool pooled;
    bool freeing; /* a cudaFreeAsync is queued: no new work may use it */
};

struct Stream {
    int device;
    unsigned flags;
    std::deque<std::function<void()>> work;
};

struct Sim {
    std::recursive_mutex mu;
    bool ready = false;
    int n_devices = 1;
    size_t limit = (size_t)8 << 30;
    std::vector<size_t> used;
    std::vector<char> primary; /* the device's primary context exists */
    std::vector<std::unique_ptr<Stream>> legacy;
    std::vector<Stream *> streams; /* created streams */
    std::map<uintptr_t, Allocation> allocs;
    int fail_next_launch = 0;
    bool kernel_image = true;
    long launches = 0;
    cudaError_t sticky = cudaSuccess;
};

Sim &sim() {
    static Sim s;
    return s;
}

thread_local int current_device = 0;
thread_local int current_ctx = 0; /* 0: none; d + 1: the primary context of device d */
thread_local cudaError_t last_error = cudaSuccess;

void init() {
    Sim &s = sim();
    if (s.ready) return;
    s.ready = true;
    const char *env = getenv("KVP_CUDA_SIM_DEVICES");
    if (env && *env) s.n_devices = atoi(env);
    if (s.n_devices < 0) s.n_devices = 0;
    s.used.assign((size_t)s.n_devices, 0);
    s.primary.assign((size_t)s.n_devices, 0);
    for (int d = 0; d < s.n_devices; d++) {
        s.legacy.emplace_back(new Stream());
        s.legacy.back()->device = d;
        s.legacy.back()->flags = cudaStreamDefault;
    }
}

bool is_sticky(cudaError_t e) {
    return e == cudaErrorIllegalAddress || e == cudaErrorLaunchFailure ||
           e == cudaErrorMisalignedAddress || e == cudaErrorIllegalInstruction ||
           e == cudaErrorHardwareStackError || e == cudaErrorAssert;
}

cudaError_t fail(cudaError_t e) {
    last_error = e;
    if (is_sticky(e)) sim().sticky = e;
    return e;
}

#define SIM_ENTER()                                                                          \
    std::lock_guard<std::recursive_mutex> lock_(sim().mu);                                   \
    init();                                                                                  \
    if (sim().sticky != cudaSuccess) return fail(sim().sticky)

/* A call that needs a context: the current device's primary context, created if needed. */
void need_context() {
    if (current_ctx != 0 || current_device >= sim().n_devices) return;
    sim().primary[(size_t)current_device] = 1;
    current_ctx = current_device + 1;
}

/* The allocation holding [p, p + n), or NULL. */
Allocation *find(const void *p, size_t n, uintptr_t *base) {
    Sim &s = sim();
    uintptr_t u = (uintptr_t)p;
    auto it = s.allocs.upper_bound(u);
    if (it == s.allocs.begin()) return nullptr;
    --it;
    if (u < it->first || u + n > it->first + it->second.size) return nullptr;
    if (base) *base = it->first;
    return &it->second;
}

bool device_like(const Allocation *a) { return a && a->kind != Kind::Pinned; }

Stream *stream_of(cudaStream_t st) {
    Sim &s = sim();
    if (st == nullptr || st == cudaStreamLegacy || st == cudaStreamPerThread) {
        if (current_device >= s.n_devices) return nullptr;
        return s.legacy[(size_t)current_device].get();
    }
    for (Stream *x : s.streams)
        if ((cudaStream_t)x == st) return x;
    return nullptr;
}

void flush(Stream *st) {
    while (!st->work.empty()) {
        std::function<void()> w = std::move(st->work.front());
        st->work.pop_front();
        w();
    }
}

/* Synchronous calls wait for the legacy stream and every blocking stream of the device. */
void flush_blocking(int device) {
    Sim &s = sim();
    if (device < s.n_devices) flush(s.legacy[(size_t)device].get());
    for (Stream *x : s.streams)
        if (x->device == device && !(x->flags & cudaStreamNonBlocking)) flush(x);
}

void flush_device(int device) {
    Sim &s = sim();
    if (device < s.n_devices) flush(s.legacy[(size_t)device].get());
    for (Stream *x : s.streams)
        if (x->device == device) flush(x);
}

void release(uintptr_t base) {
    Sim &s = sim();
    auto it = s.allocs.find(base);
    if (it == s.allocs.end()) return;
    if (it->second.kind != Kind::Pinned) s.used[(size_t)it->second.device] -= it->second.size;
    s.allocs.erase(it);
    free((void *)base);
}

cudaError_t allocate(void **ptr, size_t size, Kind kind, bool pooled) {
    Sim &s = sim();
    need_context();
    if (!ptr) return fail(cudaErrorInvalidValue);
    *ptr = nullptr;
    if (kind != Kind::Pinned) {
        if (current_device >= s.n_devices) return fail(cudaErrorInvalidDevice);
        size_t &used = s.used[(size_t)current_device];
        if (size > s.limit || used > s.limit - size) return fail(cudaErrorMemoryAllocation);
    }
    size_t bytes = ((size ? size : 1) + kGuard + 255) / 256 * 256;
    void *p = aligned_alloc(256, bytes);
    if (!p) return fail(cudaErrorMemoryAllocation);
    memset(p, 0xff, size);
    memset((char *)p + size, kGuardByte, bytes - size);
    s.allocs[(uintptr_t)p] = Allocation{size, current_device, kind, pooled, false};
    if (kind != Kind::Pinned) s.used[(size_t)current_device] += size;
    *ptr = p;
    return cudaSuccess;
}

/* Writes past the end of an allocation of `device` (by the kernel just run), or "". */
std::string check_guards(int device) {
    for (auto &kv : sim().allocs) {
        if (kv.second.device != device || kv.second.kind == Kind::Pinned) continue;
        const unsigned char *g = (const unsigned char *)kv.first + kv.second.size;
        for (size_t i = 0; i < kGuard; i++)
            if (g[i] != kGuardByte) {
                char msg[160];
                snprintf(msg, sizeof msg, "wrote %zu bytes past the end of a %zu-byte allocation",
                         i + 1, kv.second.size);
                return msg;
            }
    }
    return "";
}

/* ---- the simulated threads --------------------------------------------------------------- */

/* Switching between the simulated threads of a block. On x86-64 a six-register switch (the
 * callee-saved registers and the stack pointer): swapcontext also saves the signal mask, a
 * system call per switch, which made the simulator several times slower. Elsewhere, and under
 * AddressSanitizer (which must be told about stack switches), ucontext. */
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(KVP_SIM_UCONTEXT)
#define KVP_SIM_FAST_SWITCH 1
extern "C" void kvp_sim_switch(void **save_sp, void *next_sp);
__asm__(".pushsection .text\n"
        ".p2align 4\n"
        ".type kvp_sim_switch,@function\n"
        "kvp_sim_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size kvp_sim_switch, .-kvp_sim_switch\n"
        ".popsection\n");
#endif

enum FiberState { kRunning, kAtBarrier, kDone };

struct Fiber {
#ifdef KVP_SIM_FAST_SWITCH
    void *sp;
#else
    ucontext_t uc;
#endif
    kvp_sim_thread t;
    FiberState state;
    unsigned barriers;
};

struct Exec {
#ifdef KVP_SIM_FAST_SWITCH
    void *sched_sp = nullptr;
#else
    ucontext_t sched;
#endif
    Fiber *cur = nullptr; /* NULL: a thread running directly, without a fiber */
    jmp_buf direct_abort;
    void (*run)(void **) = nullptr;
    void **args = nullptr;
    std::vector<Fiber> fibers;
    char *stacks = nullptr;
    size_t n_stacks = 0;
} ex;

/* Back to the scheduler, from the fiber ex.cur. */
void to_scheduler() {
#ifdef KVP_SIM_FAST_SWITCH
    kvp_sim_switch(&ex.cur->sp, ex.sched_sp);
#else
    swapcontext(&ex.cur->uc, &ex.sched);
#endif
}

void fiber_main() {
    ex.run(ex.args);
    ex.cur->state = kDone;
#ifdef KVP_SIM_FAST_SWITCH
    /* A finished fiber is never resumed. */
    kvp_sim_switch(&ex.cur->sp, ex.sched_sp);
#endif
}

void start_fiber(unsigned t) {
    Fiber &f = ex.fibers[t];
    char *stack = ex.stacks + (size_t)t * kStackBytes;
    f.state = kRunning;
    f.barriers = 0;
#ifdef KVP_SIM_FAST_SWITCH
    /* What kvp_sim_switch pops: six registers, then the address it returns to. fiber_main
     * then starts with the stack pointer at 8 mod 16, as after a call. */
    void **top = (void **)(stack + kStackBytes);
    top[-2] = (void *)fiber_main;
    for (int r = 3; r <= 8; r++) top[-r] = nullptr;
    f.sp = &top[-8];
#else
    getcontext(&f.uc);
    f.uc.uc_stack.ss_sp = stack;
    f.uc.uc_stack.ss_size = kStackBytes;
    f.uc.uc_link = &ex.sched;
    makecontext(&f.uc, fiber_main, 0);
#endif
}

void resume(unsigned t) {
    Fiber &f = ex.fibers[t];
    f.state = kRunning;
    ex.cur = &f;
    kvp_sim_self = &f.t;
#ifdef KVP_SIM_FAST_SWITCH
    kvp_sim_switch(&ex.sched_sp, f.sp);
#else
    swapcontext(&ex.sched, &f.uc);
#endif
    ex.cur = nullptr;
}

/* Runs one block; returns "" or what went wrong. */
std::string run_block(const kvp_sim_uint3 &block, const kvp_sim_uint3 &bdim,
                      const kvp_sim_uint3 &gdim) {
    unsigned n = bdim.x * bdim.y * bdim.z;
    if (ex.n_stacks < n) {
        if (ex.stacks) munmap(ex.stacks, ex.n_stacks * kStackBytes);
        void *m = mmap(nullptr, n * kStackBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            ex.stacks = nullptr;
            ex.n_stacks = 0;
            return "no memory for the simulated threads' stacks";
        }
        ex.stacks = (char *)m;
        ex.n_stacks = n;
    }
    ex.fibers.resize(n);
    for (unsigned t = 0; t < n; t++) {
        kvp_sim_thread &th = ex.fibers[t].t;
        th.thread_idx = {t % bdim.x, (t / bdim.x) % bdim.y, t / (bdim.x * bdim.y)};
        th.block_idx = block;
        th.block_dim = bdim;
        th.grid_dim = gdim;
    }
    start_fiber(0);
    resume(0);
    if (ex.fibers[0].state == kDone) {
        /* No barrier in thread 0, so (barriers being block-uniform) none in any thread. */
        for (unsigned t = 1; t < n; t++) {
            kvp_sim_self = &ex.fibers[t].t;
            if (setjmp(ex.direct_abort)) {
                char msg[160];
                snprintf(msg, sizeof msg,
                         "thread %u reached __syncthreads, thread 0 finished without one", t);
                return msg;
            }
            ex.run(ex.args);
        }
        return "";
    }
    for (unsigned t = 1; t < n; t++) {
        start_fiber(t);
        resume(t);
    }
    for (;;) {
        unsigned waiting = 0, done = 0, first = 0;
        bool mixed = false;
        for (unsigned t = 0; t < n; t++) {
            Fiber &f = ex.fibers[t];
            if (f.state == kDone) {
                done++;
            } else {
                if (waiting == 0) first = f.barriers;
                if (f.barriers != first) mixed = true;
                waiting++;
            }
        }
        if (waiting == 0) return "";
        if (done > 0 || mixed) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "barrier divergence: %u threads wait at a __syncthreads, %u finished%s",
                     waiting, done,
                     mixed ? ", and the waiting ones are at different barriers" : "");
            return msg;
        }
        for (unsigned t = 0; t < n; t++) resume(t);
    }
}

void run_grid(const kvp_sim_kernel *k, std::vector<unsigned char> params,
              std::vector<void *> ptrs, dim3 grid, dim3 block, int device) {
    std::vector<void *> args(1 + ptrs.size());
    args[0] = params.data();
    for (size_t i = 0; i < ptrs.size(); i++) args[1 + i] = &ptrs[i];
    ex.run = k->run;
    ex.args = args.data();
    kvp_sim_uint3 gdim = {grid.x, grid.y, grid.z}, bdim = {block.x, block.y, block.z};
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                std::string err = run_block({x, y, z}, bdim, gdim);
                if (!err.empty()) {
                    fprintf(stderr, "cuda sim: kernel %s, block (%u,%u,%u): %s\n", k->name, x, y,
                            z, err.c_str());
                    fail(cudaErrorLaunchFailure);
                    return;
                }
            }
    std::string err = check_guards(device);
    if (!err.empty()) {
        fprintf(stderr, "cuda sim: kernel %s %s\n", k->name, err.c_str());
        fail(cudaErrorLaunchFailure);
    }
}

const kvp_sim_kernel *kernel_of(const void *func) {
    const kvp_sim_kernel *k = (const kvp_sim_kernel *)func;
    return k && k->magic == KVP_SIM_MAGIC ? k : nullptr;
}

} // namespace

kvp_sim_thread *kvp_sim_self;

extern "C" void kvp_sim_syncthreads(void) {
    if (!ex.cur) longjmp(ex.direct_abort, 1);
    ex.cur->state = kAtBarrier;
    ex.cur->barriers++;
    to_scheduler();
}

/* ---- test controls ------------------------------------------------------------------------ */

extern "C" void kvp_sim_set_memory_limit(size_t bytes) {
    std::lock_guard<std::recursive_mutex> lock(sim().mu);
    sim().limit = bytes ? bytes : (size_t)8 << 30;
}
extern "C" void kvp_sim_fail_next_launch(int cuda_error) {
    std::lock_guard<std::recursive_mutex> lock(sim().mu);
    sim().fail_next_launch = cuda_error;
}
extern "C" void kvp_sim_set_kernel_image(int present) {
    std::lock_guard<std::recursive_mutex> lock(sim().mu);
    sim().kernel_image = present != 0;
}
extern "C" int kvp_sim_primary_context(int device) {
    std::lock_guard<std::recursive_mutex> lock(sim().mu);
    init();
    return device >= 0 && device < sim().n_devices && sim().primary[(size_t)device];
}
extern "C" void kvp_sim_forget_primary_context(int device) {
    std::lock_guard<std::recursive_mutex> lock(sim().mu);
    init();
    if (device >= 0 && device < sim().n_devices) sim().primary[(size_t)device] = 0;
}
extern "C" long kvp_sim_launch_count(void) {
    std::lock_guard<std::recursive_mutex> lock(sim().mu);
    return sim().launches;
}

/* ---- errors and versions ------------------------------------------------------------------ */

const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
#define NAME(x) \
    case x: return #x;
        NAME(cudaSuccess) NAME(cudaErrorInvalidValue) NAME(cudaErrorMemoryAllocation)
        NAME(cudaErrorInitializationError) NAME(cudaErrorInvalidConfiguration)
        NAME(cudaErrorInvalidDevicePointer) NAME(cudaErrorInvalidMemcpyDirection)
        NAME(cudaErrorInsufficientDriver) NAME(cudaErrorNoDevice) NAME(cudaErrorInvalidDevice)
        NAME(cudaErrorNoKernelImageForDevice) NAME(cudaErrorInvalidDeviceFunction)
        NAME(cudaErrorInvalidResourceHandle) NAME(cudaErrorIllegalAddress)
        NAME(cudaErrorLaunchOutOfResources) NAME(cudaErrorLaunchFailure)
        NAME(cudaErrorMisalignedAddress) NAME(cudaErrorNotSupported) NAME(cudaErrorUnknown)
#undef NAME
    default: return "cudaErrorUnrecognized";
    }
}

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNoKernelImageForDevice:
        return "no kernel image is available for execution on the device";
    default: return "simulated CUDA error";
    }
}

cudaError_t cudaGetLastError(void) {
    std::lock_guard<std::recursive_mutex> lock(sim().mu);
    cudaError_t e = last_error;
    last_error = sim().sticky;
    return e;
}

cudaError_t cudaPeekAtLastError(void) { return last_error; }

cudaError_t cudaDriverGetVersion(int *v) {
    if (!v) return fail(cudaErrorInvalidValue);
    *v = 13000;
    return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *v) {
    if (!v) return fail(cudaErrorInvalidValue);
    *v = CUDART_VERSION;
    return cudaSuccess;
}

/* ---- devices ------------------------------------------------------------------------------ */

cudaError_t cudaGetDeviceCount(int *n) {
    SIM_ENTER();
    if (!n) return fail(cudaErrorInvalidValue);
    *n = 0;
    if (sim().n_devices == 0) return fail(cudaErrorNoDevice);
    *n = sim().n_devices;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int device) {
    SIM_ENTER();
    if (!p) return fail(cudaErrorInvalidValue);
    if (device < 0 || device >= sim().n_devices) return fail(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "kvpress CUDA simulator %d (CPU)", device);
    p->totalGlobalMem = sim().limit;
    p->multiProcessorCount = 4;
    p->maxThreadsPerBlock = 1024;
    p->warpSize = 32;
    p->maxGridSize[0] = 2147483647;
    p->maxGridSize[1] = 65535;
    p->maxGridSize[2] = 65535;
    p->major = 9;
    p->minor = 0;
    p->pciBusID = device + 1;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *v, enum cudaDeviceAttr attr, int device) {
    SIM_ENTER();
    if (!v) return fail(cudaErrorInvalidValue);
    if (device < 0 || device >= sim().n_devices) return fail(cudaErrorInvalidDevice);
    switch (attr) {
    case cudaDevAttrMemoryClockRate: *v = 1000000; break;
    case cudaDevAttrGlobalMemoryBusWidth: *v = 256; break;
    case cudaDevAttrMemoryPoolsSupported: *v = device % 2 == 0; break;
    default: return fail(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device) {
    if (!device) return fail(cudaErrorInvalidValue);
    *device = current_device;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
    SIM_ENTER();
    if (device < 0 || device >= sim().n_devices) return fail(cudaErrorInvalidDevice);
    /* Since CUDA 12, cudaSetDevice initialises the device's primary context. */
    current_device = device;
    current_ctx = 0;
    need_context();
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
    SIM_ENTER();
    flush_device(current_device);
    /* A kernel that failed made its error sticky: reported from here on. */
    return sim().sticky == cudaSuccess ? cudaSuccess : fail(sim().sticky);
}

cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes *attr, const void *func) {
    SIM_ENTER();
    if (!attr || !kernel_of(func)) return fail(cudaErrorInvalidDeviceFunction);
    need_context();
    if (!sim().kernel_image) return fail(cudaErrorNoKernelImageForDevice);
    memset(attr, 0, sizeof *attr);
    attr->maxThreadsPerBlock = 1024;
    attr->numRegs = 32;
    attr->ptxVersion = 90;
    attr->binaryVersion = 90;
    return cudaSuccess;
}

/* ---- streams ------------------------------------------------------------------------------ */

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *st, unsigned int flags) {
    SIM_ENTER();
    if (!st) return fail(cudaErrorInvalidValue);
    if (current_device >= sim().n_devices) return fail(cudaErrorInvalidDevice);
    need_context();
    Stream *x = new Stream();
    x->device = current_device;
    x->flags = flags;
    sim().streams.push_back(x);
    *st = (cudaStream_t)x;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *st) { return cudaStreamCreateWithFlags(st, 0); }

cudaError_t cudaStreamDestroy(cudaStream_t st) {
    SIM_ENTER();
    Stream *x = stream_of(st);
    if (!x || x == sim().legacy[(size_t)x->device].get())
        return fail(cudaErrorInvalidResourceHandle);
    flush(x); /* queued work still completes */
    auto &v = sim().streams;
    for (size_t i = 0; i < v.size(); i++)
        if (v[i] == x) v.erase(v.begin() + (long)i);
    delete x;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t st) {
    SIM_ENTER();
    Stream *x = stream_of(st);
    if (!x) return fail(cudaErrorInvalidResourceHandle);
    flush(x);
    return sim().sticky == cudaSuccess ? cudaSuccess : fail(sim().sticky);
}

cudaError_t cudaStreamGetDevice(cudaStream_t st, int *device) {
    SIM_ENTER();
    Stream *x = stream_of(st);
    if (!x || !device) return fail(cudaErrorInvalidResourceHandle);
    *device = x->device;
    return cudaSuccess;
}

/* ---- memory ------------------------------------------------------------------------------- */

cudaError_t cudaMalloc(void **ptr, size_t size) {
    SIM_ENTER();
    return allocate(ptr, size, Kind::Device, false);
}

cudaError_t cudaMallocAsync(void **ptr, size_t size, cudaStream_t st) {
    SIM_ENTER();
    Stream *x = stream_of(st);
    if (!x) return fail(cudaErrorInvalidResourceHandle);
    if (x->device != current_device || current_device % 2 != 0) return fail(cudaErrorNotSupported);
    return allocate(ptr, size, Kind::Device, true);
}

cudaError_t cudaMallocHost(void **ptr, size_t size) {
    SIM_ENTER();
    return allocate(ptr, size, Kind::Pinned, false);
}

cudaError_t cudaFree(void *ptr) {
    SIM_ENTER();
    if (!ptr) return cudaSuccess;
    uintptr_t base = 0;
    Allocation *a = find(ptr, 0, &base);
    if (!a || base != (uintptr_t)ptr || a->kind == Kind::Pinned || a->freeing)
        return fail(cudaErrorInvalidValue);
    flush_device(a->device); /* cudaFree waits for the device */
    release(base);
    return cudaSuccess;
}

cudaError_t cudaFreeAsync(void *ptr, cudaStream_t st) {
    SIM_ENTER();
    Stream *x = stream_of(st);
    if (!x) return fail(cudaErrorInvalidResourceHandle);
    uintptr_t base = 0;
    Allocation *a = find(ptr, 0, &base);
    if (!a || base != (uintptr_t)ptr || a->kind == Kind::Pinned || a->freeing || !a->pooled)
        return fail(cudaErrorInvalidValue);
    a->freeing = true;
    x->work.push_back([base] { release(base); });
    return cudaSuccess;
}

cudaError_t cudaFreeHost(void *ptr) {
    SIM_ENTER();
    uintptr_t base = 0;
    Allocation *a = find(ptr, 0, &base);
    if (!a || base != (uintptr_t)ptr || a->kind != Kind::Pinned) return fail(cudaErrorInvalidValue);
    for (int d = 0; d < sim().n_devices; d++) flush_device(d);
    release(base);
    return cudaSuccess;
}

cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *attr, const void *ptr) {
    SIM_ENTER();
    if (!attr || !ptr) return fail(cudaErrorInvalidValue);
    memset(attr, 0, sizeof *attr);
    Allocation *a = find(ptr, 0, nullptr);
    if (!a) {
        attr->type = cudaMemoryTypeUnregistered;
        attr->device = -2;
        return cudaSuccess;
    }
    attr->type = a->kind == Kind::Device    ? cudaMemoryTypeDevice
                 : a->kind == Kind::Managed ? cudaMemoryTypeManaged
                                            : cudaMemoryTypeHost;
    attr->device = a->device;
    attr->devicePointer = a->kind != Kind::Pinned ? (void *)ptr : nullptr;
    attr->hostPointer = a->kind != Kind::Device ? (void *)ptr : nullptr;
    return cudaSuccess;
}

namespace {

enum class Side { Device, Pinned, Pageable, Bad };

/* Where [p, p + n) lives; device memory must be whole inside one live allocation. */
Side side_of(const void *p, size_t n) {
    Allocation *a = find(p, 0, nullptr);
    if (!a) return Side::Pageable;
    if (a->freeing) return Side::Bad;
    if (!find(p, n, nullptr)) return Side::Bad;
    return device_like(a) ? Side::Device : Side::Pinned;
}

cudaError_t copy(void *dst, const void *src, size_t n, cudaMemcpyKind kind, Stream *x, bool sync) {
    need_context();
    Side d = side_of(dst, n), s = side_of(src, n);
    if (d == Side::Bad || s == Side::Bad) return fail(cudaErrorInvalidValue);
    bool dd = d == Side::Device, sd = s == Side::Device;
    if ((kind == cudaMemcpyHostToDevice && (!dd || sd)) ||
        (kind == cudaMemcpyDeviceToHost && (dd || !sd)) ||
        (kind == cudaMemcpyDeviceToDevice && (!dd || !sd)) ||
        (kind == cudaMemcpyHostToHost && (dd || sd)))
        return fail(cudaErrorInvalidMemcpyDirection);
    if (sync) {
        flush_blocking(current_device);
        memmove(dst, src, n);
        return cudaSuccess;
    }
    if (s == Side::Pageable) {
        /* The runtime stages pageable sources before returning. */
        auto staged = std::make_shared<std::vector<char>>((const char *)src, (const char *)src + n);
        x->work.push_back([dst, staged, n] { memcpy(dst, staged->data(), n); });
    } else if (d == Side::Pageable) {
        /* A copy into pageable memory returns once it is done. */
        flush(x);
        memmove(dst, src, n);
    } else {
        x->work.push_back([dst, src, n] { memmove(dst, src, n); });
    }
    return cudaSuccess;
}

} // namespace

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind) {
    SIM_ENTER();
    return copy(dst, src, n, kind, nullptr, true);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind kind,
                            cudaStream_t st) {
    SIM_ENTER();
    Stream *x = stream_of(st);
    if (!x) return fail(cudaErrorInvalidResourceHandle);
    return copy(dst, src, n, kind, x, false);
}

cudaError_t cudaMemset(void *p, int value, size_t n) {
    SIM_ENTER();
    if (side_of(p, n) != Side::Device) return fail(cudaErrorInvalidValue);
    flush_blocking(current_device);
    memset(p, value, n);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t n, cudaStream_t st) {
    SIM_ENTER();
    Stream *x = stream_of(st);
    if (!x) return fail(cudaErrorInvalidResourceHandle);
    if (side_of(p, n) != Side::Device) return fail(cudaErrorInvalidValue);
    x->work.push_back([p, value, n] { memset(p, value, n); });
    return cudaSuccess;
}

/* ---- launches ----------------------------------------------------------------------------- */

cudaError_t cudaLaunchKernel(const void *func, dim3 grid, dim3 block, void **args,
                             size_t shared_mem, cudaStream_t st) {
    SIM_ENTER();
    const kvp_sim_kernel *k = kernel_of(func);
    if (!k) return fail(cudaErrorInvalidDeviceFunction);
    need_context();
    Stream *x = stream_of(st);
    if (!x) return fail(cudaErrorInvalidResourceHandle);
    if (x->device != current_device) {
        fprintf(stderr, "cuda sim: kernel %s launched on a stream of device %d while device %d "
                        "is current\n", k->name, x->device, current_device);
        return fail(cudaErrorInvalidResourceHandle);
    }
    if (sim().fail_next_launch) {
        cudaError_t e = (cudaError_t)sim().fail_next_launch;
        sim().fail_next_launch = 0;
        return fail(e);
    }
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535 ||
        grid.x > 2147483647u || block.x == 0 || block.y == 0 || block.z == 0 ||
        (unsigned long)block.x * block.y * block.z > 1024 || block.z > 64 || shared_mem > 0)
        return fail(cudaErrorInvalidConfiguration);
    if (!args) return fail(cudaErrorInvalidValue);
    /* Arguments are copied at launch, as the real runtime does. */
    std::vector<unsigned char> params((const unsigned char *)args[0],
                                      (const unsigned char *)args[0] + k->params_size);
    std::vector<void *> ptrs((size_t)k->n_buffers);
    for (int i = 0; i < k->n_buffers; i++) {
        ptrs[(size_t)i] = *(void **)args[1 + i];
        Allocation *a = find(ptrs[(size_t)i], 0, nullptr);
        if (!device_like(a) || a->freeing || a->device != current_device) {
            fprintf(stderr, "cuda sim: kernel %s argument %d: %p is not live memory of device %d\n",
                    k->name, i + 1, ptrs[(size_t)i], current_device);
            return fail(cudaErrorInvalidValue);
        }
    }
    sim().launches++;
    int device = current_device;
    x->work.push_back([k, params, ptrs, grid, block, device] {
        run_grid(k, params, ptrs, grid, block, device);
    });
    return cudaSuccess;
}

/* ---- the driver entry points the backend looks up ------------------------------------------ */

namespace {

CUresult sim_ctx_get_current(CUcontext *ctx) {
    if (!ctx) return CUDA_ERROR_INVALID_VALUE;
    *ctx = (CUcontext)(uintptr_t)current_ctx;
    return CUDA_SUCCESS;
}

CUresult sim_ctx_set_current(CUcontext ctx) {
    std::lock_guard<std::recursive_mutex> lock(sim().mu);
    int c = (int)(uintptr_t)ctx;
    if (c < 0 || c > sim().n_devices || (c > 0 && !sim().primary[(size_t)(c - 1)]))
        return CUDA_ERROR_INVALID_CONTEXT;
    current_ctx = c;
    if (c > 0) current_device = c - 1;
    return CUDA_SUCCESS;
}

CUresult sim_device_get(CUdevice *device, int ordinal) {
    std::lock_guard<std::recursive_mutex> lock(sim().mu);
    init();
    if (!device || ordinal < 0 || ordinal >= sim().n_devices) return CUDA_ERROR_INVALID_DEVICE;
    *device = ordinal;
    return CUDA_SUCCESS;
}

CUresult sim_primary_ctx_get_state(CUdevice device, unsigned int *flags, int *active) {
    std::lock_guard<std::recursive_mutex> lock(sim().mu);
    init();
    if (device < 0 || device >= sim().n_devices || !flags || !active)
        return CUDA_ERROR_INVALID_VALUE;
    *flags = 0;
    *active = sim().primary[(size_t)device];
    return CUDA_SUCCESS;
}

} // namespace

cudaError_t cudaGetDriverEntryPointByVersion(const char *symbol, void **fn, unsigned int version,
                                             unsigned long long flags,
                                             enum cudaDriverEntryPointQueryResult *status) {
    (void)version;
    (void)flags;
    if (!symbol || !fn) return fail(cudaErrorInvalidValue);
    static const struct {
        const char *name;
        void *fn;
    } table[] = {
        {"cuCtxGetCurrent", (void *)sim_ctx_get_current},
        {"cuCtxSetCurrent", (void *)sim_ctx_set_current},
        {"cuDeviceGet", (void *)sim_device_get},
        {"cuDevicePrimaryCtxGetState", (void *)sim_primary_ctx_get_state},
    };
    *fn = nullptr;
    for (const auto &e : table)
        if (strcmp(e.name, symbol) == 0) *fn = e.fn;
    if (status)
        *status = *fn ? cudaDriverEntryPointSuccess : cudaDriverEntryPointSymbolNotFound;
    return cudaSuccess;
}
