"""``python -m xai_core``: the same command line as ``saliency-studio``."""

import sys

from xai_core.cli import main

sys.exit(main(prog="python -m xai_core"))
