#!/usr/bin/env bash
# make test-pi: the edge client on emulated Raspberry Pi OS systems.
#
# For each system below, a Debian root of that release and architecture
# (debootstrap, cached outside the clone and keyed by a hash of what builds it)
# runs under qemu-user. In it, the README's own commands for that system
# (the bash block after its "<!-- pi-test: NAME -->" marker) install the
# client's wheel, as a Pi user would; then every demo bundle, id and history,
# is scored (and the history bundles recommend, through their top-k op) and
# compared with x86 (tests/pi/parity.py), the damaged-model tests run,
# and `edgerank bench-edge` measures cold start and peak memory, reported as a
# ratio to the same run on x86. The systems marked `full` run the whole TF-free
# device suites (tests/edge and tests/edge_cli, hostile inputs included) instead
# of the damaged-model tests alone: LiteRT's aarch64 build on Python 3.13 (which
# x86 never runs) and tflite-runtime's armv7l build with Debian's numpy. On the
# two Bookworm arm64 systems (LiteRT as on Trixie, tflite-runtime's aarch64 build)
# parity reaches every signature of every bundle and the damaged models the
# loader; the suites' other checks are Python, run on x86 and the full systems.
# Systems that share a root run one after the other: the full suites go to the
# systems with a root of their own.
#
# Needs root (debootstrap, chroot, mounts), the integration artifacts of
# `make test` (build/integration, build/quality) and .venv-litert.
# `run.sh --roots` builds the roots and stops (CI runs it while the x86 tests run).
# Environment:
#   EDGERANK_PI_CACHE  where the roots are kept (default ~/.cache/edgerank/pi)
#   PI_SYSTEMS         which systems to run (default: all of them)
#   PI_FULL_SUITES     `all`: the whole device suites on every system
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
CACHE=${EDGERANK_PI_CACHE:-$HOME/.cache/edgerank/pi}
OUT=$REPO/build/pi
ARTIFACTS=$REPO/build/integration
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
#: NAME  release  debootstrap arch  QEMU_CPU  cpuinfo  expected backend  device suites (full|damaged)
SYSTEMS_TABLE="
bookworm-arm64-litert  bookworm arm64 cortex-a72 aarch64 ai_edge_litert damaged
bookworm-arm64-tflite  bookworm arm64 cortex-a72 aarch64 tflite_runtime damaged
trixie-arm64-litert    trixie   arm64 cortex-a72 aarch64 ai_edge_litert full
bookworm-armhf-tflite  bookworm armhf cortex-a7  armv7l  tflite_runtime full
"
SYSTEMS=${PI_SYSTEMS:-$(awk 'NF {print $1}' <<<"$SYSTEMS_TABLE" | xargs)}
PACKAGES=python3,python3-venv,python3-pip,python3-numpy,ca-certificates

readme_commands() {  # NAME -> the bash block after <!-- pi-test: NAME --> in README.md
  awk -v marker="<!-- pi-test: $1 -->" '
    $0 == marker {found = 1; next}
    found && /^```bash$/ {inside = 1; next}
    inside && /^```$/ {exit}
    inside {print}' README.md
}

log() { printf '[test-pi %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 2; }

# `run.sh --commands NAME`: print what the test runs for NAME from the README, and stop.
if [ "${1:-}" = --commands ]; then readme_commands "$2"; exit 0; fi
# `run.sh --systems`: the systems it knows.
if [ "${1:-}" = --systems ]; then awk 'NF {print $1}' <<<"$SYSTEMS_TABLE"; exit 0; fi

[ "$(id -u)" = 0 ] || die "needs root: debootstrap, chroot and bind mounts"

host_setup() {
  if ! command -v debootstrap >/dev/null || ! [ -e /usr/bin/qemu-aarch64-static ]; then
    log "installing qemu-user-static, binfmt-support and debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static binfmt-support debootstrap >/dev/null
  fi
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  update-binfmts --enable qemu-arm >/dev/null 2>&1 || true
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && [ -e /proc/sys/fs/binfmt_misc/qemu-arm ] \
    || die "qemu-aarch64 and qemu-arm are not registered with binfmt_misc"
}

# A root's cache key: everything that decides its contents (the release, the architecture, the
# packages, the mirror and the script that builds it).
root_for() {  # release arch -> path
  local key
  key=$( { printf '%s\n' "$1" "$2" "$PACKAGES" "$MIRROR"; cat tests/pi/build_root.sh; } | sha256sum | cut -c1-12)
  printf '%s/%s-%s-%s' "$CACHE" "$1" "$2" "$key"
}

# Unmounts whatever is mounted under a folder (a killed run, or debootstrap's own /proc), deepest
# first, so that nothing removing the folder can reach this machine's /dev or /sys.
release_mounts() {  # folder
  awk -v prefix="$1/" 'index($2 "/", prefix) == 1 {print $2}' /proc/mounts | sort -r | while read -r mount; do
    umount -l "$mount"
  done
}

remove_tree() {  # folder
  release_mounts "$1"
  rm -rf --one-file-system "$1"
}

build_root() {  # release arch
  local root begun=$SECONDS; root=$(root_for "$1" "$2")
  if [ -d "$root" ]; then log "reusing $root"; return; fi
  log "debootstrap $1 $2 into $root (a few minutes)"
  mkdir -p "$CACHE"; remove_tree "$root.tmp"
  bash tests/pi/build_root.sh "$1" "$2" "$root" "$PACKAGES" "$MIRROR" >"$OUT/debootstrap-$1-$2.log" 2>&1 \
    || { remove_tree "$root.tmp"; die "building the $1 $2 root failed: see $OUT/debootstrap-$1-$2.log"; }
  log "built the $1 $2 root in $((SECONDS - begun)) s"
}

# qemu-user shows the guest this machine's x86 /proc/cpuinfo, and LiteRT then crashes in
# Interpreter(); a Raspberry Pi's own cpuinfo is ARM. Emulation only: a real Pi needs none of this.
cpuinfo() {  # aarch64|armv7l
  local cpu
  for cpu in 0 1 2 3; do
    if [ "$1" = aarch64 ]; then
      printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$cpu"
      printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
    else
      printf 'processor\t: %s\nmodel name\t: ARMv7 Processor rev 3 (v7l)\nBogoMIPS\t: 108.00\n' "$cpu"
      printf 'Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32\n'
      printf 'CPU implementer\t: 0x41\nCPU architecture: 7\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
    fi
  done
  printf 'Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n'
}


run_system() {  # NAME release arch qemu_cpu cpu backend suites
  local name=$1 release=$2 arch=$3 qemu_cpu=$4 cpu=$5 backend=$6 suites=$7 root work commands selection status=0
  local begun=$SECONDS
  root=$(root_for "$release" "$arch")
  commands=$(readme_commands "$name")
  [ -n "$commands" ] || die "README.md has no bash block after <!-- pi-test: $name -->"
  work=$root/root/pi
  release_mounts "$root"
  remove_tree "$work"; remove_tree "$root/root/edgerank"; mkdir -p "$work/artifacts/edge" "$work/artifacts/data"
  cp "$OUT/dist/"*.whl "$work/"
  cp -r "$REPO/tests" "$REPO/pyproject.toml" "$REPO/README.md" "$work/"
  for bundle in "$ARTIFACTS"/edge/*/; do cp -r "$bundle" "$work/artifacts/edge/"; done
  cp "$ARTIFACTS/edge_reference.json" "$work/artifacts/"
  cp "$ARTIFACTS/data/test.npz" "$work/artifacts/data/"
  cp -r "$ARTIFACTS/handoff" "$work/artifacts/" 2>/dev/null || true
  # The README's `edge`: the bundle a Pi user copies over, the default (history) one.
  cp -r "$REPO/build/quality/edge/history-int8" "$work/edge"
  # The history bundles and their split, for tests/edge/test_history_bundle.py and the damaged-model tests
  # of tests/edge_cli (build/quality: the model-quality test).
  mkdir -p "$work/quality/edge" "$work/quality/data"
  cp -r "$REPO/build/quality/edge/history-int8" "$REPO/build/quality/edge/history-float32" "$work/quality/edge/"
  cp "$REPO/build/quality/data/train.npz" "$REPO/build/quality/data/test.npz" "$work/quality/data/"
  cp "$REPO/build/quality/history_reference.json" "$work/quality/"
  cpuinfo "$cpu" >"$OUT/cpuinfo-$cpu"
  selection=""
  [ "$suites" = damaged ] && [ "${PI_FULL_SUITES:-}" != all ] && selection="-k damaged"
  cat >"$work/test.sh" <<EOF
set -euxo pipefail
# Each command echoed with the seconds since the start, so that the log shows where the time goes.
PS4='+ [\${SECONDS}s] '
cd /root/pi
# --- the README's commands for $name ---
$commands
# --- the checks ---
pip install -q pytest
# Each damaged-model probe starts a Python under qemu (seconds): a few damaged copies per variant here.
EDGERANK_EDGE_ARTIFACTS=/root/pi/artifacts EDGERANK_EXPECT_BACKEND=$backend EDGERANK_DAMAGED_COPIES=3 EDGERANK_EMULATED=1 \
  python -m pytest -q -p no:cacheprovider --durations=10 tests/edge tests/edge_cli $selection
python tests/pi/parity.py score artifacts quality parity.json
edgerank bench-edge --model edge --data artifacts/data/test.npz --output bench.json \
  --warmup 20 --repeats 300 --cold-starts 3
EOF
  mount -t proc proc "$root/proc"
  mount --bind "$OUT/cpuinfo-$cpu" "$root/proc/cpuinfo"
  mount --rbind /sys "$root/sys"; mount --make-rslave "$root/sys"
  mount --rbind /dev "$root/dev"; mount --make-rslave "$root/dev"
  log "$name: running (log: $OUT/$name.log)"
  env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    QEMU_CPU="$qemu_cpu" chroot "$root" /bin/bash /root/pi/test.sh >"$OUT/$name.log" 2>&1 || status=$?
  release_mounts "$root"
  [ "$status" = 0 ] || { log "$name: FAILED (status $status); the end of its log:"; tail -n 30 "$OUT/$name.log" >&2; return 1; }
  cp "$work/parity.json" "$OUT/parity-$name.json"; cp "$work/bench.json" "$OUT/bench-$name.json"
  log "$name: passed in $((SECONDS - begun)) s"
}

mkdir -p "$OUT"
# Whatever happens, nothing stays mounted in the cached roots.
trap 'release_mounts "$CACHE"' EXIT
started=$SECONDS
host_setup

# The roots build in parallel (debootstrap is mostly network and disk); `run.sh --roots` builds them
# and stops, which .ci/run starts in the background while the x86 tests run.
declare -A needed=()
for name in $SYSTEMS; do
  read -r _ release arch _ < <(grep -E "^$name " <<<"$SYSTEMS_TABLE") || die "unknown system $name"
  needed["$release $arch"]=1
done
pids=()
for key in "${!needed[@]}"; do build_root $key & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid" || die "building a root failed"; done
log "roots ready after $((SECONDS - started)) s"
[ "${1:-}" = --roots ] && exit 0

[ -f "$ARTIFACTS/edge_reference.json" ] || die "$ARTIFACTS/edge_reference.json is missing: run make test first"
[ -x .venv-litert/bin/python ] || die ".venv-litert is missing: run make test first"
log "building the client's wheel"
rm -rf "$OUT/dist"
.venv-litert/bin/python -m pip wheel -q --no-deps . -w "$OUT/dist" >/dev/null
log "x86 reference: scores and bench-edge"
.venv-litert/bin/python tests/pi/parity.py score "$ARTIFACTS" build/quality "$OUT/parity-x86.json"
.venv-litert/bin/python -m edgerank bench-edge --model build/quality/edge/history-int8 --data "$ARTIFACTS/data/test.npz" \
  --output "$OUT/bench-x86.json" --warmup 20 --repeats 300 --cold-starts 3 >/dev/null

failed=0
declare -A chains=()
for name in $SYSTEMS; do
  read -r _ release arch _ <<<"$(grep -E "^$name " <<<"$SYSTEMS_TABLE")"
  chains["$release $arch"]+="$name "
done
pids=()
for key in "${!chains[@]}"; do
  (
    for name in ${chains[$key]}; do
      read -r -a spec <<<"$(grep -E "^$name " <<<"$SYSTEMS_TABLE")"
      run_system "${spec[@]}" || exit 1
    done
  ) & pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || die "some systems failed (logs in $OUT)"

log "parity with x86 and the emulated cost"
.venv-litert/bin/python tests/pi/report.py "$OUT" $SYSTEMS
log "all systems passed in $((SECONDS - started)) s"
