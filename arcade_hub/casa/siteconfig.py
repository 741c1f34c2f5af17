"""The casaconfig site configuration of every CASA environment: the one copy.

`arcade-hub apps install casa-<version>` writes it into the environment (`etc/`), on the
embedded backend and in the images alike (their Dockerfiles run that installer), and the
environment's wrapper and Jupyter kernel point `CASASITECONFIG` at it. It lives beside CASA,
not in `~/.casa`, because sessions mount each user's own home.
"""

from __future__ import annotations

from pathlib import Path

FILE_NAME = "casasiteconfig.py"
VARIABLE = "CASASITECONFIG"  # read by casaconfig/config.py


def site_config_text(app_name: str, measures: Path) -> str:
    """casaconfig site settings: shared read-only data, never downloaded, a writable log."""
    return f"""# casaconfig site configuration, written by `arcade-hub apps install {app_name}`.
# casaconfig reads it through ${VARIABLE} (set by the {app_name} wrapper and its Jupyter
# kernel); a user's ~/.casa/config.py is read after it and may override these settings.
import os as _os
import tempfile as _tempfile
import time as _time

# Measures and reference data from the casadata wheel: shared, read-only, never downloaded.
measurespath = {str(measures)!r}
datapath = [measurespath]
measures_auto_update = False
data_auto_update = False

# The log goes where CASA usually writes it (the current directory) when that is writable,
# else to the session's scratch, the home directory or the temporary directory.
_logdir = _tempfile.gettempdir()
for _d in (_os.getcwd(), _os.environ.get("ARCADE_SCRATCH"), _os.path.expanduser("~")):
    if _d and _os.path.isdir(_d) and _os.access(_d, _os.W_OK):
        _logdir = _d
        break
logfile = _os.path.join(
    _logdir, "casa-%s.log" % _time.strftime("%Y%m%d-%H%M%S", _time.gmtime())
)
"""
