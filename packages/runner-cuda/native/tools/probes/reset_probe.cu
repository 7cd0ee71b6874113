// Does a sticky CUDA error recover in-process after cudaDeviceReset on this driver?
// Build and run on a GPU machine: nvcc -O2 -arch=sm_90 -o rp reset_probe.cu && ./rp 0 && ./rp 1
// (mode 0 resets on the faulting thread, mode 1 on another thread). Exit 0 = recovered.
#include <cstdio>
#include <cuda_runtime.h>
#include <thread>
#include <chrono>
__global__ void oob(int* p) { p[(size_t)1 << 40] = 1; }
__global__ void ok(int* p) { p[threadIdx.x] = threadIdx.x; }
static void rep(const char* what, cudaError_t e) { printf("%-40s %s\n", what, cudaGetErrorName(e)); fflush(stdout); }
static bool try_work(const char* tag) {
  int* d = nullptr;
  cudaError_t e = cudaMalloc(&d, 1024); rep(tag, e); if (e) return false;
  ok<<<1, 32>>>(d); e = cudaDeviceSynchronize(); rep("  ok kernel", e);
  int h[32]; e = cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost); rep("  memcpy", e);
  printf("  h[31]=%d\n", h[31]); cudaFree(d); return e == cudaSuccess && h[31] == 31;
}
int main(int argc, char** argv) {
  int mode = argc > 1 ? atoi(argv[1]) : 0;
  rep("cudaSetDevice(0)", cudaSetDevice(0));
  try_work("initial malloc");
  int* d = nullptr; cudaMalloc(&d, 1024);
  oob<<<1, 1>>>(d);
  rep("sync after oob", cudaDeviceSynchronize());
  rep("getLastError", cudaGetLastError());
  if (mode == 1) { // reset from another thread
    std::thread t([] { rep("reset (other thread)", cudaDeviceReset()); }); t.join();
  } else {
    rep("cudaDeviceReset", cudaDeviceReset());
  }
  for (int i = 0; i < 5; ++i) {
    cudaError_t e = cudaSetDevice(0); rep("cudaSetDevice after reset", e);
    if (try_work("malloc after reset")) { printf("RECOVERED mode=%d attempt=%d\n", mode, i); return 0; }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    rep("cudaDeviceReset again", cudaDeviceReset());
  }
  printf("NOT RECOVERED mode=%d\n", mode);
  return 1;
}
