"""What `inv` loads: the root collection of the namespaced tasks in tasks/.

`inv` (and `import tasks` in the test suite) load this file as the module ``tasks``; setting ``__path__`` makes the
modules in the tasks/ folder its submodules (``tasks.docker``, ``tasks.s3``, ...). The folder has no ``__init__.py``
on purpose: with one, plain Python would import the folder instead of this file.
"""

import os

__path__ = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "tasks")]

from invoke import Collection  # noqa: E402

from tasks import ci, docker, eb, local, s3  # noqa: E402

# The namespaces' own Collection objects, not the modules: Collection.from_module would deep-copy every task.
ns = Collection()
for module in (docker, s3, eb, local):
    ns.add_collection(module.ns, name=module.__name__.rpartition(".")[2])
ns.add_task(ci.ci)
ns.add_task(ci.doctor)
