"""The inspector: each number's derivation as LaTeX (the chain rule, the update step,
the optimizers' equations), typeset to MathML on the server."""
