print("bnb-bench: not yet implemented")
