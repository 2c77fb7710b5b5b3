import BNBGenerateKit

await BNBGenerate.main(.chat)
