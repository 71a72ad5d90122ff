"""The domain logic the handlers call: one module per area, plain arguments in, plain data out."""
