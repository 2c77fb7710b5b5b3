import BNBGenerateKit

await BNBGenerate.main(.lora)
