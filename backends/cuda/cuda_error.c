/* CUDA runtime errors as kvp statuses and messages ("cudaMemcpyAsync: cudaErrorIllegalAddress
 * (700): an illegal memory access was encountered"). The native code stays in the message;
 * the status says what the caller can do about it. */
#include <stdio.h>

#include "cuda_internal.h"

kvp_status kvp_cuda_status(cudaError_t err) {
    switch (err) {
    case cudaSuccess:
        return KVP_OK;

    case cudaErrorMemoryAllocation:
        return KVP_ERR_OUT_OF_DEVICE_MEMORY;

    /* The device code this library carries cannot run on the device. */
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorInvalidKernelImage:
    case cudaErrorInvalidPtx:
    case cudaErrorUnsupportedPtxVersion:
    case cudaErrorJitCompilerNotFound:
    case cudaErrorJitCompilationDisabled:
    case cudaErrorInvalidSource:
    case cudaErrorSharedObjectInitFailed:
    case cudaErrorSharedObjectSymbolNotFound:
    case cudaErrorInvalidDeviceFunction:
#if CUDART_VERSION >= 12040
    case cudaErrorFunctionNotLoaded:
#endif
        return KVP_ERR_KERNEL_BUILD;

    /* No usable driver or device: the backend is not there. */
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorCallRequiresNewerDriver:
    case cudaErrorInitializationError:
    case cudaErrorStubLibrary:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
    case cudaErrorDevicesUnavailable:
    case cudaErrorDeviceNotLicensed:
    case cudaErrorSystemNotReady:
    case cudaErrorStartupFailure:
    case cudaErrorInvalidDevice:
    case cudaErrorCudartUnloading:
        return KVP_ERR_BACKEND_UNAVAILABLE;

    /* Faults while kernels ran, and everything that leaves the CUDA context unusable. */
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorLaunchTimeout:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
    case cudaErrorNvlinkUncorrectable:
#if CUDART_VERSION >= 12040
    case cudaErrorContained:
#endif
#if CUDART_VERSION >= 12080
    case cudaErrorTensorMemoryLeak:
#endif
    case cudaErrorPriorLaunchFailure:
    case cudaErrorContextIsDestroyed:
    case cudaErrorDeviceUninitialized:
    case cudaErrorSynchronizationError:
    case cudaErrorMpsConnectionFailed:
    case cudaErrorMpsRpcFailure:
    case cudaErrorMpsServerNotReady:
    case cudaErrorMpsClientTerminated:
    case cudaErrorExternalDevice:
    case cudaErrorUnknown:
        return KVP_ERR_DEVICE_LOST;

    /* A launch the device cannot take (too many registers for the block, grid too large):
     * a valid request this device cannot do. */
    case cudaErrorLaunchOutOfResources:
    case cudaErrorNotSupported:
    case cudaErrorCooperativeLaunchTooLarge:
        return KVP_ERR_UNSUPPORTED;

    case cudaErrorInvalidDevicePointer:
    case cudaErrorInvalidHostPointer:
        return KVP_ERR_INVALID_ARG;

    default:
        /* cudaErrorInvalidValue, cudaErrorInvalidConfiguration, cudaErrorInvalidResourceHandle,
         * ...: the library passed something wrong. */
        return KVP_ERR_INTERNAL;
    }
}

void kvp_cuda_format_error(char *buf, size_t size, cudaError_t err, const char *what) {
    const char *name = cudaGetErrorName(err);
    const char *text = cudaGetErrorString(err);
    snprintf(buf, size, "%s: %s (%d): %s", what, name ? name : "cudaError?", (int)err,
             text ? text : "unknown error");
}

kvp_status kvp_cuda_error(kvp_context *ctx, cudaError_t err, const char *what) {
    char msg[512];
    kvp_cuda_format_error(msg, sizeof msg, err, what);
    /* A failed call leaves its (non-sticky) error as the thread's "last error"; the executor
     * checks cudaGetLastError after each launch, so clear it here. Sticky errors (a fault in
     * a kernel) cannot be cleared and keep being reported, which is what we want. */
    (void)cudaGetLastError();
    kvp_status st = kvp_cuda_status(err);
    if (ctx) return kvp__error(ctx, st, "cuda: %s", msg);
    return kvp__error_tls(st, "cuda: %s", msg);
}
