import BNBGenerateKit

await BNBGenerate.main(.generate)
