#!/bin/sh
# Installs the zinit binary for this machine, verified against the release's SHA256SUMS.
#
#   curl -fsSL https://github.com/threefoldtech/zinit/releases/latest/download/install.sh | sh
#   curl -fsSL …/install.sh | sh -s -- --run      # also start `zinit init` in the background
#
# It never stops, signals or shuts down a zinit that is already running: the new binary is
# renamed over the old path, and running processes keep the file they were started from.
# The download is about 110 MB (the binary holds the Bun runtime). On a musl system (Alpine)
# the binary needs libstdc++ and libgcc: `apk add libstdc++`.
#
# Environment:
#   ZINIT_RELEASE_URL  where the artifacts and SHA256SUMS live
#                      (default https://github.com/$ZINIT_REPO/releases/latest/download)
#   ZINIT_REPO         GitHub owner/name for the default URL (default threefoldtech/zinit)
#   PREFIX             installs to $PREFIX/bin/zinit (default /usr/local as root, else ~/.local)
#   ZINIT_OS, ZINIT_ARCH, ZINIT_LIBC
#                      override what `uname -s`, `uname -m` and the libc probe report
#                      (ZINIT_LIBC=musl|glibc; all three exist for testing and odd hosts)
#   With --run:
#   ZINIT_SOCKET       socket path (default, as zinit's own: /var/run/zinit.sock as root,
#                      else $XDG_RUNTIME_DIR/zinit.sock, else /tmp/zinit.sock)
#   ZINIT_CONFIG_DIR   service directory (default /etc/zinit as root, else ~/.config/zinit)
#   ZINIT_LOG          daemon log file (default /var/log/zinit.log as root,
#                      else ~/.local/state/zinit/zinit.log)

set -eu

say() { printf 'zinit-install: %s\n' "$*"; }
die() {
  printf 'zinit-install: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat <<'EOF'
usage: install.sh [--run]

Downloads the zinit release binary for this machine, checks it against SHA256SUMS and
installs it to $PREFIX/bin/zinit (PREFIX defaults to /usr/local for root, ~/.local otherwise).

  --run    afterwards start `zinit init` in the background unless a zinit already answers
           on the socket, and print the socket path
EOF
}

RUN=0
for arg in "$@"; do
  case "$arg" in
    --run) RUN=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument '$arg' (try --help)" ;;
  esac
done

os="${ZINIT_OS:-$(uname -s)}"
[ "$os" = "Linux" ] || die "zinit runs on Linux only; this system reports '$os'"

machine="${ZINIT_ARCH:-$(uname -m)}"
case "$machine" in
  x86_64 | amd64) arch=x86_64 ;;
  aarch64 | arm64) arch=aarch64 ;;
  *) die "unsupported CPU architecture '$machine' (zinit is built for x86_64 and aarch64)" ;;
esac

detect_libc() {
  if ldd --version 2>&1 | grep -qi musl; then
    echo musl
    return
  fi
  for loader in /lib/ld-musl-*; do
    if [ -e "$loader" ] && [ ! -e /lib64/ld-linux-x86-64.so.2 ] && [ ! -e /lib/ld-linux-aarch64.so.1 ]; then
      echo musl
      return
    fi
  done
  echo glibc
}
libc="${ZINIT_LIBC:-$(detect_libc)}"
case "$libc" in
  glibc) artifact="zinit-linux-$arch" ;;
  musl) artifact="zinit-linux-$arch-musl" ;;
  *) die "ZINIT_LIBC must be 'glibc' or 'musl', not '$libc'" ;;
esac

# The musl build loads libstdc++ and libgcc_s at start-up, and Alpine does not install them by
# default. Checked before the download, where this machine's musl loader shows where it would
# look: the loader's path file if there is one, else musl's default path.
musl_missing_libs() {
  [ -e "/lib/ld-musl-$arch.so.1" ] || return 0
  if [ -r "/etc/ld-musl-$arch.path" ]; then
    dirs="$(tr ':\n' '  ' <"/etc/ld-musl-$arch.path")"
  else
    dirs="/lib /usr/local/lib /usr/lib"
  fi
  dirs="$(printf '%s' "${LD_LIBRARY_PATH:-}" | tr ':' ' ') $dirs"
  for lib in libstdc++.so.6 libgcc_s.so.1; do
    found=0
    for dir in $dirs; do
      if [ -e "$dir/$lib" ]; then
        found=1
        break
      fi
    done
    [ "$found" -eq 1 ] || printf ' %s' "$lib"
  done
}
alpine_hint="on Alpine: apk add libstdc++"
if [ "$libc" = musl ]; then
  missing="$(musl_missing_libs)"
  [ -z "$missing" ] ||
    die "$artifact needs libstdc++ and libgcc (not found:$missing); $alpine_hint, then run this again; nothing was downloaded"
fi

if [ "$(id -u)" -eq 0 ]; then
  root=1
  prefix="${PREFIX:-/usr/local}"
else
  root=0
  [ -n "${HOME:-}" ] || die "HOME is not set; set PREFIX to choose where zinit goes"
  prefix="${PREFIX:-$HOME/.local}"
fi
bindir="$prefix/bin"
target="$bindir/zinit"

base_url="${ZINIT_RELEASE_URL:-https://github.com/${ZINIT_REPO:-threefoldtech/zinit}/releases/latest/download}"
base_url="${base_url%/}"

if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --proto '=https,http' -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q -O "$2" "$1"; }
else
  die "neither curl nor wget is installed"
fi

if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
else
  die "neither sha256sum nor shasum is installed; refusing to install an unverified binary"
fi

workdir=""
staged=""
cleanup() {
  [ -z "$staged" ] || rm -f "$staged"
  [ -z "$workdir" ] || rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
workdir="$(mktemp -d "${TMPDIR:-/tmp}/zinit-install.XXXXXX")" || die "cannot create a temporary directory"

say "downloading $artifact (about 110 MB) from $base_url"
fetch "$base_url/SHA256SUMS" "$workdir/SHA256SUMS" || die "could not download $base_url/SHA256SUMS"
fetch "$base_url/$artifact" "$workdir/$artifact" || die "could not download $base_url/$artifact"

# sha256sum writes "<hash>  <name>", or "<hash> *<name>" in binary mode.
expected="$(awk -v f="$artifact" '$2 == f || $2 == "*" f { print tolower($1); exit }' "$workdir/SHA256SUMS")"
[ -n "$expected" ] || die "SHA256SUMS from $base_url has no entry for $artifact"
actual="$(sha256 "$workdir/$artifact" | tr 'A-F' 'a-f')"
[ "$actual" = "$expected" ] ||
  die "checksum mismatch for $artifact: expected $expected, got $actual (truncated or corrupted download); nothing was installed"

mkdir -p "$bindir" || die "cannot create $bindir"
# Staged in the target directory so the final mv is a rename on one filesystem: atomic.
staged="$(mktemp "$bindir/.zinit.XXXXXX")" || die "cannot write to $bindir"
cp "$workdir/$artifact" "$staged" || die "cannot write to $bindir"
chmod 0755 "$staged"
if ! version="$("$staged" --version 2>&1)"; then
  # A missing library makes the loader print one line, then one per symbol (some 40): the first.
  first="$(printf '%s\n' "$version" | head -n 1)"
  case "$version" in
    *libstdc++* | *libgcc_s*)
      die "the downloaded $artifact cannot start: $first; $alpine_hint; nothing was installed"
      ;;
  esac
  die "the downloaded $artifact does not run on this machine: $first; nothing was installed"
fi
case "$version" in
  zinit\ *) ;;
  *) die "the downloaded $artifact printed '$version' instead of a zinit version; nothing was installed" ;;
esac
mv -f "$staged" "$target" || die "cannot move the new binary to $target"
staged=""

installed="$("$target" --version 2>&1)" || die "$target --version failed after install: $installed"
say "installed $installed to $target"
case ":${PATH:-}:" in
  *":$bindir:"*) ;;
  *) say "note: $bindir is not in your PATH" ;;
esac

[ "$RUN" -eq 1 ] || exit 0

if [ "$root" -eq 1 ]; then
  state_dir=/var/log
  socket="${ZINIT_SOCKET:-/var/run/zinit.sock}"
  config_dir="${ZINIT_CONFIG_DIR:-/etc/zinit}"
else
  state_dir="$HOME/.local/state/zinit"
  # The same default as the zinit client, so a plain `zinit list` finds this daemon.
  if [ -n "${XDG_RUNTIME_DIR:-}" ] && [ -d "$XDG_RUNTIME_DIR" ]; then
    socket="${ZINIT_SOCKET:-${XDG_RUNTIME_DIR%/}/zinit.sock}"
  else
    socket="${ZINIT_SOCKET:-/tmp/zinit.sock}"
  fi
  config_dir="${ZINIT_CONFIG_DIR:-$HOME/.config/zinit}"
fi
logfile="${ZINIT_LOG:-$state_dir/zinit.log}"

if "$target" -s "$socket" list >/dev/null 2>&1; then
  say "a zinit is already running on $socket; not starting another"
  printf '%s\n' "$socket"
  exit 0
fi

mkdir -p "$config_dir" "$(dirname "$socket")" "$(dirname "$logfile")" ||
  die "cannot create the directories for $config_dir, $socket and $logfile"
# A session of its own and /dev/null as stdin: under `curl | sh`, stdin is the script itself,
# and the daemon must outlive this shell and its terminal.
if command -v setsid >/dev/null 2>&1; then
  setsid nohup "$target" -s "$socket" init -c "$config_dir" </dev/null >>"$logfile" 2>&1 &
else
  nohup "$target" -s "$socket" init -c "$config_dir" </dev/null >>"$logfile" 2>&1 &
fi
pid=$!

# kill -0 succeeds on a zombie, and the daemon stays one until this shell exits.
alive() {
  [ -r "/proc/$pid/stat" ] && ! grep -q ') Z ' "/proc/$pid/stat" 2>/dev/null
}
tries=0
until "$target" -s "$socket" list >/dev/null 2>&1; do
  if ! alive || [ "$tries" -ge 100 ]; then
    tail -n 20 "$logfile" >&2 2>/dev/null || true
    die "zinit init did not come up on $socket; see $logfile"
  fi
  tries=$((tries + 1))
  sleep 0.1 2>/dev/null || sleep 1
done
say "started zinit init (pid $pid, services in $config_dir), logging to $logfile"
printf '%s\n' "$socket"
