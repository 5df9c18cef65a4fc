"""`python -m simulator`: the same command as `kazsat simulate`."""

from simulator.cli import main

main()
