// ffnkit/mixer: MetaMixer's FFNet (image classification and time series) as planar op graphs run
// on the wasm kernels: the variants, their parameters (safetensors or seeded), the graph builder
// and the runner. ONNX export of these models is ffnkit/onnx.

export { FfnetModel, type FfnetOptions } from '../mixer/ffnet.js';
export {
  TimeSeriesFfnet, TIMESERIES_ETTH1, timeSeriesParameterShapes, randomTimeSeriesParams, readTimeSeriesSafetensors, checkTimeSeriesConfig, patchCount,
  type TimeSeriesFfnetConfig,
} from '../mixer/timeseries.js';
export { FFNET_VARIANTS, ffnetConfig, checkFfnetConfig, type FfnetConfig, type FfnetVariant } from '../mixer/ffnet-config.js';
export { ffnetParameterShapes, randomFfnetParams, readFfnetSafetensors, paramSource, type ParamMap } from '../mixer/ffnet-params.js';
export { buildFfnetGraph, type ParamSource, type FfnetGraphOptions } from '../mixer/ffnet-graph.js';
export { GraphBuilder, graphParameterCount, graphFlops, type MixerGraph, type MixerOp, type FeatureShape, type Param } from '../mixer/graph.js';
export { MixerRunner } from '../mixer/runner.js';
