"""The benchmark programs behind `make bench`."""
