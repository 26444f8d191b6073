"""The portal's settings plus the peers that ``bench_peers.py`` measures against.

Benchmarks only: the product never installs these apps (they come from the
``bench`` extra in pyproject.toml).
"""

from portal.settings import *  # noqa: F403
from portal.settings import INSTALLED_APPS

INSTALLED_APPS = [
    *INSTALLED_APPS,
    "rest_framework",
    "rest_framework_api_key",
    "knox",
]
