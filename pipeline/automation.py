"""`python -m pipeline.automation`: the nightly run without the daemon (cron, systemd); see pipeline.operate.nightly."""

import sys

from pipeline.operate.cli import nightly_main

if __name__ == "__main__":
    sys.exit(nightly_main())
