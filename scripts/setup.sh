#!/usr/bin/env bash
# Install everything Arcade Hub needs on a Debian machine; safe to run again.
#   scripts/setup.sh          the platform: Python venv, configurable-http-proxy, desktop packages
#   scripts/setup.sh --test   the same plus what the test suite drives (Chromium, registry,
#                             podman, debootstrap to build the images of images/)
# Environment: ARCADE_VENV (default .venv in the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ARCADE_VENV:-.venv}
TESTS=0
[ "${1:-}" = "--test" ] && TESTS=1

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  pkgs="python3 python3-venv python3-dev iproute2 procps
        tigervnc-standalone-server tigervnc-tools xauth dbus-x11 xfonts-base openbox xterm
        x11-xserver-utils x11-utils fonts-dejavu-core libnss-wrapper"
  command -v node >/dev/null || pkgs="$pkgs nodejs npm"
  [ $TESTS = 1 ] && pkgs="$pkgs chromium fonts-dejavu-core x11-utils x11-xserver-utils python3-tk docker-registry apache2-utils busybox-static runc podman catatonit debootstrap"
  missing=$(for p in $pkgs; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"; done)
  if [ -n "$missing" ]; then
    say "Installing Debian packages: $(echo $missing)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
else
  say "Not root: skipping Debian packages (the desktop needs tigervnc-standalone-server, openbox, xterm, dbus-x11)"
fi

# Debian's Python, so that sessions running under unprivileged uids can execute it.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
if [ -f "$VENV/pyvenv.cfg" ] && [ "$PY" = /usr/bin/python3 ] \
   && ! grep -qx 'home = /usr/bin' "$VENV/pyvenv.cfg"; then
  say "Recreating $VENV with Debian's Python (it was made with another one)"
  rm -rf "$VENV"
fi
# A checkout moved or copied elsewhere keeps a venv whose scripts and editable install point
# at the old place: make it again rather than install into the old one.
if [ -f "$VENV/bin/activate" ] \
   && ! grep -q "^VIRTUAL_ENV=[\"']\?$(cd "$VENV" && pwd -P)[\"']\?\$" "$VENV/bin/activate"; then
  say "Recreating $VENV (it was made for another place: $(sed -n "s/^VIRTUAL_ENV=//p" "$VENV/bin/activate"))"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  say "Creating the virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
extras=kube,casa
[ $TESTS = 1 ] && extras="kube,casa,test"
# Installing again only when what it depends on changed: a start takes seconds, not a pip run.
stamp="$VENV/.arcade-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $extras $PWD"
if [ -x "$VENV/bin/arcade-hub" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  say "Arcade Hub is installed in $VENV (pyproject.toml unchanged)"
else
  say "Installing Arcade Hub into $VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e ".[$extras]"
  echo "$want" > "$stamp"
fi

if [ ! -x "$VENV/node/node_modules/.bin/configurable-http-proxy" ]; then
  say "Installing configurable-http-proxy (npm)"
  npm install --silent --no-audit --no-fund --prefix "$VENV/node" configurable-http-proxy@5 >/dev/null
fi
ln -sf ../node/node_modules/.bin/configurable-http-proxy "$VENV/bin/configurable-http-proxy"
if [ $TESTS = 1 ] && [ ! -f "$VENV/node-test/node_modules/oidc-provider/lib/index.js" ]; then
  say "Installing oidc-provider for the login tests (npm)"
  npm install --silent --no-audit --no-fund --prefix "$VENV/node-test" oidc-provider@9 >/dev/null
fi
say "Setup done"
