#!/usr/bin/env bash
# Java 17 (Kafka's JVM), Maven (resolves Kafka's jars), redis-server and promtool (Debian package prometheus).
# Installed with apt when missing and apt is there; elsewhere, says exactly what to install.
set -euo pipefail
missing=()
command -v java >/dev/null 2>&1 || missing+=("openjdk-17-jre-headless")
command -v mvn >/dev/null 2>&1 || missing+=("maven")
command -v redis-server >/dev/null 2>&1 || missing+=("redis-server")
command -v promtool >/dev/null 2>&1 || missing+=("prometheus")  # promtool: tests/deploy checks the Prometheus config and rules
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing with apt: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "Please install: ${missing[*]} (Java 17+, Apache Maven 3, Redis 7+, Prometheus' promtool), then run make again." >&2
  exit 1
fi
