import BNBPatchKit
import MLXAffine

// A bnb-patch that also knows the MLX affine formats and the counting backend.
BNBPatch.main(plugins: [MLXAffinePlugin(), CountingBackendPlugin()])
