# Builds every Hookline binary into one small image. Pick the binary with
# the container command: `producer`, `router`, `dispatcher` or `hookctl`.
FROM golang:1.26 AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 make build

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/ /usr/local/bin/
USER nonroot
ENTRYPOINT []
