"""``python -m agentmessage_local``: the ``agentmessage`` command."""

import sys

from agentmessage_local.cli import main

sys.exit(main())
