"""`python -m sessionward` runs the CLI."""

from sessionward._entry import main

main()
