// ES module entry: the same functions as the CommonJS build, as named exports.
import { createRequire } from 'node:module';
import type * as Lowbit from './index.js';

const require = createRequire(import.meta.url);
const lowbit = require('./index.js') as typeof Lowbit;

export const {
  cpu,
  measurePeaks,
  setIsa,
  retainFreedMemory,
  MAX_RETAINED_BYTES,
  chooseQuantParams,
  quantize,
  quantizeAsync,
  dequantize,
  dequantizeAsync,
  isLowbitError,
  QuantizedLinear,
  EmbeddingTable,
  embeddingBag,
  embeddingBagAsync,
  embeddingBags,
  embeddingBagsAsync,
  rowBytes,
  Conv2d,
  Linear,
  pruneWeights,
  QuantizedConv2d,
  readSafetensors,
  writeSafetensors,
  SafetensorsFile,
  readNpy,
  writeNpy,
  toFloat32,
  TENSOR_DTYPES,
  loadOnnx,
  OnnxSession,
} = lowbit;
export type * from './index.js';
export default lowbit;
