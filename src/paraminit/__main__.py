"""``python -m paraminit`` is the ``paraminit`` command."""

from paraminit.cli import main

raise SystemExit(main())
