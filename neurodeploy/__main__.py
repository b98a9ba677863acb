"""``python -m neurodeploy …`` = the ``neurodeploy`` command (also ``torchrun … -m neurodeploy train …``)."""

import sys

from neurodeploy.cli import main

sys.exit(main())
