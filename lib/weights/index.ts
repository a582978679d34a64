// Weight files: safetensors and .npy readers (and writers), tensors as typed arrays.
export { TENSOR_DTYPES, toFloat32 } from './dtype';
export type { Tensor, TensorData, TensorDtype } from './dtype';
export { readSafetensors, SafetensorsFile, writeSafetensors } from './safetensors';
export type { ReadSafetensorsOptions, SafetensorsEntry, SafetensorsTableOptions } from './safetensors';
export { readNpy, writeNpy } from './npy';
export type { WeightSource } from './source';
