#!/usr/bin/env bash
# System packages, installed with apt when missing and apt is there; elsewhere, says exactly what to install.
#   run:  Java 17 (Kafka's JVM), Maven (resolves Kafka's jars), redis-server
#   test: the above, plus promtool (Debian package prometheus: checks the Prometheus config and rules)
#         and Chromium with its driver (the dashboard's real-browser test)
set -euo pipefail
profile="${1:-run}"
missing=()
command -v java >/dev/null 2>&1 || missing+=("openjdk-17-jre-headless")
command -v mvn >/dev/null 2>&1 || missing+=("maven")
command -v redis-server >/dev/null 2>&1 || missing+=("redis-server")
if [ "$profile" = "test" ]; then
  command -v promtool >/dev/null 2>&1 || missing+=("prometheus")
  command -v chromium >/dev/null 2>&1 || missing+=("chromium")
  command -v chromedriver >/dev/null 2>&1 || missing+=("chromium-driver")
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing with apt: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "Please install: ${missing[*]} (Java 17+, Apache Maven 3, Redis 7+; for tests also Prometheus' promtool, Chromium and chromedriver), then run make again." >&2
  exit 1
fi
