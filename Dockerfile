# syntax=docker/dockerfile:1
# Build: templ generate (with the version pinned by go.mod's tool line),
# then a static binary. Run: distroless, non-root, the binary as
# ENTRYPOINT so that Fly's release_command "migrate" keeps it.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN go tool templ generate \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/atum-console .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/atum-console /atum-console
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/atum-console"]
CMD ["serve"]
