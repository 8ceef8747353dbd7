"""`from playground.tasks.mjx_compat import mjx`: MJX without its import-time noise.

mujoco-mjx prints "Failed to import warp" to stdout on every import when the
optional Warp backend (CUDA only) is absent; on CPU that is expected, so the
message is swallowed here rather than shown to every user.
"""

import contextlib
import io

with contextlib.redirect_stdout(io.StringIO()):
    from mujoco import mjx  # noqa: F401
