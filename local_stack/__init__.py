"""Development tools: an embedded AWS and a lemlist simulator. Never deployed.

Importing this package makes the shared layer importable, as Lambda does by mounting the
layer at /opt/python.
"""

import sys
from pathlib import Path

_LAYER = str(Path(__file__).resolve().parents[1] / "layers" / "shared")
if _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)
