// Split-KV scheduling for batch decode, on the host: which CTA handles which tokens of which
// request and KV head, and where split requests leave partial results. A pure function of the
// page table's shape, so it is tested without a GPU.
#pragma once

#include <cstddef>
#include <vector>

#include "batch_decode_params.h"

namespace kjit {

struct BatchDecodeShape {
  int num_qo_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int page_size = 0;
  int window_left = -1;  // >= 0: the query at position p sees keys p - window_left .. p
};

struct BatchDecodeSchedule {
  std::vector<BatchDecodeWorkItem> work_items;  // longest first
  std::vector<BatchDecodeMergeItem> merge_items;
  int num_slots = 0;       // partial results
  int num_row_blocks = 1;  // ceil(group / 16)
  int chunk_tokens = 0;    // the longest chunk of a split request; 0: none is split

  // Workspace layout, in bytes from its start (each part 256-byte aligned).
  std::size_t work_items_offset = 0;
  std::size_t merge_items_offset = 0;
  std::size_t partial_o_offset = 0;
  std::size_t partial_lse_offset = 0;
  std::size_t group_counters_offset = 0;  // zeroed by the plan, and by each in-grid merge
  std::size_t workspace_bytes = 0;
};

// Chunks shorter than this cost more in merging than they gain in parallelism.
inline constexpr int kMinChunkTokens = 256;

// kv_indptr[batch + 1] and kv_last_page_len[batch] as in the kernel's page table. Splits
// requests into equal chunks only when batch x kv_heads x row blocks cannot fill one wave of
// num_sms x ctas_per_sm CTAs (ctas_per_sm: how many CTAs of the decode kernel one SM holds at
// once, the driver's occupancy for the loaded kernel), and then so that the longest work item is
// as short as one wave allows.
// Throws InvalidArgument for an inconsistent page table or shape.
BatchDecodeSchedule schedule_batch_decode(const std::vector<int>& kv_indptr,
                                          const std::vector<int>& kv_last_page_len,
                                          const BatchDecodeShape& shape, int num_sms,
                                          int ctas_per_sm);

}  // namespace kjit
