#!/usr/bin/env python3
"""Checks that every kernel body compiles as GLSL and as CUDA, not only as OpenCL C.

usage: check_bodies.py SHADER_DIR [--glslang PATH] [--nvcc PATH] [--only NAME]

For each OpenCL entry point shaders/opencl/<kernel>.cl, the buffer list (KVP_CL_BUF) and
parameter struct are read back and a throwaway GLSL compute shader and CUDA translation
unit with the same bindings are compiled (glslangValidator -V, nvcc -c). The real Vulkan
and CUDA wrappers live with their backends; this catches a body that only one language
accepts (a GLSL keyword as a name, int/uint mixing, a function inside main) at the time
the body is written. Exits 77 when neither compiler is available.
"""
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile

BUF = re.compile(r'KVP_CL_BUF\((const )?(\w+), (\w+)\)')
PARAMS = re.compile(r'const (kvp_p_\w+) p\)')


def parse(path):
    text = open(path, encoding='utf-8').read()
    bufs = [(name, typ, not const) for const, typ, name in BUF.findall(text)]
    m = PARAMS.search(text)
    if not m or not bufs:
        sys.exit('check_bodies.py: cannot parse %s' % path)
    return bufs, m.group(1)


def glsl(kernel, bufs, params):
    lines = ['#version 450', '#extension GL_GOOGLE_include_directive : require',
             '#define KVP_GLSL 1', '#define KVP_WG 256', '#include "kvp_params.h"',
             '#include "kvp_kernel.h"', 'layout(local_size_x = KVP_WG) in;']
    for b, (name, typ, writable) in enumerate(bufs):
        lines.append('layout(std430, binding = %d) %sbuffer B%d { %s %s[]; };'
                     % (b, '' if writable else 'readonly ', b, typ, name))
    lines += ['layout(push_constant) uniform PC { %s p; };' % params, '#define KVP_DECLS',
              '#include "%s.inc"' % kernel, '#undef KVP_DECLS', 'void main()',
              '#include "%s.inc"' % kernel, '']
    return '\n'.join(lines)


def cuda(kernel, bufs, params):
    args = ', '.join('%s%s *%s' % ('' if w else 'const ', t, n) for n, t, w in bufs)
    return '\n'.join([
        '#define KVP_WG 256', '#include "kvp_params.h"', '#include "kvp_kernel.h"',
        'extern "C" __global__ void __launch_bounds__(KVP_WG) kvp_%s(%s, %s p) {'
        % (kernel, args, params),
        '#define KVP_DECLS', '#include "%s.inc"' % kernel, '#undef KVP_DECLS',
        '#include "%s.inc"' % kernel, '}', ''])


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    shader_dir = args[0]
    opts = dict(zip(args[1::2], args[2::2]))
    glslang = opts.get('--glslang')
    nvcc = opts.get('--nvcc')
    only = opts.get('--only')
    if not glslang and not nvcc:
        print('neither glslangValidator nor nvcc given: nothing to check')
        return 77
    common = os.path.join(shader_dir, 'common')
    cl_dir = os.path.join(shader_dir, 'opencl')
    jobs = []
    with tempfile.TemporaryDirectory() as tmp:
        for fname in sorted(os.listdir(cl_dir)):
            if not fname.endswith('.cl'):
                continue
            kernel = fname[:-3]
            if only and kernel != only:
                continue
            bufs, params = parse(os.path.join(cl_dir, fname))
            if glslang:
                src = os.path.join(tmp, kernel + '.comp')
                open(src, 'w').write(glsl(kernel, bufs, params))
                jobs.append((kernel, 'glsl', [glslang, '-V', '-I' + common, '-o',
                                              os.path.join(tmp, kernel + '.spv'), src]))
            if nvcc:
                src = os.path.join(tmp, kernel + '.cu')
                open(src, 'w').write(cuda(kernel, bufs, params))
                jobs.append((kernel, 'cuda', [nvcc, '-c', '-arch=sm_80', '-I' + common, '-o',
                                              os.path.join(tmp, kernel + '.o'), src]))
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            results = list(pool.map(
                lambda j: subprocess.run(j[2], capture_output=True, text=True), jobs))
    failures = 0
    checked = len(jobs)
    for (kernel, lang, _), r in zip(jobs, results):
        out = (r.stdout + r.stderr).strip()
        # glslangValidator echoes the file name; anything else is a diagnostic
        noise = [l for l in out.splitlines() if l.strip() and not l.endswith('.comp')]
        if r.returncode != 0 or (lang == 'cuda' and noise):
            failures += 1
            print('%s as %s:\n%s\n' % (kernel, lang, '\n'.join(noise[:20])))
    print('%d compilations, %d failed' % (checked, failures))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
