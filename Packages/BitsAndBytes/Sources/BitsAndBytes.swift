@_exported public import Blockwise4Bit
// The umbrella module: one import for every swift-bitsandbytes module.
@_exported public import CPUKernels
@_exported public import DoubleQuant
@_exported public import FormatFP4
@_exported public import FormatFP8
@_exported public import FormatINT8
@_exported public import FormatNF4
@_exported public import MetalKernels
@_exported public import ModelPatcher
@_exported public import QuantCore
@_exported public import QuantizedLinear
@_exported public import SafeTensors
