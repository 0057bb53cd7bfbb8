// The kernel module: every export takes pointers into the imported linear memory and sizes.
// The TypeScript runtime (src/runtime/) owns that memory and checks every argument first.
//
// Export names say, as XNNPACK's do, the datatype, the operation, then the layout and the tile
// where there is a choice: f32_gemm_4x8 (4 rows x 8 features per step, on weights packed by
// f32_gemm_pack_4x8), q8_0_gemm_x4 (Q8_0 rows in groups of 4), f32_dwconv2d_nchw. A size export
// names its unit: f32_gemm_packed_floats, f32_pwconv_nchw_scratch_floats.

export { f32_gemm_packed_floats, f32_gemm_pack_4x8, f32_gemm_pack_transposed_4x8, f32_gemm_4x8 } from './gemm';
export { f32_transpose, f32_rmsnorm_backward, f32_swiglu_backward, f32_attention_seq_backward } from './backward';
export { f32_gemv } from './gemv';
export { f32_ffn_swiglu_4x8 } from './ffn';
export { f32_scale, f32_add, f32_axpy, f32_swiglu, f32_gelu, f32_gelu_tanh, f32_rope } from './elementwise';
export { f32_rmsnorm, f32_layernorm, f32_softmax } from './norm';
export { f32_attention, f32_attention_seq } from './attention';
export { f32_dot, f32_cosine, f32_argmax, f32_add_cosine } from './reduce';
export { f32_probe_read, f32_probe_madd, i8_probe_dot, i8_probe_dot_width } from './probe';

// First byte after the module's static data: where the TypeScript arena may start allocating.
export function heap_base(): usize {
  return __heap_base;
}
export { f32_topk, f32_gather_rows, f32_scatter_add_rows } from './moe';
export { q8_0_quantize, q8_0_gemm_packed_floats, q8_0_gemm_pack_x4, q8_0_gemm_x4 } from './quant';
export { f32_dwconv2d_nhwc, f32_dwconv2d_nchw, f32_dwconv1d_nlc, f32_dwconv1d_ncl } from './conv';
export { f32_pwconv_nchw_scratch_floats, f32_pwconv_nchw, f32_grouped_pwconv_nchw, f32_im2col_nchw, f32_channel_affine_nchw, f32_channel_mean_nchw } from './pointwise';
export { q8_1_quantize_f32, q8_k_quantize_f32 } from './q8';
export { q4_1_gemm, q5_0_gemm, q5_1_gemm, iq4_nl_gemm, q5_k_gemm, iq4_xs_gemm } from './ggml';
export { f16_round_f32, bf16_round_f32, f16_gemm, bf16_gemm, half_count_nonfinite } from './f16';
export { relaxed_dot_probe, relaxed_dot_form } from './dot';
export { q8_1_quantize_f32_x4, q8_k_quantize_f32_x4 } from './q8';
export { q4_0_gemm_packed_bytes, q4_0_gemm_pack_x4, q4_0_gemm_x4, q4_k_gemm_packed_bytes, q4_k_gemm_pack_x4, q4_k_gemm_x4 } from './q4x4';
export { q6_k_gemm_packed_bytes, q6_k_gemm_pack_x4, q6_k_gemm_x4 } from './q6x4';
export { q2_k_gemm_packed_bytes, q2_k_gemm_pack_x4, q2_k_gemm_x4, q3_k_gemm_packed_bytes, q3_k_gemm_pack_x4, q3_k_gemm_x4 } from './q23x4';
export { f32_attention_windowed } from './attention-window';
export { f32_geglu_tanh, f32_softcap } from './activation';
export { f32_add_row_bias } from './bias';
export { f32_geglu_backward, f32_attention_seq_windowed, f32_attention_seq_windowed_backward } from './backward';
export { f32_to_f16_cache, f16_attention, f16_attention_flash } from './attention-f16';
export { ggml_quantize_scratch_bytes, q2_k_quantize_f32, q3_k_quantize_f32, q4_k_quantize_f32, q5_k_quantize_f32, q6_k_quantize_f32, iq4_nl_quantize_f32, iq4_xs_quantize_f32 } from './quantize-kquants';
export { relaxed_dot_u8_form } from './dot';
export { q8_0_gemm_pack_x4_u8, q8_0_quantize_f32_x4_u8, q8_0_gemm_x4_u8 } from './q8u8';
export { q5_k_gemm_packed_bytes, q5_k_gemm_pack_x4, q5_k_gemm_x4 } from './q5x4';
