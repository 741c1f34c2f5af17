#!/usr/bin/env bash
# Build Arcade Hub's container images with podman, in dependency order:
#
#   debian:bookworm (local) -> base -> notebook -> desktop -> casa-6.6.5, casa-6.7.0
#                                   -> headless
#                                   -> hub
#   debian:trixie (local)   -> base-trixie -> notebook-trixie -> desktop-trixie -> casa-6.7.6
#
# The -trixie images are built from the same Dockerfiles (images/base, notebook, desktop) on
# Debian 13, whose Python 3.13 the newer CASA wheels need. Every casa-<version> is built from
# images/casa with the build arguments of its recipe (arcade_hub/casa/recipes.py, which also
# says its Debian release): the image runs `arcade-hub apps install casa-<version>`.
#
#   scripts/build-images.sh [options] [IMAGE...]
#
# IMAGE is one of: base notebook desktop headless hub casa-6.6.5 casa-6.7.0 base-trixie
# notebook-trixie desktop-trixie casa-6.7.6 (default: base notebook desktop headless hub);
# the images an IMAGE builds on are built too. Options:
#   --casa       also build every casa-<version> (and the trixie chain casa-6.7.6 needs):
#                about 500 MB of wheels to download per version, 2 GB installed
#   --upstream   start from the public bases named in the Dockerfiles (docker.io debian,
#                quay.io k8s-hub) instead of a local debootstrap; needs those registries
#   --refresh    make the local Debian base again (new debootstrap) before building
#   --push-to PREFIX
#                afterwards, push every built image as PREFIX/<name>:<tag>, e.g.
#                registry.example.org/arcade/notebook:0.1.0 (not a hub built on the local
#                base); log in first (podman login REGISTRY). Loopback registries
#                (127.0.0.1, localhost) are spoken to over plain HTTP.
#   --list       print "name<TAB>reference" of the images that would be built, and exit
#
# Without --upstream the chain starts from Debian bookworm made here with
# `debootstrap --variant=minbase` and `podman import`, so no container registry is needed,
# only the Debian mirror and PyPI. The machine's own trust roots (*.crt in
# $ARCADE_CA_DIR) are added to that Debian base, as a site does with its CA; the base image
# then makes pip use the operating system's CA store. The hub image is then built on the
# Arcade base, which proves that arcade-hub[kube] installs and imports, and is tagged
# <prefix>/hub:<version>-localbase: it is not a zero-to-jupyterhub hub image.
#
# Idempotent and cached: the debootstrap tarball and podman's storage stay in
# $ARCADE_IMAGES_CACHE and a second run only rebuilds what changed. Runs as root.
#
# Environment:
#   ARCADE_IMAGE_PREFIX    repository prefix of the tags (default ghcr.io/arcade-hub)
#   ARCADE_IMAGE_VERSION   tag of base/notebook/desktop/headless/hub (default: pyproject version)
#   ARCADE_IMAGES_CACHE    debootstrap tarball, podman storage, lock (default /var/tmp/arcade-images)
#   ARCADE_PODMAN_ROOT     podman --root (default $ARCADE_IMAGES_CACHE/storage)
#   ARCADE_PODMAN_RUNROOT  podman --runroot (default $ARCADE_IMAGES_CACHE/runroot)
#   ARCADE_PODMAN_RUNTIME  OCI runtime (default runc where crun refuses hybrid cgroups)
#   ARCADE_DEBIAN_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   ARCADE_DEBIAN_SECURITY Debian security mirror (default http://deb.debian.org/debian-security)
#   ARCADE_CA_DIR          extra trust roots for the local base (default /usr/local/share/ca-certificates)
#   ARCADE_BUILD_NETWORK   podman build --network (default host)
# The images stay in that storage, apart from the machine's default one; use them with e.g.
#   podman --root /var/tmp/arcade-images/storage --runroot /var/tmp/arcade-images/runroot images
set -euo pipefail
# The whole script is one block, read before it runs: editing the file during a long build
# cannot change what the running build does.
{
cd "$(dirname "$0")/.."
REPO=$PWD

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[1;31mbuild-images: %s\033[0m\n' "$*" >&2; exit 1; }

recipes() { PYTHONPATH=$REPO python3 -m arcade_hub.casa.recipes "$@"; }  # stdlib only
declare -A CASA_OS=()  # casa-<version> -> the Debian codename of its recipe
CASA_IMAGES=()
casa_list=$(recipes list) || die "cannot read the CASA recipes (python3 -m arcade_hub.casa.recipes)"
while read -r name release; do CASA_OS[$name]=$release; CASA_IMAGES+=("$name"); done <<<"$casa_list"
ALL=(base notebook desktop headless hub)
for name in "${CASA_IMAGES[@]}"; do [ "${CASA_OS[$name]}" = bookworm ] && ALL+=("$name"); done
ALL+=(base-trixie notebook-trixie desktop-trixie)
for name in "${CASA_IMAGES[@]}"; do [ "${CASA_OS[$name]}" = trixie ] && ALL+=("$name"); done
DEFAULT=(base notebook desktop headless hub)
CASA=0 UPSTREAM=0 REFRESH=0 LIST=0 PUSH_TO=
wanted=()
while [ $# -gt 0 ]; do
  arg=$1
  shift
  case $arg in
    --casa) CASA=1 ;;
    --upstream) UPSTREAM=1 ;;
    --refresh) REFRESH=1 ;;
    --list) LIST=1 ;;
    --push-to) [ $# -gt 0 ] && [ -n "$1" ] || die "--push-to needs a prefix, e.g. registry.example.org/arcade"
               PUSH_TO=${1%/}; shift ;;
    --push-to=*) PUSH_TO=${arg#--push-to=}; PUSH_TO=${PUSH_TO%/} ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $arg (see --help)" ;;
    *) [[ " ${ALL[*]} " == *" $arg "* ]] || die "unknown image $arg (one of: ${ALL[*]})"
       wanted+=("$arg") ;;
  esac
done
[ ${#wanted[@]} -eq 0 ] && wanted=("${DEFAULT[@]}")
[ $CASA = 1 ] && wanted+=("${CASA_IMAGES[@]}")

VERSION=${ARCADE_IMAGE_VERSION:-$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -1)}
[ -n "$VERSION" ] || die "cannot read the version from pyproject.toml; set ARCADE_IMAGE_VERSION"
PREFIX=${ARCADE_IMAGE_PREFIX:-ghcr.io/arcade-hub}
PREFIX=${PREFIX%/}
CACHE=${ARCADE_IMAGES_CACHE:-/var/tmp/arcade-images}
debian_ref() { echo "localhost/arcade-hub/debian:$1"; }
debian_tar() { echo "$CACHE/debian-$1-minbase.tar"; }

parent() {  # the image an image is built on (empty: the Debian or upstream base)
  case $1 in
    notebook|headless) echo base ;;
    hub) [ $UPSTREAM = 1 ] || echo base ;;  # upstream: z2jh's k8s-hub, the Dockerfile's default
    desktop) echo notebook ;;
    notebook-trixie) echo base-trixie ;;
    desktop-trixie) echo notebook-trixie ;;
    casa-*) if [ "${CASA_OS[$1]}" = bookworm ]; then echo desktop
            else echo "desktop-${CASA_OS[$1]}"; fi ;;
    *) echo "" ;;
  esac
}
codename() { case $1 in *-trixie) echo trixie ;; *) echo bookworm ;; esac; }  # of a root image
folder() {  # the -trixie images use the same Dockerfiles, every casa-<version> images/casa
  case $1 in casa-*) echo casa ;; *) echo "${1%-trixie}" ;; esac
}
ref() {
  case $1 in
    casa-*) echo "$PREFIX/casa:${1#casa-}" ;;
    hub) if [ $UPSTREAM = 1 ]; then echo "$PREFIX/hub:$VERSION"
         else echo "$PREFIX/hub:$VERSION-localbase"; fi ;;
    *-trixie) echo "$PREFIX/${1%-trixie}:$VERSION-trixie" ;;
    *) echo "$PREFIX/$1:$VERSION" ;;
  esac
}
# the build context: the repository root for the images that install the arcade_hub package
context() {
  case $(folder "$1") in notebook|hub) echo "$REPO" ;; *) echo "$REPO/images/$(folder "$1")" ;; esac
}

# wanted images plus what they build on, in dependency order
declare -A need=()
for name in "${wanted[@]}"; do
  while [ -n "$name" ]; do need[$name]=1; name=$(parent "$name"); done
done
order=()
for name in "${ALL[@]}"; do [ -n "${need[$name]:-}" ] && order+=("$name"); done

if [ $LIST = 1 ]; then
  for name in "${order[@]}"; do printf '%s\t%s\n' "$name" "$(ref "$name")"; done
  exit 0
fi

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and podman's storage in $CACHE need it)"
command -v podman >/dev/null || die "podman is not installed (apt-get install podman runc)"
mkdir -p "$CACHE"

PODMAN=(podman --root "${ARCADE_PODMAN_ROOT:-$CACHE/storage}"
        --runroot "${ARCADE_PODMAN_RUNROOT:-$CACHE/runroot}")
RUNTIME=${ARCADE_PODMAN_RUNTIME:-}
if [ -z "$RUNTIME" ] && mountpoint -q /sys/fs/cgroup/unified && command -v runc >/dev/null; then
  RUNTIME=runc  # crun refuses cgroup-v1/hybrid hosts (as arcade_hub.local.podman_apps does)
fi
[ -n "$RUNTIME" ] && PODMAN+=(--runtime "$RUNTIME")

# One build at a time per cache (debootstrap directory, tags).
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
  say "Waiting for another build using $CACHE"
  flock 9
fi

make_debian_tarball() {  # codename
  local release=$1 tarball
  tarball=$(debian_tar "$1")
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  local mirror=${ARCADE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
  local security=${ARCADE_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
  local ca_dir=${ARCADE_CA_DIR:-/usr/local/share/ca-certificates}
  local dir=$CACHE/rootfs start=$SECONDS
  say "Making Debian $release (debootstrap --variant=minbase, $mirror)"
  rm -rf "$dir" "$tarball.tmp"
  debootstrap --variant=minbase "$release" "$dir" "$mirror" >"$CACHE/debootstrap-$release.log" 2>&1 \
    || die "debootstrap failed; see $CACHE/debootstrap-$release.log (and $dir/debootstrap/debootstrap.log)"
  cat >"$dir/etc/apt/sources.list" <<EOF
deb $mirror $release main
deb $mirror $release-updates main
deb $security $release-security main
EOF
  # like the official Debian images: no package cache left in layers
  cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  # the site's trust roots; the ca-certificates package adds them to the bundle when installed
  local crt n=0
  mkdir -p "$dir/usr/local/share/ca-certificates"
  for crt in "$ca_dir"/*.crt; do
    [ -f "$crt" ] || continue
    install -m 0644 "$crt" "$dir/usr/local/share/ca-certificates/"
    n=$((n + 1))
  done
  # nothing of this machine's identity or network configuration
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
         "$dir"/var/log/* "$dir/debootstrap"
  : >"$dir/etc/hostname"
  : >"$dir/etc/resolv.conf"
  tar --numeric-owner --xattrs -C "$dir" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$dir"
  say "Debian $release made in $((SECONDS - start)) s ($n trust roots from $ca_dir added)"
}

if [ $UPSTREAM = 0 ]; then
  for name in "${order[@]}"; do  # the Debian releases the root images start from
    [ -z "$(parent "$name")" ] || continue
    release=$(codename "$name")
    tarball=$(debian_tar "$release")
    if [ $REFRESH = 1 ] || [ ! -s "$tarball" ]; then
      make_debian_tarball "$release"
      "${PODMAN[@]}" rmi -f "$(debian_ref "$release")" >/dev/null 2>&1 || true
    fi
    if ! "${PODMAN[@]}" image exists "$(debian_ref "$release")"; then
      say "Importing $tarball as $(debian_ref "$release")"
      "${PODMAN[@]}" import -q --change 'CMD ["bash"]' "$tarball" "$(debian_ref "$release")" \
        >/dev/null || die "podman import of $tarball failed"
    fi
  done
fi

summary=()
total=${#order[@]} i=0
for name in "${order[@]}"; do
  i=$((i + 1))
  tag=$(ref "$name")
  dockerfile=$REPO/images/$(folder "$name")/Dockerfile
  args=(build --network "${ARCADE_BUILD_NETWORK:-host}" --layers -f "$dockerfile" -t "$tag")
  [ -f "$dockerfile.dockerignore" ] && args+=(--ignorefile "$dockerfile.dockerignore")
  if [[ $name == casa-* ]]; then
    while IFS= read -r arg; do args+=(--build-arg "$arg"); done < <(recipes build-args "$name")
  fi
  up=$(parent "$name")
  if [ -n "$up" ]; then
    args+=(--pull=never --build-arg "BASE_IMAGE=$(ref "$up")")
  elif [ $UPSTREAM = 0 ]; then
    args+=(--pull=never --build-arg "BASE_IMAGE=$(debian_ref "$(codename "$name")")")
  elif [ "$(codename "$name")" != bookworm ]; then
    args+=(--build-arg "BASE_IMAGE=docker.io/library/debian:$(codename "$name")-slim")
  fi
  log=$CACHE/build-$name.log
  say "[$i/$total] $name -> $tag"
  start=$SECONDS
  if ! "${PODMAN[@]}" "${args[@]}" "$(context "$name")" >"$log" 2>&1; then
    tail -n 25 "$log" >&2
    die "building $name failed (full log: $log)"
  fi
  seconds=$((SECONDS - start))
  size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$tag")
  summary+=("$(printf '%-16s %-48s %5d s %6d MB' "$name" "$tag" "$seconds" $((size / 1000000)))")
done

# drop images no tag or build cache refers to any more (earlier builds of changed layers)
"${PODMAN[@]}" image prune -f >/dev/null

say "Built (podman storage: ${PODMAN[*]:1:4})"
printf '  %s\n' "${summary[@]}"

if [ -n "$PUSH_TO" ]; then
  tls=true
  case $PUSH_TO in 127.0.0.1[:/]*|localhost[:/]*|\[::1\][:/]*) tls=false ;; esac
  for name in "${order[@]}"; do
    if [ "$name" = hub ] && [ $UPSTREAM = 0 ]; then
      say "Not pushing $(ref hub): built on the local base, it is not a z2jh hub image"
      continue
    fi
    src=$(ref "$name")
    dest=$PUSH_TO/${src##*/}
    say "Pushing $src as $dest"
    start=$SECONDS
    "${PODMAN[@]}" push -q --tls-verify=$tls "$src" "docker://$dest" \
      || die "pushing $src to $dest failed"
    echo "    $((SECONDS - start)) s"
  done
fi
exit 0
}
