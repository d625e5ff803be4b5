# shellcheck shell=bash
# Helpers for the Python SDK's scripts (gen-python.sh, test-python.sh). Source
# it after scripts/lib/common.sh; it defines functions and one variable only.

# Where the Python SDK's tools live between runs.
KILN_SDK_PY_CACHE=${KILN_SDK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln-sdk}/python
[[ $KILN_SDK_PY_CACHE == /* ]] || KILN_SDK_PY_CACHE=$PWD/$KILN_SDK_PY_CACHE

# The interpreter the virtualenvs are made from: KILN_PYTHON, else python3.
kiln_python() {
  local py=${KILN_PYTHON:-python3}
  have "$py" || die "no Python interpreter '$py' on PATH (install Python 3.11 or newer, or set KILN_PYTHON)"
  "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' ||
    die "the Python SDK needs Python 3.11 or newer; $py is $("$py" -V 2>&1) (set KILN_PYTHON)"
  "$py" -c 'import venv, ensurepip' 2>/dev/null ||
    die "$py cannot make virtualenvs (no venv/ensurepip module; on Debian: apt-get install python3-venv)"
  printf '%s\n' "$py"
}

# kiln_python_venv NAME LOCKFILE: prints the path of a virtualenv under the
# cache holding exactly the packages of LOCKFILE (pip-compile output with
# hashes), making it when missing. The folder's name carries a digest of the
# lock file and the interpreter's version, so a changed lock gets a new one.
kiln_python_venv() {
  local name=$1 lock=$2 py key venv
  [[ -f $lock ]] || die "lock file $lock is missing"
  have flock || die "flock (util-linux) is needed to install the Python SDK's tools; on Debian: apt-get install util-linux"
  py=$(kiln_python)
  key=$({ "$py" -c 'import sys; print(sys.version)' && cat "$lock"; } | sha256sum | cut -c1-16)
  venv=$KILN_SDK_PY_CACHE/$name-$key
  mkdir -p "$KILN_SDK_PY_CACHE" || die "cannot create the cache folder $KILN_SDK_PY_CACHE"
  (
    # One installer at a time per venv; a half-made venv (no .complete) is made anew.
    flock 9
    if [[ ! -f $venv/.complete ]]; then
      rm -rf "$venv"
      log "installing the pinned packages of ${lock#"$KILN_ROOT"/} into $venv"
      "$py" -m venv "$venv" >&2 || die "could not create a Python virtualenv at $venv"
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --require-hashes --no-deps -r "$lock" >&2 ||
        die "could not install the packages of $lock from PyPI into $venv"
      "$venv/bin/python" -m pip check >&2 || die "the packages of $lock do not fit together (pip check)"
      touch "$venv/.complete"
    fi
  ) 9>"$venv.lock" || exit 1
  printf '%s\n' "$venv"
}
