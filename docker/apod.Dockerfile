# ringlb-apod: the demo backend (an offline APOD-shaped API), built from source.
# Needs the debian:bookworm-slim base image and Debian's package mirrors.
# Air-gapped hosts: docker/build-local-images.sh builds the same image from
# local binaries instead.
#
#   docker build -f docker/apod.Dockerfile -t ringlb/apod:0.1.0 .
ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config binutils \
      libboost-dev libssl-dev nlohmann-json3-dev libyaml-cpp-dev libxxhash-dev \
      libcli11-dev libspdlog-dev prometheus-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake --preset release -DRINGLB_BUILD_TESTS=OFF -DRINGLB_BUILD_BENCH=OFF \
 && cmake --build build/release --target ringlb-apod \
 && mkdir /out \
 && cp build/release/bin/ringlb-apod /out/ \
 && strip --strip-unneeded /out/ringlb-apod \
 && sh docker/runtime-packages.sh /out/ringlb-apod > /out/runtime-packages.txt

FROM ${DEBIAN_IMAGE}
# Only the libraries the binary loads (found with ldd in the build stage).
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && xargs -a /tmp/runtime-packages.txt apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && groupadd --system --gid 65532 ringlb \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /var/lib/ringlb \
      --shell /usr/sbin/nologin ringlb \
 && install -d -o 65532 -g 65532 /var/lib/ringlb
COPY --from=build /out/ringlb-apod /usr/local/bin/ringlb-apod
# Writable by ringlb: the operator keeps its --state-dir here by default.
WORKDIR /var/lib/ringlb
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ringlb-apod"]
