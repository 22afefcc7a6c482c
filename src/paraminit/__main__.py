"""``python -m paraminit`` is the ``paraminit`` command."""

import sys

from paraminit.cli import EXIT_INTERRUPTED, main

code = main()
if code == EXIT_INTERRUPTED and sys.implementation.name == "cpython":
    # main() caught the Ctrl-C, but if its KeyboardInterrupt passed through code run by
    # PyRun_String (as some C extensions do while NumPy and SciPy load), CPython's `-m`
    # path still ends the process by SIGINT (status -2, not 130); running any string
    # through PyRun_SimpleString clears that mark. The `paraminit` script exits 130 as is.
    import ctypes

    ctypes.pythonapi.PyRun_SimpleString(b"")
raise SystemExit(code)
