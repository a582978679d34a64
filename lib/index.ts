/**
 * lowbit: low-precision CPU kernels for Node.js (int8 GEMM, quantized embedding bags, sparse
 * convolution), hand-tuned for AVX2, AVX-512 and NEON and chosen at run time by CPUID.
 * @packageDocumentation
 */
export { cpu, measurePeaks, setIsa } from './cpu';
export { MAX_RETAINED_BYTES, retainFreedMemory } from './allocator';
export type { CpuInfo, CpuPeaks, Isa } from './cpu';
export { chooseQuantParams, dequantize, dequantizeAsync, quantize, quantizeAsync } from './quant';
export type {
  ChooseQuantParamsOptions,
  ChosenQuantParams,
  DequantizeOptions,
  QuantDtype,
  QuantizeOptions,
  QuantParams,
} from './quant';
export { QuantizedLinear } from './gemm';
export type {
  ExplainOptions,
  ForwardOptions,
  FromFloat32Options,
  FromInt8Options,
  LinearExplanation,
  LinearMode,
  MatmulCommonOptions,
  MatmulFloatOptions,
  MatmulInt32Options,
  MatmulQuantizedOptions,
  WeightLayout,
} from './gemm';
export { EmbeddingTable, embeddingBag, embeddingBagAsync, embeddingBags, embeddingBagsAsync, rowBytes } from './embedding';
export type {
  AllocateOptions,
  EmbeddingBagF16Options,
  EmbeddingBagLookup,
  EmbeddingBagOptions,
  EmbeddingBagsF16Options,
  EmbeddingBagsOptions,
  EmbeddingOutputType,
  FromBufferOptions,
  FromFloat32TableOptions,
  HotRowsOptions,
  HugePages,
  OpenOptions,
  OptimizedQParams,
  TableFormat,
  TableOptions,
} from './embedding';
export { Conv2d, pruneWeights } from './conv';
export type { Conv2dMode, Conv2dOptions, ConvExplanation, ConvForwardOptions, ConvInputShape, ConvMode, Pair, PruneOptions } from './conv';
export { Linear } from './linear';
export type { LinearForwardOptions, LinearOptions } from './linear';
export type { ConvGeometryOptions } from './conv-geometry';
export type { KernelOptions, QuantizedOutputOptions } from './output-options';
export { QuantizedConv2d } from './qconv';
export type {
  QConvCommonOptions,
  QConvExplainOptions,
  QConvExplanation,
  QConvMode,
  QConvForwardFloatOptions,
  QConvForwardInt32Options,
  QConvForwardOptions,
  QConvFromFloat32Options,
  QConvFromInt8Options,
  QConvInputShape,
  QuantizedConv2dGeometry,
} from './qconv';
export { readNpy, readSafetensors, SafetensorsFile, TENSOR_DTYPES, toFloat32, writeNpy, writeSafetensors } from './weights';
export type { ReadSafetensorsOptions, SafetensorsEntry, SafetensorsTableOptions, Tensor, TensorData, TensorDtype, WeightSource } from './weights';
export { isLowbitError } from './errors';
export type { LowbitError, LowbitErrorCode } from './errors';
export { loadOnnx, OnnxSession } from './onnx';
export type { LoadOnnxOptions, OnnxFeeds, OnnxResults, OnnxTensor, OnnxTensorType } from './onnx';
