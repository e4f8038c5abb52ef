#!/usr/bin/env bash
# Installs what ferry needs on Debian 12 and builds it (release; and the ASan+UBSan build with
# FERRY_ASAN=1). Safe to run again: apt-get and cmake only do what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential g++ cmake ninja-build pkg-config git
  libboost1.74-dev libboost-system1.74-dev libssl-dev libsodium-dev libcli11-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  # QUIC on the punched UDP socket: ngtcp2 0.12 with GnuTLS
  libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev
  # port mapping: UPnP-IGD and NAT-PMP clients
  libminiupnpc-dev libnatpmp-dev
  python3 iproute2 nftables conntrack procps util-linux
  # ferry serve's tests: certificates to serve and reload, its systemd unit checked
  openssl systemd
  openssh-server openssh-client iperf3 time
  # ferry serve --redis: a cluster's shared state (hiredis parses replies); the tests' Redis and
  # load balancer
  redis-server libhiredis-dev haproxy
  # the network lab's real routers and proxies (HTTP CONNECT: tinyproxy; SOCKS5: microsocks;
  # the office proxy that intercepts TLS and refuses upgrades: squid-openssl's ssl-bump)
  miniupnpd-nftables miniupnpc stun-server tinyproxy microsocks squid-openssl
  # the lab's delay: iptables-nft's NFQUEUE target and a daemon on libnetfilter-queue
  iptables libnetfilter-queue-dev
  # STUN interop peers: the classic stun client, and coturn as a modern STUN server
  stun-client coturn
  # the browser page's tests: Debian's Chromium, driven by playwright-core from npm (certutil
  # puts the office proxy's CA in its NSS store)
  chromium libnss3-tools
  # QR codes of links (libqrencode), decoded back by the tests (zbarimg)
  libqrencode-dev zbar-tools
  # the package: man pages from scdoc sources, a .deb by CPack, completions checked in bash
  scdoc dpkg-dev man-db bash-completion
  # coverage-guided fuzzing (libFuzzer) and clang-tidy: clang 16 compiles libstdc++ 12's <expected>
  clang-16 clang-tidy-16 libclang-rt-16-dev
  # magic-wormhole interop: Debian's client, mailbox server and transit relay are the peers the
  # tests run against (and python3-spake2 printed tests/data/wormhole_vectors.json); zlib/minizip
  # read the zip a wormhole directory arrives as
  magic-wormhole python3-magic-wormhole-mailbox-server magic-wormhole-transit-relay
  zlib1g-dev libminizip-dev
  # WebRTC data channels to browser pages (net/webrtc.hpp): ICE and SCTP
  libnice-dev libusrsctp-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "Installing: ${missing[*]}"
  $SUDO apt-get update -qq
  # Keep package scripts from starting services (sshd) on machines without systemd.
  if [ ! -e /usr/sbin/policy-rc.d ] && [ "$(id -u)" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Node.js and npm for the web page (the machine's own Node when it has one, else Debian's).
if ! command -v npm >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
# The page and its libraries, pinned by web/package-lock.json, bundled into web/dist, which the
# build embeds into the ferry binary.
(cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent >/dev/null)

cmake --preset release >/dev/null
cmake --build --preset release
if [ "${FERRY_ASAN:-0}" = 1 ]; then
  cmake --preset asan >/dev/null
  cmake --build --preset asan
fi
