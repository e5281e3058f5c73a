"""`python -m infermedic` runs the CLI."""

from infermedic.cli.app import main

main()
