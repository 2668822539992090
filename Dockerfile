# sluice as a container: a static binary on distroless, running as nonroot.
#
#   docker build -t sluice .
#   docker run -p 8080:8080 --env-file sluice.env sluice
#
# Meant for store.type s3 and ledger.type postgres (docs/deploy.md): the
# instance is then stateless and /data holds nothing that must survive.
# The embedded defaults also run (the volume keeps their files), but their
# S3 listener must then be published too (SLUICE_S3_ADDR=0.0.0.0:8081 and
# SLUICE_PUBLIC_S3_URL).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# modernc SQLite is pure Go: no cgo, so the binary is fully static and
# needs no libc in the final image.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/sluice ./cmd/sluice \
 && mkdir -p /out/data

# distroless/static: CA certificates (for the store, the database and the
# issuers' JWKS over TLS) and tzdata; no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sluice /usr/local/bin/sluice
# The data directory belongs to the nonroot user (65532); sluice keeps it
# 0700 and its secrets 0600.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV SLUICE_DATA=/data \
    SLUICE_ADDR=0.0.0.0:8080 \
    SLUICE_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/data"]
# No HEALTHCHECK: there is no shell or curl in the image. Probe
# GET /healthz (liveness) and GET /readyz (readiness) from the orchestrator.
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["serve"]
