#!/bin/sh
# Runs a musl build of zinit on a glibc (Debian) host, for the release smoke test:
#
#   build/musl-smoke.sh BINARY [ARGS...]
#
# The musl binary needs libstdc++.so.6 built for musl, which Debian does not ship. This links a
# throwaway one from Debian's libstdc++_pic.a with musl-gcc, holding just the C++ runtime symbols
# BINARY imports, plus stubs for the three glibc-only symbols that archive refers to. It is good
# enough to prove the artifact starts and runs its embedded app; production images take Alpine's
# libstdc++ instead (see build/rootfs.sh).
#
# Needs: apt-get install musl musl-tools libstdc++-12-pic (exit 3 when they are missing).
set -eu

[ $# -ge 1 ] || {
  echo "usage: musl-smoke.sh BINARY [ARGS...]" >&2
  exit 2
}
binary="$1"
shift
arch="$(uname -m)"
loader="/lib/ld-musl-$arch.so.1"
pic=""
for f in /usr/lib/gcc/"$arch"-linux-gnu/*/libstdc++_pic.a; do
  [ -f "$f" ] && pic="$f"
done
if [ ! -e "$loader" ] || [ -z "$pic" ] || ! command -v musl-gcc >/dev/null 2>&1; then
  echo "musl-smoke.sh: needs $loader, musl-gcc and libstdc++_pic.a (apt-get install musl musl-tools libstdc++-12-pic)" >&2
  exit 3
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/zinit-musl-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The C++ runtime symbols the binary imports, and the typeinfo vtables it copy-relocates.
readelf --dyn-syms -W "$binary" |
  awk '$8 ~ /^(_Z|__cxa|__dynamic_cast|__gxx|_Unwind)/ && ($7 == "UND" || $8 ~ /^_ZTVN10__cxxabiv1/) { sub(/@.*/, "", $8); print "-Wl,-u," $8 }' |
  sort -u >"$work/undefs"
[ -s "$work/undefs" ] || {
  echo "musl-smoke.sh: $binary imports no C++ runtime symbols: not a bun musl build?" >&2
  exit 1
}

cat >"$work/stubs.c" <<'EOF'
#include <stdint.h>
#include <sys/random.h>
char __libc_single_threaded = 0;
uint32_t arc4random(void) {
  uint32_t v = 0;
  getrandom(&v, sizeof v, 0);
  return v;
}
/* -1 makes the unwinder fall back to dl_iterate_phdr, which musl has. */
int _dl_find_object(void *pc, void *result) {
  (void)pc;
  (void)result;
  return -1;
}
EOF
# shellcheck disable=SC2046 # one -Wl,-u,<symbol> word per line, none contain spaces
musl-gcc -shared -fPIC -o "$work/libstdc++.so.6" -Wl,-soname,libstdc++.so.6 "$work/stubs.c" \
  $(cat "$work/undefs") "$pic" -lgcc -lgcc_eh

"$loader" --library-path "$work" "$binary" "$@"
