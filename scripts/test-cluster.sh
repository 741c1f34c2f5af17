# Sourced by scripts/test.sh: the real Kubernetes cluster of ../shared/kube-cluster for the
# real-cluster tests (tests/kube/real_cluster.py says what they read).
#
# As root on Debian with ../shared/kube-cluster present, `cluster_up` builds the cluster
# (setup.sh, idempotent: about 5 minutes from scratch, a second otherwise), starts it,
# builds the session and hub images (scripts/build-images.sh, cached), imports them into the
# cluster's containerd and exports ARCADE_TEST_KUBECONFIG, ARCADE_TEST_NAMESPACE,
# ARCADE_TEST_IMAGE and ARCADE_TEST_HUB_IMAGE, then runs the tests' preflight (a pod of the
# notebook image, tests/kube/real_cluster.py). When no pod runs, it stops the cluster, empties
# its stored state (API objects, containerd's images, pods' volumes; not the build) and starts
# and imports once more. When any step fails it exports ARCADE_TEST_CLUSTER_ERROR with the
# reason instead: the real-cluster tests then fail with it (they were asked to run).
# `cluster_down` stops the cluster again if cluster_up started it (test.sh traps EXIT).
#
# Environment:
#   ARCADE_TEST_CLUSTER=0     skip all of this; the real-cluster tests skip, saying so
#   ARCADE_TEST_KUBECONFIG    already set: use that cluster as it is (nothing built/started)
#   ARCADE_KUBE_CLUSTER_DIR   the cluster's scripts (default ../shared/kube-cluster)
#   ARCADE_KUBE_DIR           where the cluster is built (the scripts' default /var/tmp/arcade-kube)
#   ARCADE_IMAGES_CACHE       build-images.sh's cache (default /var/tmp/arcade-images)

CLUSTER_STARTED=0

cluster_fail() {
  export ARCADE_TEST_CLUSTER_ERROR="$*"
  printf '\033[1;31m==> real-cluster tests will fail: %s\033[0m\n' "$*" >&2
}

# run "$@" with its output in $2's log; on failure, record step $1 and the log's end
cluster_step() {
  local what=$1 log=$2
  shift 2
  if ! "$@" >"$log" 2>&1; then
    cluster_fail "$what failed (log: $log): $(tail -n 5 "$log" | tr '\n' ' ')"
    return 1
  fi
}

cluster_up() {
  local scripts=${ARCADE_KUBE_CLUSTER_DIR:-$(cd .. && pwd)/shared/kube-cluster}
  if [ "${ARCADE_TEST_CLUSTER:-1}" = 0 ]; then
    say "ARCADE_TEST_CLUSTER=0: no real cluster, the real-cluster tests skip"
    return 0
  fi
  if [ -n "${ARCADE_TEST_KUBECONFIG:-}" ]; then
    say "Real-cluster tests on ARCADE_TEST_KUBECONFIG=$ARCADE_TEST_KUBECONFIG"
    return 0
  fi
  if [ ! -x "$scripts/start.sh" ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    say "No real cluster (needs root, Debian and $scripts): the real-cluster tests skip"
    return 0
  fi
  local kube=${ARCADE_KUBE_DIR:-/var/tmp/arcade-kube}
  local cache=${ARCADE_IMAGES_CACHE:-/var/tmp/arcade-images}
  local logs
  logs=$(mktemp -d /tmp/arcade-test-cluster.XXXXXX)
  local t0=$SECONDS

  say "Real cluster: setup.sh (idempotent; about 5 minutes the first time)"
  cluster_step "setup.sh" "$logs/setup.log" env ARCADE_KUBE_DIR="$kube" "$scripts/setup.sh" || return 0
  CLUSTER_STARTED=1  # also when start.sh fails half-way: stop.sh stops what it started
  if "$kube/bin/kubectl" --kubeconfig "$kube/admin.kubeconfig" get --raw /readyz \
       >/dev/null 2>&1; then
    # left running (a run cut short, or by hand): start.sh would wait for the node's next
    # status report, up to minutes; use it, and stop it at the end all the same
    say "Real cluster: already running in $kube, using it"
  else
    say "Real cluster: start.sh"
    cluster_step "start.sh" "$logs/start.log" env ARCADE_KUBE_DIR="$kube" "$scripts/start.sh" \
      || return 0
  fi

  say "Real cluster: the session and hub images (scripts/build-images.sh, cached in $cache)"
  mkdir -p "$cache"
  printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=32768:32768"]\n' \
    >"$cache/containers.conf"
  local -a build_env=(env CONTAINERS_CONF="$cache/containers.conf" ARCADE_IMAGES_CACHE="$cache")
  cluster_step "scripts/build-images.sh" "$logs/build-images.log" \
    "${build_env[@]}" scripts/build-images.sh notebook desktop headless hub || return 0
  local -a podman=(podman --root "${ARCADE_PODMAN_ROOT:-$cache/storage}"
                   --runroot "${ARCADE_PODMAN_RUNROOT:-$cache/runroot}")
  local name ref notebook= hub=
  local -a refs=()
  while IFS=$'\t' read -r name ref; do
    case $name in notebook|desktop|headless|hub) refs+=("$ref") ;; *) continue ;; esac
    [ "$name" = notebook ] && notebook=$ref
    [ "$name" = hub ] && hub=$ref
  done < <("${build_env[@]}" scripts/build-images.sh --list notebook desktop headless hub)
  say "Real cluster: importing ${refs[*]}"
  # one archive: the layers the images share (desktop is built on notebook) go once
  cluster_step "importing the images into the cluster" "$logs/import.log" \
    cluster_import "$kube/bin/ctr" "${refs[@]}" || return 0
  export ARCADE_TEST_KUBECONFIG=$kube/admin.kubeconfig
  export ARCADE_TEST_NAMESPACE=arcade-test
  export ARCADE_TEST_IMAGE=$notebook
  export ARCADE_TEST_HUB_IMAGE=$hub  # the storage service's pod (tests/kube/test_storage_real.py)
  # the tests' own preflight (tests/kube/real_cluster.py): a pod of the notebook image runs
  if ! cluster_preflight >"$logs/preflight.log" 2>&1; then
    # a cluster kept from earlier runs that does not run pods: once, from an empty state
    say "Real cluster: no pod runs ($(tail -n 1 "$logs/preflight.log" | cut -c1-600)); starting it again from an empty state"
    cluster_step "stop.sh" "$logs/stop.log" env ARCADE_KUBE_DIR="$kube" "$scripts/stop.sh" \
      && cluster_step "emptying the cluster's state" "$logs/empty.log" cluster_empty "$kube" \
      && cluster_step "start.sh" "$logs/start-again.log" env ARCADE_KUBE_DIR="$kube" "$scripts/start.sh" \
      && cluster_step "importing the images into the cluster" "$logs/import-again.log" \
           cluster_import "$kube/bin/ctr" "${refs[@]}" \
      && cluster_step "the preflight (a pod of $notebook)" "$logs/preflight-again.log" \
           cluster_preflight || return 0
  fi
  say "Real cluster ready in $((SECONDS - t0)) s (logs: $logs)"
}

cluster_preflight() {  # with the variables exported above
  "${VENV:-.venv}/bin/python" -m tests.kube.real_cluster
}

# the cluster's stored state (API objects, containerd's images and containers, the kubelet's
# pods, pod IPs, claims' data), not its build: start.sh makes it anew. Refuses while anything
# is still mounted there (stop.sh unmounts what the kubelet mounted).
cluster_empty() {
  local kube=$1 mounted
  mounted=$(awk -v p="$kube/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo)
  if [ -n "$mounted" ]; then
    echo "still mounted under $kube: $mounted" >&2
    return 1
  fi
  rm -rf "${kube:?}/var" "${kube:?}/run" "${kube:?}/hostpath_pv"
}

# podman save REF... | ctr import (podman: cluster_up's array; pipefail: test.sh's)
cluster_import() {
  local ctr=$1
  shift
  "${podman[@]}" save -m "$@" | "$ctr" -n k8s.io images import -
}

cluster_down() {
  [ "$CLUSTER_STARTED" = 1 ] || return 0
  CLUSTER_STARTED=0
  say "Real cluster: stop.sh"
  env ARCADE_KUBE_DIR="${ARCADE_KUBE_DIR:-/var/tmp/arcade-kube}" \
    "${ARCADE_KUBE_CLUSTER_DIR:-$(cd .. && pwd)/shared/kube-cluster}/stop.sh" >/dev/null 2>&1 \
    || echo "test.sh: stop.sh failed" >&2
}
