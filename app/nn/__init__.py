"""The engine: pure NumPy, no web imports. Names follow the math (z, a, delta, grad_W, ...)."""
