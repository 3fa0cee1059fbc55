"""greeter's own tests: the WSGI app called directly, without the start-up delay."""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from greeter.server import app  # noqa: E402


class Greets(unittest.TestCase):
    def test_answers_200_with_its_port(self) -> None:
        seen: list[str] = []
        body = b"".join(app({"PATH_INFO": "/"}, lambda status, headers: seen.append(status)))
        self.assertEqual(seen, ["200 OK"])
        self.assertIn(b"on port 8080", body)


if __name__ == "__main__":
    result = unittest.main(exit=False).result
    sys.exit(0 if result.wasSuccessful() else 1)
