"""`python -m trainui ...`: the same as the `trainui` command."""

import sys

from trainui.tui.cli import main

sys.exit(main())
