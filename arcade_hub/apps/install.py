"""Build, repair, list and remove application environments (see `registry`).

<prefix>/<name>/                 a Python virtual environment (0755 dirs, 0644/0755 files)
    bin/<command>                the wrapper: a terminal window with the app's prompt
    etc/casasiteconfig.py        CASA only: offline measures, no auto-updates, writable log
    arcade-app.json              written last: the install is complete
    install.log                  the full pip output of the last install
<bin dir>/<command>              symlink to the wrapper (default: next to sys.executable,
                                 which is first on the PATH of embedded-backend sessions)
<kernel dir>/<name>/kernel.json  CASA only: the Jupyter kernel "CASA <version>" (default:
                                 share/jupyter/kernels of sys.prefix, where the sessions'
                                 Jupyter looks)
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from arcade_hub.apps.files import link_command, write_env_files, write_file, write_kernel
from arcade_hub.apps.layout import (
    MARKER,
    PIP_SHOWN,
    AppsError,
    IndexOptions,
    InstalledApp,
    Layout,
    _Say,
    default_bin_dir,
    default_kernel_dir,
    default_prefix,
    default_python,
    layout,
)
from arcade_hub.apps.registry import AppEnv, SiteConfig, UnknownApp, get_app


def install(
    name: str,
    prefix: Path | str | None = None,
    *,
    python: str | None = None,
    bin_dir: Path | str | None = None,
    kernel_dir: Path | str | None = None,
    dry_run: bool = False,
    index: IndexOptions | None = None,
    pip_command: Sequence[str] | None = None,
    out: TextIO | None = None,
) -> InstalledApp | None:
    """Create or repair <prefix>/<name>, link its command into `bin_dir` and (CASA) write its
    Jupyter kernel into `kernel_dir`.

    `pip_command` replaces `<env>/bin/python -m pip` (the environment is then created without
    pip): tests use a stub. Returns None for a dry run.
    """
    err = out or sys.stderr
    app = _app(name)
    where = layout(app, Path(prefix) if prefix else default_prefix())
    bin_path = Path(bin_dir) if bin_dir else default_bin_dir()
    kernel_path = Path(kernel_dir) if kernel_dir else default_kernel_dir()
    python = python or default_python()
    version = _check_python(app, python)
    pip = list(pip_command) if pip_command else [str(where.python), "-m", "pip"]
    pip_install = [*pip, "install", "--upgrade", "--progress-bar", "off"]
    pip_install += (index or IndexOptions()).pip_args()
    steps = [[*pip_install, *app.requirements]]
    if app.data_requirements:
        steps.append([*pip_install, *app.data_requirements])

    def say(msg: str) -> None:
        print(f"{app.name}: {msg}", file=err, flush=True)

    if dry_run:
        _tell_dry_run(app, where, python, version, steps, bin_path, kernel_path, say)
        return None
    started = time.monotonic()
    old_umask = os.umask(0o022)
    try:
        say(f"installing {app.title} into {where.env} ({app.size_hint or 'size unknown'})")
        _make_venv(where, python, version, with_pip=pip_command is None, say=say)
        earlier = _earlier_links(where), _earlier_kernels(where)
        where.marker.unlink(missing_ok=True)  # incomplete until written again at the end
        with open(where.log, "w") as log:
            for cmd in steps:
                say(f"pip install {' '.join(cmd[len(pip_install) :])}")
                _run_pip(cmd, log, say)
        record, size = _finish(app, where, version, bin_path, kernel_path, earlier, say)
    except OSError as e:
        raise AppsError(f"{app.name}: {e}") from None
    finally:
        os.umask(old_umask)
    _warn_unreachable(where, say)
    say(
        f"installed {app.title} in {time.monotonic() - started:.0f} s, "
        f"{size / 1e9:.2f} GB; run it with `{app.command}`"
    )
    return record


def _tell_dry_run(
    app: AppEnv,
    where: Layout,
    python: str,
    version: str,
    steps: list[list[str]],
    bin_path: Path,
    kernel_path: Path,
    say: _Say,
) -> None:
    say(f"dry run, nothing is changed ({app.title}, {app.size_hint or 'size unknown'})")
    reuse = _venv_version(where) == version
    say(
        f"would {'reuse' if reuse else 'create'} the virtual environment {where.env} "
        f"with {python} (Python {version})"
    )
    for cmd in steps:
        say(f"would run: {shlex.join(cmd)}")
    if app.site_config is SiteConfig.casa:
        say(
            f"would write {where.site_config} (measures from the casadata wheel, "
            "auto-updates off) and set CASASITECONFIG to it in the wrapper"
        )
    say(f"would write {where.wrapper} and link {bin_path / app.command} to it")
    if app.kernel:
        say(f"would write the Jupyter kernel {app.title!r} in {kernel_path / app.name}")


def _finish(
    app: AppEnv,
    where: Layout,
    version: str,
    bin_path: Path,
    kernel_path: Path,
    earlier: tuple[list[str], list[str]],
    say: _Say,
) -> tuple[InstalledApp, int]:
    """After pip: the site configuration, wrapper, command link, kernel and the marker that
    says the environment is complete; (its record, its size)."""
    measures = _casa_measures(where) if app.site_config is SiteConfig.casa else None
    if measures is not None:
        say(f"measures data: {measures} (auto-updates off)")
    for path in write_env_files(app, where, measures):
        say(f"wrote {path}")
    size = _open_up(where.env)
    link = link_command(where, bin_path)
    say(f"linked {link} -> {where.wrapper}")
    kernel = write_kernel(app, where, kernel_path) if app.kernel else None
    if kernel is not None:
        say(f"wrote the Jupyter kernel {app.title!r} in {kernel}")
    links, kernels_before = earlier
    record = InstalledApp(
        name=app.name,
        env=where.env,
        command=app.command,
        title=app.title,
        python=version,
        installed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        links=tuple(dict.fromkeys([str(link), *links])),
        kernels=tuple(dict.fromkeys([str(k) for k in (kernel,) if k] + kernels_before)),
    )
    write_file(where.marker, json.dumps(_marker(record, app), indent=2) + "\n", 0o644)
    return record, size


def _app(name: str) -> AppEnv:
    try:
        return get_app(name)
    except UnknownApp as e:
        raise AppsError(str(e)) from None


def _check_python(app: AppEnv, python: str) -> str:
    exe = shutil.which(python)
    if exe is None:
        raise AppsError(f"{app.name}: no Python interpreter {python!r}")
    probe = "import platform, sys; print('%d.%d' % sys.version_info[:2], platform.machine())"
    try:
        version, machine = subprocess.run(
            [exe, "-c", probe], check=True, capture_output=True, text=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError, ValueError) as e:
        raise AppsError(f"{app.name}: cannot run {python}: {e}") from None
    if app.pythons and version not in app.pythons:
        raise AppsError(
            f"{app.name} needs Python {' or '.join(app.pythons)}; {python} is Python {version} "
            "(choose another with --python)"
        )
    if app.machines and machine not in app.machines:
        raise AppsError(
            f"{app.name} is only built for {', '.join(app.machines)}, not {machine}; "
            "use the Kubernetes backend and its container image"
        )
    return version


def _venv_version(where: Layout) -> str | None:
    if not where.python.exists():
        return None
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(
            [str(where.python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    return None


def _make_venv(where: Layout, python: str, version: str, *, with_pip: bool, say: _Say) -> None:
    if _venv_version(where) == version:
        say(f"reusing the virtual environment {where.env} (upgrade and repair)")
        return
    if where.env.exists():
        if not (where.env / "pyvenv.cfg").exists() and any(where.env.iterdir()):
            raise AppsError(f"{where.env} exists and is not a virtual environment; remove it")
        say(f"replacing the broken or different-Python environment {where.env}")
        shutil.rmtree(where.env)
    where.env.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    say(f"creating a virtual environment with {python} (Python {version})")
    cmd = [python, "-m", "venv", *([] if with_pip else ["--without-pip"]), str(where.env)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise AppsError(
            f"{shlex.join(cmd)} failed:\n{_tail(result.stdout + result.stderr)}\n"
            "(Debian and Ubuntu: apt-get install python3-venv)"
        )


def _run_pip(cmd: list[str], log: TextIO, say: _Say) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
    env.update(PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    log.write(f"$ {shlex.join(cmd)}\n")
    last: collections.deque[str] = collections.deque(maxlen=25)
    try:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
    except OSError as e:
        raise AppsError(f"cannot run pip ({cmd[0]}): {e}") from None
    assert proc.stdout is not None
    with proc:
        for line in proc.stdout:
            log.write(line)
            log.flush()
            last.append(line.rstrip())
            if line.lstrip().startswith(PIP_SHOWN):
                say("  " + line.strip())
    if proc.returncode != 0:
        tail = "\n".join(f"  | {line}" for line in last)
        raise AppsError(
            f"pip failed (exit {proc.returncode}); its last lines:\n{tail}\nfull output: {log.name}"
        )


def _casa_measures(where: Layout) -> Path:
    probe = "import casadata; print(casadata.datapath)"
    result = subprocess.run([str(where.python), "-c", probe], capture_output=True, text=True)
    path = Path(result.stdout.strip())
    if result.returncode != 0 or not path.is_dir():
        raise AppsError(
            f"the casadata wheel is not usable in {where.env}:\n"
            f"{_tail(result.stdout + result.stderr)}"
        )
    return path


def _open_up(root: Path) -> int:
    """Let every uid read (and run, where the owner may) the environment; return its size."""
    size = 0
    for path in _walk(root):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            continue
        size += st.st_blocks * 512
        mode = stat.S_IMODE(st.st_mode)
        want = mode | (0o755 if stat.S_ISDIR(st.st_mode) else 0o644)
        if mode & stat.S_IXUSR:
            want |= 0o111
        if want != mode:
            os.chmod(path, want)
    return size


def _walk(root: Path) -> Iterator[Path]:
    yield root
    for dirpath, dirnames, filenames in os.walk(root):
        for n in (*dirnames, *filenames):
            yield Path(dirpath) / n


def _earlier_links(where: Layout) -> list[str]:
    """Links made by an earlier install (maybe into another bin dir) that still point here."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        links = json.loads(where.marker.read_text()).get("links", [])
        return [str(x) for x in links if Path(x).is_symlink() and _points_into(Path(x), where.env)]
    return []


def _earlier_kernels(where: Layout) -> list[str]:
    """Kernel specs written by an earlier install that still run this environment."""
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        specs = json.loads(where.marker.read_text()).get("kernels", [])
        return [str(x) for x in specs if _kernel_runs(Path(x), where.env)]
    return []


def _kernel_runs(spec_dir: Path, env: Path) -> bool:
    """Is `spec_dir` a kernel spec whose interpreter is in `env`?"""
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError, IndexError):
        argv = json.loads((spec_dir / "kernel.json").read_text())["argv"]
        return env in Path(argv[0]).parents
    return False


def _marker(record: InstalledApp, app: AppEnv) -> dict[str, object]:
    return {
        "name": record.name,
        "title": record.title,
        "command": record.command,
        "requirements": [*app.requirements, *app.data_requirements],
        "python": record.python,
        "installed_at": record.installed_at,
        "links": list(record.links),
        "kernels": list(record.kernels),
    }


def _warn_unreachable(where: Layout, say: _Say) -> None:
    """Sessions run as other uids: every directory up to the environment must let them in."""
    if os.geteuid() != 0:
        return  # without root, sessions run as this user
    for path in {where.python.absolute(), where.python.resolve()}:
        for part in reversed(path.parents):
            with contextlib.suppress(OSError):
                mode = part.stat().st_mode
                if not mode & stat.S_IXOTH:
                    say(
                        f"warning: other users cannot enter {part} (mode "
                        f"{stat.S_IMODE(mode):o}), so sessions cannot run {where.command}; "
                        "choose another --prefix or chmod o+x it"
                    )
                    return


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(f"  | {line}" for line in text.rstrip().splitlines()[-lines:])


# --- list and uninstall ---------------------------------------------------------------------


def list_installed(prefix: Path | str | None = None) -> list[InstalledApp]:
    """Environments under `prefix`; `complete` is False for an interrupted install."""
    root = Path(prefix) if prefix else default_prefix()
    if not root.is_dir():
        return []
    found = []
    for env in sorted(p for p in root.iterdir() if p.is_dir()):
        marker = env / MARKER
        if marker.exists():
            try:
                data = json.loads(marker.read_text())
            except (OSError, ValueError):
                data = {}
            found.append(
                InstalledApp(
                    name=str(data.get("name", env.name)),
                    env=env,
                    command=str(data.get("command", "")),
                    title=str(data.get("title", "")),
                    complete=bool(data),
                    python=str(data.get("python", "")),
                    installed_at=str(data.get("installed_at", "")),
                    links=tuple(str(x) for x in data.get("links", [])),
                    kernels=tuple(str(x) for x in data.get("kernels", [])),
                )
            )
        elif (env / "pyvenv.cfg").exists():
            with contextlib.suppress(UnknownApp):
                app = get_app(env.name)
                found.append(
                    InstalledApp(
                        name=env.name,
                        env=env,
                        command=app.command,
                        title=app.title,
                        complete=False,
                    )
                )
    return found


def uninstall(
    name: str,
    prefix: Path | str | None = None,
    bin_dir: Path | str | None = None,
    *,
    kernel_dir: Path | str | None = None,
    out: TextIO | None = None,
) -> None:
    """Remove <prefix>/<name>, the links to its wrapper (in `bin_dir` and recorded ones) and
    its Jupyter kernel (in `kernel_dir` and recorded ones)."""
    err = out or sys.stderr
    root = Path(prefix) if prefix else default_prefix()
    env = root.absolute() / name
    record = next((a for a in list_installed(root) if a.env.name == name), None)
    if record is None:
        if not (env / "pyvenv.cfg").exists():
            raise AppsError(f"{name} is not installed in {root}")
        record = InstalledApp(name=name, env=env, command=_app(name).command, complete=False)
    command = record.command or _app(name).command
    candidates = {Path(bin_dir or default_bin_dir()) / command, *map(Path, record.links)}
    try:
        for link in sorted(candidates):
            if link.is_symlink() and _points_into(link, env):
                link.unlink()
                print(f"{name}: removed {link}", file=err)
        specs = {Path(kernel_dir or default_kernel_dir()) / name, *map(Path, record.kernels)}
        for spec in sorted(specs):
            if _kernel_runs(spec, env):
                shutil.rmtree(spec)
                print(f"{name}: removed the Jupyter kernel {spec}", file=err)
        shutil.rmtree(env)
    except OSError as e:
        raise AppsError(f"{name}: {e}") from None
    print(f"{name}: removed {env}", file=err)


def _points_into(link: Path, env: Path) -> bool:
    target = Path(os.readlink(link))
    if not target.is_absolute():
        target = link.parent / target
    return target == env or env in target.parents
