// The kernel module: every export takes pointers into the imported linear memory and sizes.
// The TypeScript runtime (src/runtime/) owns that memory and checks every argument first.

export { gemm_packed_size, gemm_pack_f32, gemm_pack_t_f32, gemm_f32 } from './gemm';
export { transpose_f32, rmsnorm_backward_f32, swiglu_backward_f32, attention_backward_f32 } from './backward';
export { gemv_f32 } from './gemv';
export { ffn_swiglu_f32 } from './ffn';
export { scale_f32, add_f32, axpy_f32, swiglu_f32, gelu_f32, gelu_tanh_f32, rope_f32 } from './elementwise';
export { rmsnorm_f32, layernorm_f32, softmax_f32 } from './norm';
export { attention_f32, attention_seq_f32 } from './attention';
export { dot_f32, cosine_f32, argmax_f32, add_cosine_f32 } from './reduce';
export { probe_read_f32, probe_madd_f32 } from './probe';

// First byte after the module's static data: where the TypeScript arena may start allocating.
export function heap_base(): usize {
  return __heap_base;
}
export { topk_f32, gather_rows_f32, scatter_add_rows_f32 } from './moe';
export { quantize_q8_0_f32, q8_0_packed_size, q8_0_pack_x4, gemm_q8_0_x4 } from './quant';
export { depthwise_conv2d_nhwc_f32, depthwise_conv2d_nchw_f32, depthwise_conv1d_f32, depthwise_conv1d_planar_f32 } from './conv';
export { pointwise_block_pixels, pointwise_conv_nchw_f32, grouped_pointwise_conv_nchw_f32, im2col_nchw_f32, channel_affine_nchw_f32, channel_mean_nchw_f32 } from './pointwise';
export { f32_attention_windowed } from './attention-window';
export { f32_geglu_tanh, f32_softcap } from './activation';
export { f32_add_row_bias } from './bias';
