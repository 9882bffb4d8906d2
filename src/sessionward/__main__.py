"""`python -m sessionward` runs the CLI."""

from sessionward.cli import main

main()
