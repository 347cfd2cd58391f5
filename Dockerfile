# syntax=docker/dockerfile:1
# One image holds every Hookline binary; the container's command picks one:
# `producer`, `router`, `dispatcher` or `hookctl` (the default, which
# prints its help). Each service binary also answers `<binary> healthcheck
# [--ready]` for the container engine, since the image has no shell.
#
#   docker build --build-arg VERSION=v1.2.3 -t hookline:v1.2.3 .
#
# Each binary is built from its own module (GOWORK=off, the local replace
# directives find the siblings), so only the binaries' dependencies are
# downloaded, in a layer that changes only with the go.mod and go.sum files.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly
COPY schemas/go.mod schemas/go.sum schemas/
COPY platform/go.mod platform/go.sum platform/
COPY producer/go.mod producer/go.sum producer/
COPY router/go.mod router/go.sum router/
COPY dispatcher/go.mod dispatcher/go.sum dispatcher/
COPY hookctl/go.mod hookctl/go.sum hookctl/
RUN --mount=type=cache,target=/go/pkg/mod \
    for m in producer router dispatcher hookctl; do (cd "$m" && go mod download) || exit 1; done
COPY schemas/ schemas/
COPY platform/ platform/
COPY producer/ producer/
COPY router/ router/
COPY dispatcher/ dispatcher/
COPY hookctl/ hookctl/
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    for b in producer router dispatcher hookctl; do \
      pkg="github.com/hookline/hookline/$b/app"; \
      [ "$b" = hookctl ] && pkg="github.com/hookline/hookline/hookctl/internal/cli"; \
      (cd "$b" && go build -trimpath -ldflags "-s -w -X $pkg.Version=$VERSION" -o "/out/$b" "./cmd/$b") || exit 1; \
    done

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=""
LABEL org.opencontainers.image.title="hookline" \
      org.opencontainers.image.description="Kafka-backed webhook delivery: producer API, router, dispatcher and the hookctl CLI" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/ /usr/local/bin/
USER nonroot
# producer API, and the ops servers (/metrics, /healthz, /readyz) of the
# producer, router and dispatcher.
EXPOSE 8080 9101 9102 9103
ENTRYPOINT []
CMD ["hookctl", "--help"]
