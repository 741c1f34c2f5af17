"""`arcade-hub apps`: installing application environments, without network (a stub pip)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from arcade_hub.apps import cli, registry
from arcade_hub.apps.files import (
    casa_site_config_text,
    link_command,
    startup_code,
    write_env_files,
)
from arcade_hub.apps.install import install, list_installed, uninstall
from arcade_hub.apps.layout import AppsError, IndexOptions, layout
from arcade_hub.casa.kernels import installed_kernels

CASA = registry.get_app("casa-6.7.0")

FAKE_PIP = textwrap.dedent(
    """
    import json, os, sys, sysconfig
    from pathlib import Path

    with open(os.environ["FAKE_PIP_LOG"], "a") as f:
        f.write(json.dumps(sys.argv[1:]) + "\\n")
    if os.environ.get("FAKE_PIP_FAIL"):
        for i in range(40):
            print(f"noise {i}")
        print("ERROR: No matching distribution found for casatools==6.7.0.31")
        sys.exit(1)
    if any(a.startswith("casadata") for a in sys.argv):
        pkg = Path(sysconfig.get_paths()["purelib"]) / "casadata"
        (pkg / "__data__" / "geodetic").mkdir(parents=True, exist_ok=True)
        (pkg / "__init__.py").write_text(
            "import os\\ndatapath = os.path.join(os.path.dirname(__file__), '__data__')\\n"
        )
    print("Collecting " + sys.argv[-1])
    print("Successfully installed (fake)")
    """
)


@pytest.fixture
def any_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """casa-6.7.0 accepting the interpreter running the tests, whatever its version."""
    relaxed = dataclasses.replace(CASA, pythons=(), machines=())
    monkeypatch.setattr(registry, "APPS", (relaxed,))


@pytest.fixture
def fake_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "fake_pip.py"
    script.write_text(FAKE_PIP)
    log = tmp_path / "pip-calls.jsonl"
    monkeypatch.setenv("FAKE_PIP_LOG", str(log))
    return script


def _install(tmp_path: Path, fake_pip: Path, bin_dir: str = "bin") -> None:
    where = layout(CASA, tmp_path / "prefix")
    install(
        "casa-6.7.0",
        tmp_path / "prefix",
        python=sys.executable,
        bin_dir=tmp_path / bin_dir,
        kernel_dir=tmp_path / "kernels",
        pip_command=[str(where.python), str(fake_pip)],
        index=IndexOptions(index_url="https://example.invalid/simple"),
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_dry_run_prints_the_plan_and_changes_nothing(
    tmp_path: Path, any_python: None, capsys: pytest.CaptureFixture[str]
) -> None:
    result = install(
        "casa-6.7.0",
        tmp_path / "prefix",
        python=sys.executable,
        bin_dir=tmp_path / "bin",
        kernel_dir=tmp_path / "kernels",
        dry_run=True,
        index=IndexOptions(extra_index_urls=("https://mirror.invalid/simple",)),
    )
    assert result is None
    err = capsys.readouterr().err
    assert "dry run" in err
    assert "casatools==6.7.0.31 casatasks==6.7.0.31 six" in err
    assert "--extra-index-url https://mirror.invalid/simple" in err
    assert "casadata" in err
    assert f"{tmp_path / 'prefix' / 'casa-6.7.0' / 'bin' / 'casa-6.7.0'}" in err
    assert f"link {tmp_path / 'bin' / 'casa-6.7.0'}" in err
    assert f"Jupyter kernel 'CASA 6.7.0' in {tmp_path / 'kernels' / 'casa-6.7.0'}" in err
    assert list(tmp_path.iterdir()) == []


def test_unknown_app_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(AppsError, match=r"unknown application 'casa-9'.*casa-6\.7\.0"):
        install("casa-9", "/nonexistent", dry_run=True)
    parser = argparse.ArgumentParser(prog="arcade-hub")
    cli.add_parser(parser.add_subparsers(dest="command"))
    assert cli.run(parser.parse_args(["apps", "install", "casa-9", "--dry-run"])) == 1
    err = capsys.readouterr().err
    known = "known: casa-6.6.5, casa-6.7.0, casa-6.7.6"
    assert err.startswith(f"arcade-hub apps: unknown application 'casa-9'; {known}")
    assert "Traceback" not in err


def test_unsupported_python_is_refused_before_anything_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "APPS", (dataclasses.replace(CASA, pythons=("2.7",)),))
    with pytest.raises(AppsError, match=r"needs Python 2\.7; .* is Python 3\.\d+"):
        install("casa-6.7.0", tmp_path, python=sys.executable, dry_run=True)
    with pytest.raises(AppsError, match="no Python interpreter 'nonexistent-python'"):
        install("casa-6.7.0", tmp_path, python="nonexistent-python", dry_run=True)
    assert list(tmp_path.iterdir()) == []


def test_site_config_is_offline_and_logs_somewhere_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = casa_site_config_text(CASA, Path("/opt/x/casadata/__data__"))
    readonly = tmp_path / "ro"
    readonly.mkdir(mode=0o555)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(readonly)
    monkeypatch.setenv("ARCADE_SCRATCH", str(scratch))
    settings: dict[str, object] = {}
    exec(text, settings)  # what casaconfig does with a site file
    assert settings["measurespath"] == "/opt/x/casadata/__data__"
    assert settings["datapath"] == ["/opt/x/casadata/__data__"]
    assert settings["measures_auto_update"] is False
    assert settings["data_auto_update"] is False
    logfile = Path(str(settings["logfile"]))
    expected = readonly if os.access(readonly, os.W_OK) else scratch  # root may write anyway
    assert logfile.parent == expected
    assert logfile.name.startswith("casa-") and logfile.suffix == ".log"


def test_startup_code_imports_casa_and_prints_a_banner() -> None:
    code = startup_code(CASA)
    compile(code, "<startup>", "exec")
    assert "import casatools" in code and "import casatasks" in code
    assert "from casatasks import *" in code
    assert "CASA 6.7.0" in code


def test_wrapper_sets_the_site_config_and_opens_an_xterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = layout(CASA, tmp_path / "prefix")
    written = write_env_files(CASA, where, Path("/data/casadata/__data__"))
    assert written == [where.site_config, where.wrapper]
    assert _mode(where.wrapper) == 0o755 and _mode(where.site_config) == 0o644
    assert "measurespath = '/data/casadata/__data__'" in where.site_config.read_text()
    subprocess.run(["sh", "-n", str(where.wrapper)], check=True)
    where.python.symlink_to(sys.executable)

    got = subprocess.run(
        [str(where.wrapper), "--python", "-c", "import os; print(os.environ['CASASITECONFIG'])"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": "/should/be/unset"},
    )
    assert got.stdout.strip() == str(where.site_config)

    fake_bin = tmp_path / "fakebin"
    fake_bin.mkdir()
    xterm = fake_bin / "xterm"
    xterm.write_text('#!/bin/sh\nprintf "%s\\n" "$PWD" "$@" > "$XTERM_ARGS"\n')
    xterm.chmod(0o755)
    args_file = tmp_path / "xterm-args"
    subprocess.run(
        [str(where.wrapper)],
        check=True,
        cwd="/",  # not writable for a session user: the wrapper moves to HOME
        env={
            "PATH": f"{fake_bin}:/usr/bin:/bin",
            "DISPLAY": ":99",
            "HOME": str(tmp_path),
            "XTERM_ARGS": str(args_file),
        },
    )
    lines = args_file.read_text().split("\n")
    if not os.access("/", os.W_OK):
        assert lines[0] == str(tmp_path)
    assert lines[1:7] == ["-T", "CASA 6.7.0", "-e", str(where.python), "-i", "-c"]
    assert "import casatasks" in "\n".join(lines[7:])


def test_link_never_replaces_a_file_that_is_not_a_link(tmp_path: Path) -> None:
    where = layout(CASA, tmp_path / "prefix")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "casa-6.7.0").write_text("someone else's\n")
    with pytest.raises(AppsError, match="is not a symbolic link"):
        link_command(where, bin_dir)
    (bin_dir / "casa-6.7.0").unlink()
    (bin_dir / "casa-6.7.0").symlink_to("/elsewhere")
    assert link_command(where, bin_dir).readlink() == where.wrapper


def test_install_list_reinstall_uninstall_with_a_stub_pip(
    tmp_path: Path, any_python: None, fake_pip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _install(tmp_path, fake_pip)
    where = layout(CASA, tmp_path / "prefix")
    calls = [json.loads(line) for line in Path(os.environ["FAKE_PIP_LOG"]).read_text().splitlines()]
    assert [c[-4:] for c in calls] == [
        ["casatools==6.7.0.31", "casatasks==6.7.0.31", "six", "ipykernel"],
        ["off", "--index-url", "https://example.invalid/simple", "casadata>=2025.9.22"],
    ]
    assert all(c[:2] == ["install", "--upgrade"] for c in calls)
    err = capsys.readouterr().err
    assert "Collecting casadata" in err and "installed CASA 6.7.0" in err

    link = tmp_path / "bin" / "casa-6.7.0"
    assert link.is_symlink() and link.resolve() == where.wrapper.resolve()
    assert os.access(link, os.X_OK)
    measures = where.env.glob("lib/python*/site-packages/casadata/__data__")
    assert f"measurespath = '{next(measures)}'" in where.site_config.read_text()
    for path in [where.env, *where.env.rglob("*")]:
        if path.is_symlink():
            continue
        mode = _mode(path)
        assert mode & 0o755 == 0o755 if path.is_dir() else mode & 0o644 == 0o644, path
    assert _mode(where.wrapper) == 0o755

    [found] = list_installed(tmp_path / "prefix")
    assert (found.name, found.command, found.complete) == ("casa-6.7.0", "casa-6.7.0", True)
    assert found.links == (str(link),)
    kernel_dir = tmp_path / "kernels" / "casa-6.7.0"
    assert found.kernels == (str(kernel_dir),)
    spec = json.loads((kernel_dir / "kernel.json").read_text())
    assert spec["display_name"] == "CASA 6.7.0"
    assert spec["argv"][:3] == [str(where.python), "-m", "ipykernel_launcher"]
    assert spec["env"] == {"CASASITECONFIG": str(where.site_config)}
    assert [k.casa_version for k in installed_kernels([tmp_path / "kernels"])] == ["6.7.0"]

    where.wrapper.unlink()  # damaged: installing again repairs it in the same environment
    _install(tmp_path, fake_pip)
    assert "reusing the virtual environment" in capsys.readouterr().err
    assert where.wrapper.exists() and link.resolve() == where.wrapper.resolve()
    _install(tmp_path, fake_pip, bin_dir="bin2")  # both links are recorded
    other = tmp_path / "bin2" / "casa-6.7.0"
    assert list_installed(tmp_path / "prefix")[0].links == (str(other), str(link))

    uninstall("casa-6.7.0", tmp_path / "prefix", tmp_path / "bin")
    assert not link.exists() and not link.is_symlink()
    assert not kernel_dir.exists()
    assert not other.is_symlink()
    assert not where.env.exists()
    assert list_installed(tmp_path / "prefix") == []
    with pytest.raises(AppsError, match="not installed"):
        uninstall("casa-6.7.0", tmp_path / "prefix", tmp_path / "bin")


def test_pip_failure_shows_the_last_lines_of_its_output(
    tmp_path: Path,
    any_python: None,
    fake_pip: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_PIP_FAIL", "1")
    with pytest.raises(AppsError) as failure:
        _install(tmp_path, fake_pip)
    message = str(failure.value)
    assert "pip failed (exit 1)" in message
    assert "No matching distribution found for casatools" in message
    assert "noise 39" in message and "noise 0\n" not in message
    assert "install.log" in message
    assert not (tmp_path / "bin" / "casa-6.7.0").exists()
    [found] = list_installed(tmp_path / "prefix")
    assert not found.complete


def test_cli_list_on_an_empty_prefix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="arcade-hub")
    cli.add_parser(parser.add_subparsers(dest="command"))
    assert cli.run(parser.parse_args(["apps", "list", "--prefix", str(tmp_path)])) == 0
    assert "no applications installed" in capsys.readouterr().out
