#!/usr/bin/env bash
# Installs what weir needs to build, test and run its demo, from Debian's
# packages, when it is missing. Safe to run again: it installs nothing
# when everything is there.
set -euo pipefail

pkgs=(
  gcc libc6-dev pkg-config meson ninja-build    # toolchain
  clang-format git                              # the format check
  librdkafka-dev libjansson-dev liblz4-dev libxxhash-dev   # libraries
  libjsmn-dev                                   # header-only JSON tokenizer
  libmicrohttpd-dev                             # the HTTP endpoint (job/http.c)
  check libsubunit-dev                          # unit tests
  libasan8 libubsan1 libtsan2                   # sanitizer runtimes
  kcat python3 python3-kafka                    # demo and end-to-end tests
  prometheus                                    # promtool and a real scrape in tests
  procps                                        # pkill/ps in scripts
  xxd                                           # embeds the status page
  chromium                                      # status page test (headless)
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "weir: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
