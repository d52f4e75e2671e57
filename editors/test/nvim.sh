#!/bin/sh
# End-to-end test of `flowc lsp` through a real headless Neovim and its
# built-in LSP client: editors/test/nvim/session.lua drives the session on
# editors/test/nvim/session.in (a Flow file) and prints one "ok ..." line per check.
# Exits non-zero if any check fails (or the session takes over 60 s).
#
# The server binary: $FLOWC, else target/debug/flowc of this repository.
# Installs Neovim from the distribution's packages (apt-get) when `nvim` is
# missing; the script is written for Neovim 0.7 (Debian 12) and later.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
FLOWC=${FLOWC:-$repo/target/debug/flowc}
export FLOWC

if [ ! -x "$FLOWC" ]; then
  echo "nvim lsp session: no server binary at $FLOWC (build it with \`cargo build -p flowc\` or set FLOWC)" >&2
  exit 1
fi

if ! command -v nvim >/dev/null 2>&1; then
  sudo=
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq neovim >/dev/null 2>&1 || {
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq neovim >/dev/null
  }
fi

nvim --version | head -n 1
# `nvim -l` only exists from 0.9 on; `-c luafile` works on 0.7 as well.
timeout 60 nvim --headless --clean -c "luafile $here/nvim/session.lua" </dev/null
