"""What `inv` loads: the root collection of the namespaced tasks in tasks/.

`inv` (and `import tasks` in the test suite) load this file as the module ``tasks``; setting ``__path__`` makes the
modules in the tasks/ folder its submodules (``tasks.docker``, ``tasks.s3``, ...). The folder has no ``__init__.py``
on purpose: with one, plain Python would import the folder instead of this file.
"""

import functools
import os
from typing import Any

__path__ = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "tasks")]

from invoke import Collection, Exit  # noqa: E402

from tasks import ci, docker, eb, local, s3  # noqa: E402
from tasks._support import documenting_parse_errors, terminated_as_interrupted  # noqa: E402

INVOKE_DRY_RUN_REFUSED = (
    "inv -R/--dry is not supported: these tasks call Docker and AWS through their APIs, which Invoke's dry run does "
    "not reach, so it would change things for real. Use the task's own --dry-run (inv eb.deploy --env stg --dry-run)."
)


def refusing_invoke_dry_run(body: Any) -> Any:
    """Invoke's -R only stops ``c.run`` commands; a task that goes on after it would deploy for real."""

    @functools.wraps(body)
    def guarded(c: Any, *args: Any, **kwargs: Any) -> Any:
        if c.config.run.dry:
            raise Exit(INVOKE_DRY_RUN_REFUSED, code=2)
        return body(c, *args, **kwargs)

    return guarded


# The namespaces' own Collection objects, not the modules: Collection.from_module would deep-copy every task.
ns = Collection()
for module in (docker, s3, eb, local):
    ns.add_collection(module.ns, name=module.__name__.rpartition(".")[2])
ns.add_task(ci.ci)
ns.add_task(ci.doctor)
for name in ns.task_names:
    found = ns[name]
    found.body = refusing_invoke_dry_run(found.body)
documenting_parse_errors()
terminated_as_interrupted()
