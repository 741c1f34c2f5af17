# casaconfig site configuration of the casa-6.7 image (CASASITECONFIG points here). It lives
# in the image, not in ~/.casa, because a session mounts the user's own home over the image's.
# A user's ~/.casa/config.py is read after it and may override these settings.
import os as _os
import tempfile as _tempfile
import time as _time

import casadata as _casadata

# Measures and reference data from the casadata wheel: read-only, never downloaded.
measurespath = _os.path.join(_os.path.dirname(_casadata.__file__), "__data__")
datapath = [measurespath]
measures_auto_update = False
data_auto_update = False

# The log goes to the current directory when it is writable, else to the session's scratch,
# the home directory or the temporary directory.
_logdir = _tempfile.gettempdir()
for _d in (_os.getcwd(), _os.environ.get("ARCADE_SCRATCH"), _os.path.expanduser("~")):
    if _d and _os.path.isdir(_d) and _os.access(_d, _os.W_OK):
        _logdir = _d
        break
logfile = _os.path.join(_logdir, _time.strftime("casa-%Y%m%d-%H%M%S.log", _time.gmtime()))
