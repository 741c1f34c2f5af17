"""The files `arcade-hub apps install` writes into an environment: the CASA site configuration,
the command wrapper, the Jupyter kernel and the command's link."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from arcade_hub.apps.layout import CASA_SITE_CONFIG, CASA_SITE_CONFIG_VARIABLE, AppsError, Layout
from arcade_hub.apps.registry import AppEnv, SiteConfig
from arcade_hub.casa import kernels, siteconfig


def startup_code(app: AppEnv) -> str:
    """Python the terminal runs before its prompt: imports and a banner."""
    lines = [
        "import sys",
        f"print({app.title + ': loading ' + ', '.join(app.imports) + ' ...'!r}, flush=True)",
    ]
    lines += [f"import {m}" for m in app.imports]
    lines += [f"from {m} import *" for m in app.star_imports]
    lines += [
        f"print({app.title!r}, 'ready, Python %d.%d' % sys.version_info[:2])",
        *(
            f"print('  {m}', getattr({m}, 'version_string', lambda: "
            f"getattr({m}, '__version__', '?'))())"
            for m in app.imports
        ),
    ]
    if app.site_config is SiteConfig.casa:
        lines += [
            "print('  tasks are defined here, e.g. listobs(vis=...); tools: casatools.ms() ...')",
            "print('  log:', casatasks.casalog.logfile())",
            "print('  exit with Ctrl-D')",
        ]
    lines.append("sys.stdout.flush()")
    return "\n".join(lines) + "\n"


def wrapper_text(app: AppEnv, where: Layout) -> str:
    q = shlex.quote
    exports = ""
    if app.site_config is SiteConfig.casa:
        exports = f'export {CASA_SITE_CONFIG_VARIABLE}="$env_dir/etc/{CASA_SITE_CONFIG}"\n'
    return f"""#!/bin/sh
# {app.title}: written by `arcade-hub apps install {app.name}`; run that again to repair it.
#   {app.command}                 the {app.title} prompt in a new xterm (here without DISPLAY)
#   {app.command} --here          the prompt in this terminal
#   {app.command} --python ARGS   the environment's python with ARGS (a script, -c, -m ...)
env_dir={q(str(where.env))}
python="$env_dir/bin/python"
{exports}unset PYTHONHOME PYTHONPATH
startup={q(startup_code(app))}
writable_cwd() {{
    [ -w . ] || cd "${{HOME:-/}}" 2>/dev/null && [ -w . ] || cd "${{TMPDIR:-/tmp}}"
}}
case "${{1-}}" in
    --python) shift; exec "$python" "$@" ;;
    --here) writable_cwd; exec "$python" -i -c "$startup" ;;
    "") ;;
    *) echo "usage: {app.command} [--here | --python ARGS...]" >&2; exit 2 ;;
esac
writable_cwd
if [ -n "${{DISPLAY-}}" ] && command -v xterm >/dev/null 2>&1; then
    exec xterm -T {q(app.title)} -e "$python" -i -c "$startup"
fi
exec "$python" -i -c "$startup"
"""


def casa_site_config_text(app: AppEnv, measures: Path) -> str:
    """casaconfig site settings (see `arcade_hub.casa.siteconfig`, the one copy)."""
    return siteconfig.site_config_text(app.name, measures)


def write_env_files(app: AppEnv, where: Layout, measures: Path | None = None) -> list[Path]:
    """Write the site configuration (CASA: needs the measures directory) and the wrapper."""
    written = []
    if app.site_config is SiteConfig.casa:
        if measures is None:
            raise AppsError(f"{app.name}: the casadata measures directory is unknown")
        where.site_config.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        write_file(where.site_config, casa_site_config_text(app, measures), 0o644)
        written.append(where.site_config)
    where.wrapper.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    write_file(where.wrapper, wrapper_text(app, where), 0o755)
    written.append(where.wrapper)
    return written


def write_kernel(app: AppEnv, where: Layout, kernel_dir: Path) -> Path:
    """The Jupyter kernel "<title>" running the environment's Python; returns its directory."""
    spec_dir = Path(kernel_dir) / app.name
    spec = kernels.kernel_spec(
        title=app.title,
        python=where.python,
        site_config=where.site_config,
        casa_version=app.casa_version,
        app=app.name,
    )
    spec_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    write_file(spec_dir / "kernel.json", json.dumps(spec, indent=1) + "\n", 0o644)
    return spec_dir


def link_command(where: Layout, bin_dir: Path) -> Path:
    """Point <bin_dir>/<command> at the wrapper; never replace a file that is not a link."""
    link = Path(bin_dir) / where.command
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        raise AppsError(f"{link} exists and is not a symbolic link; remove it first")
    Path(bin_dir).mkdir(parents=True, exist_ok=True)
    link.symlink_to(where.wrapper)
    return link


def write_file(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


