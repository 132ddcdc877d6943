#!/usr/bin/env bash
# One script, two uses (see README):
#   ./setup.sh demo   install everything (ffmpeg included) and run the offline demo
#   ./setup.sh test   install everything plus the test tools, then run the test suite
#                     (KLING_BRIDGE_BLENDER_VERSIONS=all: Blender 4.2, 4.5, 5.0 and 5.2; default 4.5 5.2)
# Installs into ./.venv; needs Python >= 3.11. System packages come from apt (Debian/Ubuntu)
# or Homebrew (macOS). Extra arguments after the verb go to the demo / to pytest.
set -euo pipefail
cd "$(dirname "$0")"
verb="${1:-demo}"; shift || true

# ffmpeg/ffprobe, and on Linux a font so draft slates carry words (macOS has its own fonts).
need_system() {
  ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1 && return 0
  [ "$(uname)" = "Linux" ] && [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] && return 0
  return 1
}
if need_system; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq ffmpeg fonts-dejavu-core >/dev/null
  elif command -v brew >/dev/null 2>&1; then
    brew install ffmpeg
  else
    echo "setup.sh: ffmpeg is missing and neither apt-get nor brew is here; install ffmpeg, then run again" >&2
    exit 1
  fi
fi

py="${PYTHON:-}"
if [ -z "$py" ]; then
  for cand in python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      py="$cand"; break
    fi
  done
fi
[ -n "$py" ] || { echo "setup.sh: needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$py" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
case "$verb" in
  demo)
    .venv/bin/python -m pip install -q -e . >/dev/null
    exec .venv/bin/kling-bridge demo "$@" ;;
  test)
    .venv/bin/python -m pip install -q -e '.[dev]' >/dev/null
    # Real Blender for tests/blender: a cached `bpy` venv per series (~370 MB each, made
    # once). KLING_BRIDGE_BLENDER_VERSIONS="all" tests 4.2 4.5 5.0 5.2; "none" skips them.
    blender_versions="${KLING_BRIDGE_BLENDER_VERSIONS:-4.5 5.2}"
    if [ "$blender_versions" != "none" ]; then
      tools/bpy-venvs.sh $blender_versions
      export KLING_BRIDGE_BLENDER_VERSIONS="$blender_versions" KLING_BRIDGE_BPY_REQUIRED=1
    fi
    # loadgroup: the Blender tests (one xdist group) share one worker while the others run
    # the rest, instead of all waiting on the Blender lock. Three workers on two cores: two
    # kept the cores busy only ~85% of the time (tests wait on daemons, renders and polls);
    # measured idle on 2 cores, 6 min 17 s with two, 5 min 38 s with three.
    exec .venv/bin/python -m pytest -q -n 3 --dist loadgroup --durations=25 "$@" ;;
  *)
    echo "usage: ./setup.sh demo|test" >&2; exit 2 ;;
esac
