"""`python -m pipeline.automation`: the nightly run without the daemon (cron, systemd); see pipeline.operate.nightly."""

import sys

from pipeline.operate.nightly import run_nightly

if __name__ == "__main__":
    sys.exit(run_nightly())
