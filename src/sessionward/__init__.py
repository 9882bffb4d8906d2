"""sessionward."""
