import BNBPatchKit

BNBPatch.main(plugins: [])
