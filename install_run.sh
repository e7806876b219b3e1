#!/bin/sh
# Installs zinit and starts `zinit init` in the background: `install.sh --run`.
# Works from a checkout (uses the install.sh beside it) and piped (`curl … | sh`), where it
# fetches install.sh from the same release as the binaries.
set -eu

here="$(dirname -- "$0")"
if [ -f "$here/install.sh" ]; then
  exec sh "$here/install.sh" --run "$@"
fi

base_url="${ZINIT_RELEASE_URL:-https://github.com/${ZINIT_REPO:-threefoldtech/zinit}/releases/latest/download}"
script="$(mktemp "${TMPDIR:-/tmp}/zinit-install.XXXXXX")"
trap 'rm -f "$script"' EXIT
if command -v curl >/dev/null 2>&1; then
  curl -fsSL -o "$script" "${base_url%/}/install.sh"
elif command -v wget >/dev/null 2>&1; then
  wget -q -O "$script" "${base_url%/}/install.sh"
else
  echo "zinit-install: error: neither curl nor wget is installed" >&2
  exit 1
fi
sh "$script" --run "$@"
