# syntax=docker/dockerfile:1
# zinit as PID 1 of a container. Pick an image with --target:
#
#   scratch       (default) glibc binary + exactly its ldd libraries, nothing else
#   scratch-musl  musl binary + ld-musl + libstdc++ + libgcc_s (needs no /proc: also for VMs)
#   alpine        musl binary on Alpine with libstdc++, for services that want a shell and apk
#
#   docker build --build-arg ZINIT_REVISION=$(git rev-parse --short HEAD) -t zinit .
#   docker buildx build --platform linux/amd64,linux/arm64 --target alpine -t zinit:alpine .
#
# Services are YAML files in /etc/zinit (COPY them in a derived image, or mount them).
# A scratch image has no shell: its services must be self-contained executables.
# `docker stop` sends SIGTERM; `init --container` stops every service in dependency order and
# exits, instead of powering off.

# The compile runs once on the builder's own platform and produces every target's binary.
FROM --platform=$BUILDPLATFORM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
# .git is not in the build context, so the revision comes from the build argument.
ARG ZINIT_REVISION=unknown
RUN ZINIT_REVISION="$ZINIT_REVISION" npm run build:release

# These two run on the target platform, so `uname -m` and `ldd` see the target's own system.
FROM debian:bookworm-slim AS glibc-root
COPY --from=build /src/dist/ /dist/
COPY build/rootfs.sh /rootfs.sh
RUN sh /rootfs.sh -b "/dist/zinit-linux-$(uname -m)" /rootfs glibc

FROM alpine:3.20 AS musl-root
RUN apk add --no-cache libstdc++
COPY --from=build /src/dist/ /dist/
COPY build/rootfs.sh /rootfs.sh
RUN sh /rootfs.sh -b "/dist/zinit-linux-$(uname -m)-musl" /rootfs musl

FROM alpine:3.20 AS alpine
RUN apk add --no-cache libstdc++ && mkdir -p /etc/zinit
COPY --from=musl-root /rootfs/sbin/zinit /sbin/zinit
# The runtime's start-up options (src/sys/runtime.ts) set here: zinit then needs no re-exec.
ENV BUN_JSC_useConcurrentJIT=0 BUN_JSC_useWarmUpMarkedBlocks=0 BUN_JSC_useConcurrentGC=0 BUN_JSC_numberOfGCMarkers=1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/sbin/zinit", "init", "--container"]

FROM scratch AS scratch-musl
COPY --from=musl-root /rootfs/ /
# The runtime's start-up options (src/sys/runtime.ts) set here: zinit then needs no re-exec.
ENV BUN_JSC_useConcurrentJIT=0 BUN_JSC_useWarmUpMarkedBlocks=0 BUN_JSC_useConcurrentGC=0 BUN_JSC_numberOfGCMarkers=1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/sbin/zinit", "init", "--container"]

FROM scratch AS scratch
COPY --from=glibc-root /rootfs/ /
# The runtime's start-up options (src/sys/runtime.ts) set here: zinit then needs no re-exec.
ENV BUN_JSC_useConcurrentJIT=0 BUN_JSC_useWarmUpMarkedBlocks=0 BUN_JSC_useConcurrentGC=0 BUN_JSC_numberOfGCMarkers=1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/sbin/zinit", "init", "--container"]
