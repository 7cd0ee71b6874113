# Generates the kernel sources the emulations compile: the engine's (and the workbench's) text,
# verbatim but for the listed substitutions (inline PTX and __shared__ declarations, which have
# no host meaning). Every substitution must match exactly as often as stated, and no inline
# assembly may remain, so an edit to the kernels that the emulation does not cover stops the
# build instead of being silently skipped.
#
#   cmake -DNATIVE=<packages/runner-cuda/native> -DOUT=<dir> -P extract.cmake
cmake_minimum_required(VERSION 3.20)

set(ENGINE ${NATIVE}/engine/cuda)
set(DEV ${NATIVE}/dev/cuda)
file(MAKE_DIRECTORY ${OUT})

# replace(<var> <count> <old> <new>)
function(replace var count old new)
  set(text "${${var}}")
  string(LENGTH "${old}" len)
  set(found 0)
  set(rest "${text}")
  while(TRUE)
    string(FIND "${rest}" "${old}" at)
    if(at EQUAL -1)
      break()
    endif()
    math(EXPR found "${found} + 1")
    math(EXPR next "${at} + ${len}")
    string(SUBSTRING "${rest}" ${next} -1 rest)
  endwhile()
  if(NOT found EQUAL count)
    message(FATAL_ERROR "extract.cmake: expected ${count} occurrence(s) of\n${old}\nin ${CURRENT_FILE}, found ${found}")
  endif()
  string(REPLACE "${old}" "${new}" text "${text}")
  set(${var} "${text}" PARENT_SCOPE)
endfunction()

# grab(<out> <text var> <start> <end>): from the first <start> through the first <end> after it.
function(grab out var start end)
  string(FIND "${${var}}" "${start}" i)
  if(i EQUAL -1)
    message(FATAL_ERROR "extract.cmake: '${start}' not found in ${CURRENT_FILE}")
  endif()
  string(SUBSTRING "${${var}}" ${i} -1 tail)
  string(FIND "${tail}" "${end}" j)
  if(j EQUAL -1)
    message(FATAL_ERROR "extract.cmake: '${end}' not found after '${start}' in ${CURRENT_FILE}")
  endif()
  string(LENGTH "${end}" n)
  math(EXPR j "${j} + ${n}")
  string(SUBSTRING "${tail}" 0 ${j} piece)
  set(${out} "${piece}" PARENT_SCOPE)
endfunction()

function(no_device_leftovers var)
  foreach(bad "asm volatile" "asm(" "__shared__" "<<<")
    string(FIND "${${var}}" "${bad}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "extract.cmake: '${bad}' left in the text generated from ${CURRENT_FILE}: the emulation does not cover it")
    endif()
  endforeach()
endfunction()

# Always written, so the build's outputs are never older than the sources they came from.
function(write_out path text)
  file(WRITE ${path} "${text}")
endfunction()

# --- Engine headers of the persistent decode kernel ---------------------------------------------
set(CURRENT_FILE ${ENGINE}/cuda_common.cuh)
file(READ ${CURRENT_FILE} t)
replace(t 1 [=[  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
               : "l"(p));]=] [=[  r = *static_cast<const uint4*>(p);]=])
# pdl_wait/pdl_trigger hold their assembly under __CUDA_ARCH__, which the host never defines.
string(REGEX REPLACE "#if defined\\(__CUDA_ARCH__\\)[^\n]*\n[^\n]*\n#endif" "" t "${t}")
no_device_leftovers(t)
write_out(${OUT}/cuda_common.cuh "${t}")

foreach(f kv_cache.cuh decode_persistent.cuh attention.cuh matvec.cuh quant_kernels.cuh)
  set(CURRENT_FILE ${ENGINE}/${f})
  file(READ ${CURRENT_FILE} t)
  no_device_leftovers(t)
  write_out(${OUT}/${f} "${t}")
endforeach()

set(CURRENT_FILE ${ENGINE}/decode_persistent.cu)
file(READ ${CURRENT_FILE} t)
replace(t 1 [=[asm volatile("atom.add.release.gpu.global.u64 %0, [%1], %2;" : "=l"(old) : "l"(p), "l"(v) : "memory");]=]
            [=[old = emu::atom_add_release_gpu(p, v);]=])
replace(t 1 [=[asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");]=]
            [=[v = emu::ld_acquire_gpu_poll(p);]=])
replace(t 1 [=[asm volatile("atom.add.acq_rel.gpu.global.u32 %0, [%1], %2;" : "=r"(old) : "l"(p), "r"(v) : "memory");]=]
            [=[old = emu::atom_add_acq_rel_gpu(p, v);]=])
replace(t 1 [=[extern __shared__ float4 smem4[];]=]
            [=[float4* smem4 = reinterpret_cast<float4*>(emu::t_block->dynamic_smem.data());]=])
no_device_leftovers(t)
write_out(${OUT}/decode_persistent.cu "${t}")

# --- The workbench's model, step and CPU reference (dev/cuda/decode_step.cu) ----------------------
set(CURRENT_FILE ${DEV}/decode_step.cu)
file(READ ${CURRENT_FILE} t)
grab(model t "struct Shape {" "\n// Version 1: the layered engine kernels.\n")
grab(v2 t "cudaError_t step_v2(" "\n}\n")
set(t "${model}\n${v2}")
replace(t 1 [=[fill_kernel<T><<<1024, 256>>>(p, n, seed, lo, hi);]=]
            [=[emu::launch_sequential(fill_kernel<T>, dim3(1024), dim3(256), p, n, seed, lo, hi);]=])
# The layered path's attention workspace (version 1 is not emulated).
replace(t 1 [=[  WB_CHECK(cudaMalloc(&st.attn_ws, attention_decode_workspace_bytes(R, s.nq, s.hd, s.max_seq, s.nq / s.nkv)));]=]
            [=[  st.attn_ws = nullptr;]=])
no_device_leftovers(t)
write_out(${OUT}/decode_step_model.inc "${t}")

# --- The tensor-core prefill attention kernel (engine/cuda/attention.cu) ---------------------------
set(CURRENT_FILE ${ENGINE}/attention.cu)
file(READ ${CURRENT_FILE} t)
grab(shape t "template <int HD> struct PrefillShape {" "};\n")
grab(tcconst t "constexpr int kTcWarps" ";\n")
grab(tcshape t "template <int HD> struct TcShape {" "\n};\n")
grab(kernel t "template <typename OT, int HD>\n__global__ void __launch_bounds__(kTcWarps" "\n}\n")
grab(launcher t "template <typename OT, int HD>\nstatic cudaError_t prefill_tc_hd(" "\n}\n")
string(REPLACE "__shared__" "" without "${kernel}")
string(LENGTH "${kernel}" n0)
string(LENGTH "${without}" n1)
math(EXPR removed "${n0} - ${n1}")
if(NOT removed EQUAL 10)
  message(FATAL_ERROR "extract.cmake: expected one __shared__ array in the tensor-core kernel")
endif()
string(REGEX REPLACE "__shared__ __align__\\(16\\) ([A-Za-z0-9_]+) ([A-Za-z0-9_]+)(\\[[^;]+\\]);"
       "auto& \\2 = *reinterpret_cast<\\1(*)\\3>(emu::t_block->static_smem.data());" kernel "${kernel}")
set(t "${shape}\n${tcconst}\n${tcshape}\n${kernel}\n${launcher}")
no_device_leftovers(t)
write_out(${OUT}/attention_tc_kernel.inc "${t}")
