"""Nothing here is a test: the harness imports torch, which the suite never does.

pyproject's ``--ignore=tests/torch_fuzz`` keeps ``pytest`` out of this folder; this keeps
it out when the folder is named on the command line too. Run the harness with run.py.
"""

collect_ignore_glob = ["*.py"]
