"""``python -m csp``: the ``csp`` command."""

from csp.cli import main

main()
