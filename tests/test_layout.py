"""`inv` and the test suite must load the same task objects: tasks.py beside a tasks/ folder, and a tasks/docker.py
beside docker-py, are both import traps."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INV = str(Path(sys.executable).with_name("inv"))


def test_import_tasks_is_tasks_py_and_its_submodules_are_the_folder():
    import tasks
    import tasks.docker

    assert Path(tasks.__file__) == ROOT / "tasks.py"
    assert Path(tasks.docker.__file__) == ROOT / "tasks" / "docker.py"
    assert tasks.ns.collections["docker"].tasks["build"] is tasks.docker.build
    assert not (ROOT / "tasks" / "__init__.py").exists()


def test_invoke_loader_gives_the_same_objects_as_import():
    script = f"""
import json, sys
from invoke.loader import FilesystemLoader
module, _ = FilesystemLoader(start={str(ROOT)!r}).load("tasks")
import tasks, tasks.docker, docker
print(json.dumps({{
    "same_module": module is tasks,
    "same_task": module.ns.collections["docker"].tasks["build"] is tasks.docker.build,
    "file": module.__file__,
    "docker_py": hasattr(docker, "from_env"),
}}))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd="/", capture_output=True, text=True, check=True)
    seen = json.loads(result.stdout)
    assert seen == {"same_module": True, "same_task": True, "file": str(ROOT / "tasks.py"), "docker_py": True}


def test_inv_lists_namespaced_tasks_with_help():
    result = subprocess.run([INV, "--list"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in ("docker.build", "docker.test", "docker.push", "s3.auth"):
        assert name in result.stdout


def test_every_flag_of_every_task_is_documented():
    import tasks

    def walk(collection, prefix=""):
        for name, task in collection.tasks.items():
            yield prefix + name, task
        for name, sub in collection.collections.items():
            yield from walk(sub, f"{prefix}{name}.")

    for name, task in walk(tasks.ns):
        assert task.__doc__ and task.__doc__.strip(), name
        undocumented = [arg.name for arg in task.get_arguments() if not arg.help]
        assert not undocumented, f"{name}: undocumented flags {undocumented}"


def test_the_readme_module_map_names_every_module_of_the_core_and_no_other():
    """README's "The core, module by module" is the map a newcomer reads first: it must match the code."""
    import re

    readme = (ROOT / "README.md").read_text()
    table = readme.split("### The core, module by module", 1)[1].split("\n\n#", 1)[0]
    mapped = {name for row in re.findall(r"^\| (.+?) \|", table, flags=re.MULTILINE) for name in re.findall(r"`(\w+)`", row)}
    modules = {path.stem for path in (ROOT / "ebship").glob("*.py") if not path.stem.startswith("_")}
    assert mapped == modules, f"in the code, not the map: {sorted(modules - mapped)}; in the map only: {sorted(mapped - modules)}"
