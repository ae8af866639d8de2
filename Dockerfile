# The driver image, for machines with a container engine:
#   docker build --build-arg VERSION=v0.1.0 -t ghcr.io/cinder-csi/cinder-csi-driver:v0.1.0 .
# Without one (no daemon, no registry), `make image` builds the same image from the same
# package list with debootstrap: test/images/build.sh, deploy/image/README.md.
ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
# Only what the binary is built from (the driver imports nothing outside pkg/).
COPY cmd ./cmd
COPY pkg ./pkg
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/csi-driver ./cmd/csi-driver

FROM ${BASE_IMAGE}
# The executables the driver runs (deploy/image/executables.txt) and CA certificates.
# open-iscsi's postinst writes a random initiator name that every node would share:
# nodes mount their own /etc/iscsi. udev's hardware database serves the host's udevd,
# not the udevadm trigger the container runs.
COPY deploy/image/packages.txt /tmp/packages.txt
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      $(sed -e 's/#.*//' /tmp/packages.txt) \
 && rm -rf /var/lib/apt/lists/* /tmp/packages.txt \
      /etc/iscsi/initiatorname.iscsi /usr/lib/udev/hwdb.bin /etc/udev/hwdb.bin
COPY --from=build /out/csi-driver /usr/local/bin/csi-driver
ENTRYPOINT ["/usr/local/bin/csi-driver"]
