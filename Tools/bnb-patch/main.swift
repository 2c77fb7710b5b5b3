print("bnb-patch: not yet implemented")
