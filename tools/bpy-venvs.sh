#!/usr/bin/env bash
# Virtual environments holding Blender as a Python module (the `bpy` wheels on PyPI), one per
# Blender series, for the Blender extension's tests (tests/blender/). A wheel is ~370 MB, so
# each venv is made once under the cache folder and reused while its series still matches.
#
#   tools/bpy-venvs.sh 4.5 5.2         make (or reuse) these series
#   tools/bpy-venvs.sh all             4.2 LTS, 4.5 LTS, 5.0 and 5.2 LTS
#   tools/bpy-venvs.sh --path 4.5      print the venv's python (no install)
#
# Cache: ${KLING_BRIDGE_BPY_CACHE:-$XDG_CACHE_HOME/kling-bridge/bpy}/<series>/  (outside the repo).
# 4.2-5.0 wheels are for Python 3.11, 5.1+ for Python 3.13 (found on PATH or under pyenv).
set -euo pipefail

cache="${KLING_BRIDGE_BPY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kling-bridge/bpy}"
ALL="4.2 4.5 5.0 5.2"

python_for() {  # series -> a python able to run that series' wheel
  local want
  case "$1" in 4.*|5.0) want=3.11 ;; *) want=3.13 ;; esac
  local cand
  for cand in "python$want" "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/"$want"*/bin/"python$want"; do
    if [ -n "$cand" ] && "$cand" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$want'.split('.'))))" >/dev/null 2>&1; then
      command -v "$cand" 2>/dev/null || echo "$cand"; return 0
    fi
  done
  echo "bpy-venvs: Blender $1's wheel needs Python $want, which is not on this machine" >&2
  return 1
}

make_one() {
  local series="$1" dir="$cache/$1"
  if [ -x "$dir/bin/python" ] && [ -f "$dir/.ready" ]; then
    echo "bpy $series: reusing $dir ($(cat "$dir/.ready"))"; return 0
  fi
  local py; py="$(python_for "$series")"
  echo "bpy $series: installing bpy==$series.* into $dir (a ~370 MB wheel, once)"
  rm -rf "$dir"; mkdir -p "$cache"
  "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "bpy==$series.*"
  "$dir/bin/python" -c 'import bpy; print(bpy.app.version_string)' > "$dir/.ready.tmp"
  mv "$dir/.ready.tmp" "$dir/.ready"
  echo "bpy $series: Blender $(cat "$dir/.ready") ready"
}

if [ "${1:-}" = "--path" ]; then
  shift; echo "$cache/$1/bin/python"; exit 0
fi
[ $# -gt 0 ] || set -- 4.5 5.2
wanted=()
for arg in "$@"; do
  if [ "$arg" = all ]; then wanted+=($ALL); else wanted+=("$arg"); fi
done
for series in "${wanted[@]}"; do make_one "$series"; done
