"""Fixtures of the reliability suites (the registry, engine and base image come from tests/conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
