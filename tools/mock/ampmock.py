#!/usr/bin/env python3
"""Mock Amazon Music service for ampd's tests. See tools/mock/README.md.

python3 tools/mock/ampmock.py --certs DIR [--cert NAME] --root CONTENTDIR [--port 0]
        [--port-file F] [--tls-max 1.1] [--log-file F]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ampmock.cli import main  # noqa: E402  (the package next to this file)

if __name__ == "__main__":
    sys.exit(main())
