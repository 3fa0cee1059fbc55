"""What `inv` loads: the eb-ship task collection (docker.*, s3.*, eb.*, local.*, ci, doctor), installed with pip.

requirements.txt pins eb-ship; the task modules live in that package, so upgrading the pin upgrades the tasks, and this
file stays as `python -m ebship init` wrote it. `inv --list` lists the tasks; `inv --help TASK` documents each flag.
"""

import sys

from ebship.init import installed_collection

ns = installed_collection(sys.modules[__name__])
