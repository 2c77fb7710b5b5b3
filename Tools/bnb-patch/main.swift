import BNBPatchKit

await BNBPatch.main(plugins: [])
