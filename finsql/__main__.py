"""``python -m finsql`` runs the command line."""

from finsql.cli import main

main()
