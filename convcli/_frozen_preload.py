"""The last module a LocalCluster's fork server imports
(:func:`convcli.cluster._start_fork_server`): it freezes every object the server's
imports made, as Python's :func:`gc.freeze` advises before forking. The workers forked
from the server never walk those objects in their collections (nor copy their pages by
touching them), and neither does the server's own exit, which held the batch's stderr
open ~0.1 s after convcli's process had ended.
"""

import gc

gc.freeze()
