"""Pure rules: no I/O, no clock reads; every function takes `now` where time matters."""
