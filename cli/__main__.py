"""``python -m cli``: the same as the ``tdkt`` command (``tdkt serve`` starts the scheduler this way)."""

from cli import main

main()
