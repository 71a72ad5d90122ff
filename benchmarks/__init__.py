"""`make bench`: the product's costs and speeds, measured as ratios in one run (docs/benchmarks.md)."""
