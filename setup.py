"""The package's layout, which setuptools cannot discover in this repository (metadata: pyproject.toml's [project]).

- ebship (with the templates `python -m ebship init` writes) and localeb (the local stand-in of AWS);
- this repository's tasks.py and tasks/ as ebship/collection/, so an app's tasks.py loads the one copy of the task
  modules from the installed package (ebship.init.installed_collection).
"""

import re
from pathlib import Path

from setuptools import setup

VERSION = re.search(r'^VERSION = "([^"]+)"', Path("ebship/init.py").read_text(), re.MULTILINE)

setup(
    version=VERSION[1] if VERSION else None,
    packages=["ebship", "localeb", "ebship.collection.tasks"],
    py_modules=["ebship.collection.tasks"],
    package_dir={"ebship.collection": ".", "ebship.collection.tasks": "tasks"},
    package_data={"ebship": ["templates/*"]},
)
