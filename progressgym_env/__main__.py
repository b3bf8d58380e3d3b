"""``python -m progressgym_env ...`` runs the ``progressgym`` command."""

import sys

from progressgym_env.cli import main

sys.exit(main())
