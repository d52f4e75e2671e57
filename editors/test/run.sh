#!/bin/sh
# Checks the Flow TextMate grammar against the example programs (CI entry point).
set -e
cd "$(dirname "$0")" && npm ci --no-audit --no-fund --silent && npm test
