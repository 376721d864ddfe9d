#!/usr/bin/env bash
# Installs the Debian packages the tests and the local stack need, only when one is missing
# (Redis: the shared rate limit's tests).
# Concurrent first-time runs (two `make serve-*` at once) take turns on a lock instead of
# colliding on apt; the one that waited finds everything installed and exits.
set -euo pipefail

LOCK=/tmp/movie-gpt-system-deps.lock

fonts_present() {  # the package's own record first: fontconfig's view can lag behind its cache
    [[ $(dpkg-query -W -f='${db:Status-Status}' fonts-noto-cjk 2>/dev/null) == installed ]] && return
    # fc-list's whole output is read before matching: under pipefail, `fc-list | grep -q` fails
    # whenever grep exits at the first match and fc-list dies writing to the closed pipe.
    local fonts
    fonts=$(fc-list :lang=ko family 2>/dev/null || true)
    [[ $fonts == *"Noto Sans CJK"* ]]
}

missing() {  # sets `need` to the packages not installed
    need=()
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
    command -v chromium >/dev/null || need+=(chromium)
    fonts_present || need+=(fonts-noto-cjk)
    command -v wrk >/dev/null || need+=(wrk)
    command -v redis-server >/dev/null || need+=(redis-server)
}

missing
[ ${#need[@]} -eq 0 ] && exit 0

exec 9>>"$LOCK"
flock 9
missing  # again: another run may have installed them while this one waited
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
