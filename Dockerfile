# syntax=docker/dockerfile:1
# The Maestro server (`maestro serve`) over the embedded SQLite store, as a small image
# that runs as a non-root user with its database on the /data volume.
#
#   docker build -t maestro .
#   docker run -d -p 127.0.0.1:3000:3000 -e MAESTRO_TOKEN=<secret> -v maestro-data:/data maestro
#
# docs/deploy.md covers the compose file, scripts/deploy.sh and scripts/rollback.sh, and
# .env.example lists every setting.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY . .
# The same build command scripts/test-deploy runs, so CI compiles what ships.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release -p maestro-cli --locked \
    && install -m 0755 target/release/maestro /usr/local/bin/maestro

FROM debian:${DEBIAN_RELEASE}-slim
RUN useradd --system --no-log-init --uid 10001 --user-group --home-dir /data \
        --shell /usr/sbin/nologin maestro \
    && mkdir -p /data \
    && chown maestro:maestro /data
COPY --from=build /usr/local/bin/maestro /usr/local/bin/maestro
COPY --chmod=0755 scripts/healthcheck.sh /usr/local/bin/maestro-healthcheck
ENV MAESTRO_HOME=/data \
    MAESTRO_DB=/data/maestro.db \
    HOME=/data \
    RUST_LOG=info
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["maestro-healthcheck", "127.0.0.1:3000"]
# Binding 0.0.0.0 needs a token: pass MAESTRO_TOKEN, or the server refuses to start.
ENTRYPOINT ["maestro"]
CMD ["serve", "--addr", "0.0.0.0:3000", "--log-format", "json"]
