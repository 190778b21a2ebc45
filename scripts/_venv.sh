# shellcheck shell=bash
# Sourced by scripts/test and scripts/demo: create or reuse the project's
# virtualenv (.venv in the repository root) and install the project into it
# with its test extras. Not meant to be run directly.
#
# After sourcing, REPO_ROOT is the repository root and VENV_PYTHON is the
# virtualenv's interpreter. The working directory is left as it was.
#
# Environment:
#   PYTHON        interpreter to build the virtualenv with (default: python3)
#   MPCHECK_VENV  virtualenv directory (default: <repo>/.venv)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_python="${PYTHON:-python3}"
_venv="${MPCHECK_VENV:-$REPO_ROOT/.venv}"
VENV_PYTHON="$_venv/bin/python"

_log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

if ! command -v "$_python" >/dev/null 2>&1; then
    _log "error: '$_python' not found; install Python 3.10 or newer (or set PYTHON=...)"
    exit 2
fi
if ! "$_python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    _log "error: $("$_python" -V 2>&1) is too old or broken; Python 3.10 or newer is needed"
    exit 2
fi

_want_version="$("$_python" -c 'import sys; print(sys.version)')"

# Reuse the virtualenv only if it works and was made by the same interpreter
# version; otherwise build it anew.
if [[ -x "$VENV_PYTHON" ]] \
    && [[ "$("$VENV_PYTHON" -c 'import sys; print(sys.version)' 2>/dev/null)" == "$_want_version" ]] \
    && "$VENV_PYTHON" -m pip --version >/dev/null 2>&1; then
    :
else
    if [[ -e "$_venv" && ! -f "$_venv/pyvenv.cfg" ]]; then
        _log "error: $_venv exists and is not a virtualenv; move it away"
        exit 2
    fi
    _log "creating virtualenv $_venv with $("$_python" -V 2>&1)"
    rm -rf "$_venv"
    "$_python" -m venv "$_venv"
fi

# Install (editable, so source edits need no reinstall) only when the
# packaging metadata or this install step changed since the last success.
_spec="${REPO_ROOT}[test]"
_stamp="$_venv/.pytest-mpcheck-installed"
_fingerprint="$(
    {
        printf '%s\n' "$_spec" "$_want_version"
        cat "$REPO_ROOT/pyproject.toml" "${BASH_SOURCE[0]}"
    } | "$_python" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
)"
if [[ ! -f "$_stamp" ]] || [[ "$(cat "$_stamp")" != "$_fingerprint" ]] \
    || ! "$VENV_PYTHON" -c 'import importlib.metadata as m; m.version("pytest-mpcheck")' \
        >/dev/null 2>&1; then
    _log "installing pytest-mpcheck and its test dependencies into $_venv"
    rm -f "$_stamp"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV_PYTHON" -m pip install --quiet --editable "$_spec"
    printf '%s\n' "$_fingerprint" >"$_stamp"
fi

unset _python _venv _want_version _spec _stamp _fingerprint
