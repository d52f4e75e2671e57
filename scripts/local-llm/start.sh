#!/usr/bin/env bash
# Starts the local LLM server (SmolLM2-135M-Instruct on llama.cpp, OpenAI-compatible API on 127.0.0.1).
# Installs it first if needed (install.sh), then runs serve.py in its virtual environment:
#   scripts/local-llm/start.sh --port 8089 [--ctx 2048] [--parallel 1] [--threads 2]
# Prints `ready http://127.0.0.1:PORT` on stdout once the server answers; stops on SIGTERM or SIGINT.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"
llm_home="${FLOW_LLM_HOME:-$repo_root/target/local-llm}"

"$script_dir/install.sh"
exec "$llm_home/venv/bin/python" -u "$script_dir/serve.py" "$@"
