#!/bin/sh
# Assembles the file tree of a minimal zinit image (FROM scratch) into DEST:
#
#   /sbin/zinit          the compiled binary (never stripped: that would drop the embedded app)
#   /etc/zinit/          service files, copied from -c DIR, else empty
#   /proc /dev /tmp /run mount points; /var/run -> ../run for the default socket
#   glibc: exactly the libraries `ldd /sbin/zinit` lists, at the paths it lists
#   musl:  /lib/ld-musl-<arch>.so.1 (+ libc.musl-<arch>.so.1 link), libstdc++.so.6, libgcc_s.so.1,
#          taken from this machine: run it on Alpine after `apk add libstdc++` (the Dockerfile's
#          musl stage does); Debian has no musl libstdc++.
#
# usage: build/rootfs.sh [-b BINARY] [-c CONFIG_DIR] DEST [glibc|musl]
#   BINARY defaults to dist/zinit (glibc) or dist/zinit-linux-<uname -m>-musl (musl).
#
# The glibc tree needs /proc mounted at run time (container runtimes do that); without it the
# binary aborts before any JS runs. The musl tree runs without /proc.
set -eu

die() {
  printf 'rootfs.sh: error: %s\n' "$*" >&2
  exit 1
}

root="$(cd -- "$(dirname -- "$0")/.." && pwd)"
binary=""
config=""
while getopts b:c:h opt; do
  case "$opt" in
    b) binary="$OPTARG" ;;
    c) config="$OPTARG" ;;
    h)
      awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"
      exit 0
      ;;
    *) die "usage: rootfs.sh [-b BINARY] [-c CONFIG_DIR] DEST [glibc|musl]" ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  die "usage: rootfs.sh [-b BINARY] [-c CONFIG_DIR] DEST [glibc|musl]"
fi
dest="$1"
libc="${2:-glibc}"
arch="$(uname -m)"

case "$libc" in
  glibc) : "${binary:=$root/dist/zinit}" ;;
  musl) : "${binary:=$root/dist/zinit-linux-$arch-musl}" ;;
  *) die "libc must be 'glibc' or 'musl', not '$libc'" ;;
esac
[ -f "$binary" ] || die "binary $binary does not exist (run npm run build or npm run build:release)"
[ -z "$config" ] || [ -d "$config" ] || die "config directory $config does not exist"

# Copies a file to the same absolute path under DEST, following symlinks.
place() {
  mkdir -p "$dest$(dirname -- "$2")"
  cp -L "$1" "$dest$2" || die "cannot copy $1 to $dest$2"
}

mkdir -p "$dest/sbin" "$dest/etc/zinit" "$dest/proc" "$dest/dev" "$dest/run" "$dest/tmp" "$dest/var"
chmod 1777 "$dest/tmp"
# zinit's default socket as root is /var/run/zinit.sock.
[ -e "$dest/var/run" ] || ln -s ../run "$dest/var/run"
cp "$binary" "$dest/sbin/zinit"
chmod 0755 "$dest/sbin/zinit"
if [ -n "$config" ]; then
  cp -R "$config/." "$dest/etc/zinit/"
fi

case "$libc" in
  glibc)
    libs="$(ldd "$binary")" || die "ldd $binary failed: is it a glibc binary for $arch?"
    case "$libs" in
      *"not found"*) die "ldd $binary: missing libraries:
$libs" ;;
    esac
    # "name => /path (addr)", "/path (addr)" for the loader, "linux-vdso.so.1 (addr)" for the vDSO.
    printf '%s\n' "$libs" | awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }' |
      while read -r lib; do
        place "$lib" "$lib"
      done
    ;;
  musl)
    loader="/lib/ld-musl-$arch.so.1"
    [ -f "$loader" ] || die "$loader not found: run this on Alpine (or another musl system)"
    place "$loader" "$loader"
    ln -sf "ld-musl-$arch.so.1" "$dest/lib/libc.musl-$arch.so.1"
    for lib in libstdc++.so.6 libgcc_s.so.1; do
      found=""
      for dir in /usr/lib /lib /usr/local/lib; do
        if [ -e "$dir/$lib" ]; then
          found="$dir/$lib"
          break
        fi
      done
      [ -n "$found" ] || die "$lib not found in /usr/lib, /lib or /usr/local/lib (Alpine: apk add libstdc++)"
      place "$found" "/usr/lib/$lib"
    done
    ;;
esac
