"""`python -m arcade_hub` is `arcade-hub`."""

import sys

from arcade_hub.cli import main

sys.exit(main())
