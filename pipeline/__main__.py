"""`python -m pipeline run | verify | rehash SIDECAR…`: the command line lives in pipeline.operate.cli."""

import sys

from pipeline.operate.cli import main

if __name__ == "__main__":
    sys.exit(main())
