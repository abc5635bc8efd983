# One image, three binaries: marquee-api, marquee-worker, marquee-scheduler.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Queries are checked against the committed .sqlx/ data: no database here.
ENV SQLX_OFFLINE=true
RUN cargo build --release --workspace --bins

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 marquee
COPY --from=build /src/target/release/marquee-api /src/target/release/marquee-worker \
     /src/target/release/marquee-scheduler /usr/local/bin/
COPY config /etc/marquee/config
# The ticket PDFs embed DejaVu Sans; its licence travels with the binaries.
COPY workers/assets/fonts/LICENSE-DejaVu.txt /usr/share/doc/marquee/
ENV MARQUEE_CONFIG_DIR=/etc/marquee/config MARQUEE_ENV=production
USER marquee
EXPOSE 8080
CMD ["marquee-api", "serve"]
