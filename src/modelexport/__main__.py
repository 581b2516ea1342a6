"""``python -m modelexport``: the same as the ``modelexport`` command."""

import sys

from modelexport.cli import main

sys.exit(main())
