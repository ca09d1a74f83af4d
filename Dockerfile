# Multi-stage build of the shopflow binary (all contexts; choose with SHOPFLOW_CONTEXTS).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/shopflow ./cmd/shopflow

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/shopflow /usr/local/bin/shopflow
EXPOSE 8080
USER nonroot
ENTRYPOINT ["/usr/local/bin/shopflow"]
CMD ["serve"]
