# syntax=docker/dockerfile:1
#
# roster: build the release binary, then ship it alone on Debian slim.
#
#   docker build -t roster:0.1.0 .
#   docker run --rm -p 50051:50051 -p 9090:9090 \
#     -e ROSTER_DATABASE_URL=postgres://… -e ROSTER_JWT_SECRET=… roster:0.1.0
#
# No protoc is needed (build.rs compiles the protos with the pure-Rust protox)
# and SQLite is bundled (libsqlite3-sys "bundled"); PostgreSQL is spoken by
# tokio-postgres, so there is no libpq either. The runtime image therefore only
# needs CA certificates.

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
# `roster --version` names this commit (.git is not in the build context):
# docker build --build-arg ROSTER_GIT_COMMIT=$(git rev-parse --short=12 HEAD) .
ARG ROSTER_GIT_COMMIT=unknown
WORKDIR /src
COPY . .
# Registry and target caches survive between builds (BuildKit); the binary is
# copied out of the cached target directory before the mount goes away.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin roster \
    && install -D -m 0755 target/release/roster /out/roster

FROM ${RUNTIME_IMAGE} AS runtime
# ca-certificates is left unpinned on purpose: it must follow Debian's updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 roster \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin roster \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/roster
COPY --from=builder /out/roster /usr/local/bin/roster
# Without ROSTER_DATABASE_URL roster uses SQLite under ./roster-data: this
# directory is writable for that (development) case. With PostgreSQL nothing
# is written, so a read-only root filesystem works (the Helm chart uses one).
WORKDIR /var/lib/roster
# A container must listen on all interfaces: gRPC, and Prometheus /metrics.
ENV ROSTER_LISTEN=0.0.0.0:50051 \
    ROSTER_METRICS_LISTEN=0.0.0.0:9090
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
EXPOSE 50051 9090
ENTRYPOINT ["/usr/local/bin/roster"]
CMD ["serve"]
