// What would S3 (1 x 32768 tokens, 8 KV heads, d 64, BF16: 64 MiB of KV) gain from a
// thread-block cluster whose CTAs merge their partial results through distributed shared memory?
// (bench/RESULTS.md, "Next".) This probe streams 64 MiB the way a split decode grid does and
// then merges the way such a kernel would, without attention math, so that it prices:
//   plain-512x128    512 CTAs x 128 threads read their slices (today's decode grid's shape);
//   plain-128x512    128 CTAs x 512 threads (one CTA per SM), no merge;
//   cluster-16       the same 128 CTAs in 8 clusters of 16 (one cluster per KV head): each CTA
//                    leaves a 16 x 64 float partial and 16 log-sum-exps in shared memory, a
//                    cluster barrier, then CTA k merges row k from all 16 CTAs' shared memory;
//   cluster-8        16 clusters of 8 (portable size), the same merge over 8 CTAs (a real
//                    kernel would still merge the two clusters of a head through global memory);
//   cluster-16x4/SM  today's 512 CTAs x 128 threads in clusters of 16 (4 clusters per KV head,
//                    whose results would still meet in global memory).
// It prints the copy bandwidth of the same process, each variant's median time and its % of
// copy, and the occupancy query for the cluster shapes and for every cluster size at one CTA per
// SM. Build and run on the device machine:
//   nvcc -O3 -arch=sm_90 -std=c++17 -o /tmp/probe bench/cluster_merge_probe.cu && /tmp/probe
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace cg = cooperative_groups;

#define CHECK(call)                                                                         \
  do {                                                                                      \
    cudaError_t status_ = (call);                                                           \
    if (status_ != cudaSuccess) {                                                           \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(status_)); \
      std::exit(1);                                                                         \
    }                                                                                       \
  } while (0)

constexpr size_t kBytes = size_t{64} << 20;  // S3's K and V in BF16
constexpr int kRows = 16, kDim = 64;         // one CTA's partial result: 16 query heads x d 64

// Each thread sums its share of the CTA's slice with 4 independent 16-byte loads in flight.
__device__ float read_slice(const uint4* data, size_t begin, size_t end) {
  float sum = 0.f;
  size_t i = begin + threadIdx.x;
  const size_t stride = blockDim.x;
  for (; i + 3 * stride < end; i += 4 * stride) {
    uint4 v[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) v[k] = __ldg(data + i + k * stride);
#pragma unroll
    for (int k = 0; k < 4; ++k) sum += __uint_as_float(v[k].x ^ v[k].y ^ v[k].z ^ v[k].w);
  }
  for (; i < end; i += stride) sum += __uint_as_float(__ldg(data + i).x);
  return sum;
}

__global__ void plain_read(const uint4* data, size_t per_cta, float* out) {
  const size_t begin = blockIdx.x * per_cta;
  const float sum = read_slice(data, begin, begin + per_cta);
  // Like a split CTA's partial result: 16 x 64 floats per CTA.
  for (int e = threadIdx.x; e < kRows * kDim; e += blockDim.x) {
    out[blockIdx.x * kRows * kDim + e] = sum + e;
  }
}

__global__ void cluster_read_merge(const uint4* data, size_t per_cta, float* out) {
  cg::cluster_group cluster = cg::this_cluster();
  __shared__ float partial[kRows][kDim];
  __shared__ float lse[kRows];
  const size_t begin = blockIdx.x * per_cta;
  const float sum = read_slice(data, begin, begin + per_cta);
  for (int e = threadIdx.x; e < kRows * kDim; e += blockDim.x)
    partial[e / kDim][e % kDim] = sum + e;
  if (threadIdx.x < kRows) lse[threadIdx.x] = sum * 1e-9f + threadIdx.x;
  cluster.sync();  // every CTA's partial is in its shared memory
  const unsigned ranks = cluster.num_blocks(), rank = cluster.block_rank();
  // CTA `rank` merges rows rank, rank + ranks, ... : max of the LSEs, weights, weighted sum.
  for (int row = rank; row < kRows; row += ranks) {
    if (threadIdx.x < kDim) {
      float max_lse = -INFINITY;
      for (unsigned r = 0; r < ranks; ++r)
        max_lse = fmaxf(max_lse, cluster.map_shared_rank(lse, r)[row]);
      float total = 0.f, value = 0.f;
      for (unsigned r = 0; r < ranks; ++r) {
        const float w = exp2f(cluster.map_shared_rank(lse, r)[row] - max_lse);
        total += w;
        value += w * cluster.map_shared_rank(&partial[0][0], r)[row * kDim + threadIdx.x];
      }
      const unsigned cluster_id = blockIdx.x / ranks;
      out[(cluster_id * kRows + row) * kDim + threadIdx.x] = value / total;
    }
  }
  cluster.sync();  // no CTA leaves while others still read its shared memory
}

struct Variant {
  const char* name;
  int ctas, threads, cluster;  // cluster 0: a plain launch
  int shared_bytes;            // dynamic shared memory: 128 KB keeps one CTA per SM, as in a
                               // real 16-warp decode CTA (16 warps x 2 stages x 4 KB)
};

int main() {
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  // Rotate through buffers whose sum is well past L2, so every launch reads from DRAM.
  const int kBuffers = 6;
  std::vector<uint4*> buffers(kBuffers);
  for (auto& b : buffers) {
    CHECK(cudaMalloc(&b, kBytes));
    CHECK(cudaMemset(b, 1, kBytes));
  }
  float* out;
  CHECK(cudaMalloc(&out, 512 * kRows * kDim * sizeof(float)));
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));

  // Copy bandwidth, read + write counted, 1 GiB.
  void *src, *dst;
  const size_t copy_bytes = size_t{1} << 30;
  CHECK(cudaMalloc(&src, copy_bytes));
  CHECK(cudaMalloc(&dst, copy_bytes));
  std::vector<float> copy_ms;
  for (int i = 0; i < 10; ++i) {
    CHECK(cudaEventRecord(start));
    CHECK(cudaMemcpy(dst, src, copy_bytes, cudaMemcpyDeviceToDevice));
    CHECK(cudaEventRecord(stop));
    CHECK(cudaEventSynchronize(stop));
    float ms;
    CHECK(cudaEventElapsedTime(&ms, start, stop));
    copy_ms.push_back(ms);
  }
  std::sort(copy_ms.begin(), copy_ms.end());
  const double copy_tbps = 2.0 * copy_bytes / (copy_ms[copy_ms.size() / 2] * 1e-3) / 1e12;
  std::printf("device %s, %d SMs; copy bandwidth %.2f TB/s (read + write, 1 GiB)\n", prop.name,
              prop.multiProcessorCount, copy_tbps);
  CHECK(cudaFree(src));
  CHECK(cudaFree(dst));

  constexpr int kOneCtaPerSm = 128 << 10;
  CHECK(
      cudaFuncSetAttribute(cluster_read_merge, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
  CHECK(cudaFuncSetAttribute(cluster_read_merge, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             kOneCtaPerSm));
  CHECK(
      cudaFuncSetAttribute(plain_read, cudaFuncAttributeMaxDynamicSharedMemorySize, kOneCtaPerSm));
  // How many clusters of each size fit at one CTA per SM (the GPCs decide, not the SM count).
  std::printf("clusters resident at one 512-thread CTA per SM, by cluster size:");
  for (int size = 1; size <= 16; ++size) {
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(size * 8);
    config.blockDim = dim3(512);
    config.dynamicSmemBytes = kOneCtaPerSm;
    cudaLaunchAttribute attribute;
    attribute.id = cudaLaunchAttributeClusterDimension;
    attribute.val.clusterDim.x = size;
    attribute.val.clusterDim.y = attribute.val.clusterDim.z = 1;
    config.attrs = &attribute;
    config.numAttrs = 1;
    int clusters = 0;
    CHECK(cudaOccupancyMaxActiveClusters(&clusters, cluster_read_merge, &config));
    std::printf(" %d:%d", size, clusters);
  }
  std::printf("\n");
  const Variant variants[] = {{"plain-512x128", 512, 128, 0, 0},
                              {"plain-128x512", 128, 512, 0, kOneCtaPerSm},
                              {"cluster-16", 128, 512, 16, kOneCtaPerSm},
                              {"cluster-8", 128, 512, 8, kOneCtaPerSm},
                              {"cluster-16x4/SM", 512, 128, 16, 0}};
  for (const Variant& v : variants) {
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(v.ctas);
    config.blockDim = dim3(v.threads);
    config.dynamicSmemBytes = v.shared_bytes;
    cudaLaunchAttribute attribute;
    attribute.id = cudaLaunchAttributeClusterDimension;
    attribute.val.clusterDim.x = v.cluster;
    attribute.val.clusterDim.y = attribute.val.clusterDim.z = 1;
    if (v.cluster > 0) {
      config.attrs = &attribute;
      config.numAttrs = 1;
      int clusters = 0;
      CHECK(cudaOccupancyMaxActiveClusters(&clusters, cluster_read_merge, &config));
      std::printf("%s: at most %d clusters of %d x %d threads resident (%d needed)\n", v.name,
                  clusters, v.cluster, v.threads, v.ctas / v.cluster);
    }
    const size_t per_cta = kBytes / sizeof(uint4) / v.ctas;
    std::vector<float> times;
    for (int i = 0; i < 60; ++i) {
      const uint4* data = buffers[i % kBuffers];
      CHECK(cudaEventRecord(start));
      if (v.cluster > 0) {
        CHECK(cudaLaunchKernelEx(&config, cluster_read_merge, data, per_cta, out));
      } else {
        plain_read<<<v.ctas, v.threads, v.shared_bytes>>>(data, per_cta, out);
      }
      CHECK(cudaEventRecord(stop));
      CHECK(cudaEventSynchronize(stop));
      CHECK(cudaGetLastError());
      float ms;
      CHECK(cudaEventElapsedTime(&ms, start, stop));
      if (i >= kBuffers) times.push_back(ms);  // the first round warms up
    }
    std::sort(times.begin(), times.end());
    const double us = times[times.size() / 2] * 1e3;
    std::printf("%-14s %7.1f us  %5.1f %% of copy  (min %.1f, max %.1f us)\n", v.name, us,
                100.0 * (kBytes / (us * 1e-6) / 1e12) / copy_tbps, times.front() * 1e3,
                times.back() * 1e3);
  }
  return 0;
}
