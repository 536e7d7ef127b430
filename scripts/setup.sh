#!/usr/bin/env bash
# Create .venv from the lock file with uv and a Python 3.12 already on this machine, then make LIBERO
# usable offline. Safe to re-run: a second run installs nothing and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.9"
export UV_PYTHON_DOWNLOADS=never   # uv must never try to download an interpreter (no internet here)

find_python() {
    local candidate
    for candidate in "${VLA_PYTHON:-}" "$(command -v python3.12 || true)"; do
        if [ -n "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.|$)' | sort -rV); do
            candidate="$(pyenv prefix "$version")/bin/python3.12"
            if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
        done
    fi
    for candidate in /usr/bin/python3.12 /usr/local/bin/python3.12; do
        if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
    done
    return 1
}

if ! PYTHON="$(find_python)"; then
    cat >&2 <<'MSG'
error: no Python 3.12 found (looked at $VLA_PYTHON, python3.12 on PATH, pyenv versions, /usr/bin, /usr/local/bin).
vla needs Python 3.12 (lerobot 0.6 requires it) and uv cannot download one here. Install one, e.g.
  apt-get install python3.12 python3.12-venv      (Debian trixie / Ubuntu 24.04)
  pyenv install 3.12                              (builds from source, needs no internet beyond PyPI mirrors)
then run `make setup` again, or point VLA_PYTHON at its interpreter.
MSG
    exit 1
fi

if ! command -v uv >/dev/null 2>&1; then
    echo "installing uv ${UV_VERSION} with pip" >&2
    python3 -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}" \
        || python3 -m pip install --quiet --disable-pip-version-check --user "uv==${UV_VERSION}"
    export PATH="$HOME/.local/bin:$PATH"
fi

echo "python: $PYTHON ($("$PYTHON" --version))"
uv sync --locked --extra dev --python "$PYTHON"
.venv/bin/vla setup-libero
# robosuite 1.4's __init__ has an invalid escape that warns whenever it is compiled: compile it once here.
.venv/bin/python -W ignore -m compileall -q "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/robosuite" >/dev/null || true
echo "tiny model: $(.venv/bin/vla model build-tiny 2>/dev/null | tail -1)"
echo "setup done: activate with 'source .venv/bin/activate' or prefix commands with .venv/bin/"
