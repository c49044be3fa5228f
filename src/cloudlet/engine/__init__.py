"""Native execution engine: unmodified Python Lambda handlers in warm forked workers.

See ``engine.py`` for the invocation path, ``zygote.py``/``runtime.py`` for the
worker side and ``protocol.py`` for the frames between them.
"""

from cloudlet.engine.engine import Engine
from cloudlet.engine.types import FunctionSpec, InvokeRequest, InvokeResult, Throttled

__all__ = ["Engine", "FunctionSpec", "InvokeRequest", "InvokeResult", "Throttled"]
