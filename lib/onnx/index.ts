/**
 * The ONNX runner: {@link loadOnnx} takes what `torch.onnx.export` and `onnxruntime.quantization`
 * write and runs it on lowbit's kernels.
 */
export { loadOnnx, OnnxSession } from './session';
export type { LoadOnnxOptions, OnnxFeeds, OnnxResults } from './session';
export type { Tensor as OnnxTensor, TensorType as OnnxTensorType } from './tensor';
