#!/bin/sh
# kling-bridge on a fresh Linux or macOS machine, in one command:
#
#   sh install.sh                 Python >= 3.11 checked, ffmpeg installed if missing (apt, dnf
#                                 or brew), the bridge installed in its own environment, then
#                                 'kling-bridge install --all': the daemon as a login service,
#                                 the DaVinci Resolve scripts and the Blender extension.
#   sh install.sh --uninstall     'kling-bridge uninstall', then the environment and the
#                                 command link go too (settings, jobs and results stay)
#   sh install.sh --purge         the same, and the bridge's settings, jobs and logs too
#
# Other arguments go to 'kling-bridge install' (e.g. --resolve, --dry-run). Environment:
#   KLING_BRIDGE_SOURCE  what pip installs (default: the checkout this script is in, else
#                        'kling-bridge' from the package index); a wheel or a folder works
#   KLING_BRIDGE_VENV    where the environment goes (default: a kling-bridge-venv folder in
#                        the user's data folder)
#   PYTHON               the Python to use (default: the newest python3.x >= 3.11 on PATH)
set -eu

say() { printf '%s\n' "kling-bridge: $*" >&2; }
die() { say "$*"; exit 1; }

mode=install
case "${1:-}" in
  --uninstall) mode=uninstall; shift ;;
  --purge) mode=purge; shift ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
if [ "$(uname)" = Darwin ]; then
  data="$HOME/Library/Application Support"
else
  data="${XDG_DATA_HOME:-$HOME/.local/share}"
fi
venv="${KLING_BRIDGE_VENV:-$data/kling-bridge-venv}"
bindir="$HOME/.local/bin"
link="$bindir/kling-bridge"

if [ "$mode" != install ]; then
  [ -x "$venv/bin/kling-bridge" ] || die "nothing to uninstall: no environment at $venv"
  if [ "$mode" = purge ]; then "$venv/bin/kling-bridge" uninstall --purge "$@"
  else "$venv/bin/kling-bridge" uninstall "$@"; fi
  if [ -L "$link" ] && [ "$(readlink "$link")" = "$venv/bin/kling-bridge" ]; then rm -f "$link"; fi
  if [ -f "$venv/.made-local-bin" ]; then rmdir "$bindir" 2>/dev/null || true; fi
  rm -rf "$venv"
  say "removed the environment $venv"
  exit 0
fi

# 1. Python >= 3.11
py="${PYTHON:-}"
if [ -z "$py" ]; then
  for cand in python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 &&
       "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      py="$cand"; break
    fi
  done
fi
[ -n "$py" ] || die "needs Python 3.11 or newer. Install it (Debian/Ubuntu: sudo apt install \
python3.11 python3.11-venv; Fedora: sudo dnf install python3.11; macOS: brew install \
python@3.12), then run this again (or set PYTHON=/path/to/python3.11)"
command -v "$py" >/dev/null 2>&1 || die "$py: no such program (PYTHON names the Python to use)"
"$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  die "$py is older than 3.11; set PYTHON to a Python 3.11 or newer"
"$py" -c 'import venv, ensurepip' 2>/dev/null ||
  die "$py cannot make environments (Debian/Ubuntu: sudo apt install python3-venv)"

# 2. ffmpeg (and on Linux a font, so draft slates carry words)
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  say "ffmpeg is missing: installing it"
  if command -v apt-get >/dev/null 2>&1; then
    $sudo_cmd apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq ffmpeg fonts-dejavu-core
  elif command -v dnf >/dev/null 2>&1; then
    $sudo_cmd dnf install -y ffmpeg || $sudo_cmd dnf install -y ffmpeg-free
  elif command -v brew >/dev/null 2>&1; then
    brew install ffmpeg
  else
    die "ffmpeg is missing and neither apt-get, dnf nor brew is here: install ffmpeg, then run this again"
  fi
  command -v ffmpeg >/dev/null 2>&1 || die "ffmpeg is still missing after installing it"
fi

# 3. The bridge, in its own environment
source="${KLING_BRIDGE_SOURCE:-}"
if [ -z "$source" ]; then
  if [ -f "$here/../pyproject.toml" ] && grep -q '^name = "kling-bridge"' "$here/../pyproject.toml"; then
    source=$(cd "$here/.." && pwd)
  else
    source=kling-bridge
  fi
fi
if [ ! -x "$venv/bin/python" ]; then
  say "making the environment $venv"
  mkdir -p "$(dirname "$venv")"
  "$py" -m venv "$venv"
fi
say "installing kling-bridge from $source"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade "$source" ||
  die "pip could not install $source (see above)"

# 4. The command on PATH
if [ ! -d "$bindir" ]; then mkdir -p "$bindir"; : > "$venv/.made-local-bin"; fi
if [ ! -e "$link" ] || [ -L "$link" ]; then
  ln -sfn "$venv/bin/kling-bridge" "$link"
else
  say "$link exists and is not ours: left alone; the command is $venv/bin/kling-bridge"
fi
case ":$PATH:" in
  *":$bindir:"*) ;;
  *) say "add $bindir to your PATH to type 'kling-bridge' (or run $venv/bin/kling-bridge)" ;;
esac

# 5. The service, the Resolve scripts and the Blender extension
[ $# -gt 0 ] || set -- --all
exec "$venv/bin/kling-bridge" install "$@"
