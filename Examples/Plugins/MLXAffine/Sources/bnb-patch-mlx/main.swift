import BNBPatchKit
import MLXAffine

// A bnb-patch that also knows the MLX affine formats (affine4, affine8) and the counting backend.
await BNBPatch.main(plugins: [MLXAffinePlugin(), CountingBackendPlugin()])
