"""`python -m kazsat`: the `kazsat` command (how `kazsat up` starts the API)."""

from kazsat.cli import main

main()
