#!/bin/sh
# SPDX-License-Identifier: ISC
#
# build.sh: the quick start. On a fresh Debian 12 machine it installs the
# build dependencies that are missing, configures and builds copilot-gw,
# then runs it or its tests.
#
#   ./build.sh serve [ARGS]   build, then run `copilot-gw serve ARGS`
#   ./build.sh test [REGEX]   build, then run every test (or those matching)
#   ./build.sh build          build only
#   ./build.sh deps           install the missing Debian packages only
#
# Environment: GW_SANITIZE=asan|tsan builds with AddressSanitizer+UBSan or
# ThreadSanitizer into build-asan/ or build-tsan/; BUILD_DIR overrides the
# build directory; JOBS the parallelism (default: number of CPUs).
set -eu

cd "$(dirname "$0")"
SRC=$(pwd)

PACKAGES="build-essential cmake pkg-config libuv1-dev libcurl4-openssl-dev \
libjson-c-dev libsqlite3-dev libncurses-dev libhttp-parser-dev libssl-dev \
python3 curl"
TEST_PACKAGES="mandoc sqlite3"

log() { printf 'build.sh: %s\n' "$*" >&2; }

deps() {
	missing=""
	for p in $PACKAGES ${1:-}; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q "ok installed"; then
			missing="$missing $p"
		fi
	done
	[ -z "$missing" ] && return 0
	log "installing:$missing"
	if [ "$(id -u)" = 0 ]; then
		SUDO=""
	elif command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		log "missing packages:$missing; install them as root"
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

build() {
	case "${GW_SANITIZE:-}" in
	"")	dir=${BUILD_DIR:-build}; opts="" ;;
	asan)	dir=${BUILD_DIR:-build-asan}
		opts="-DGW_ASAN=ON -DGW_UBSAN=ON -DCMAKE_BUILD_TYPE=Debug" ;;
	tsan)	dir=${BUILD_DIR:-build-tsan}
		opts="-DGW_TSAN=ON -DCMAKE_BUILD_TYPE=Debug" ;;
	*)	log "GW_SANITIZE must be asan or tsan"; exit 2 ;;
	esac
	werror=OFF
	[ "${CI:-}" = true ] && werror=ON
	# shellcheck disable=SC2086
	cmake -S "$SRC" -B "$dir" -DGW_WERROR=$werror $opts >/dev/null
	cmake --build "$dir" -j "${JOBS:-$(nproc)}"
	BUILD=$dir
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
deps)
	deps "$TEST_PACKAGES"
	;;
build)
	deps
	build
	;;
serve)
	deps
	build
	log "starting $BUILD/copilot-gw serve $*"
	exec "$BUILD/copilot-gw" serve "$@"
	;;
test)
	deps "$TEST_PACKAGES"
	build
	cd "$BUILD"
	if [ $# -gt 0 ]; then
		exec ctest --output-on-failure -j "${JOBS:-$(nproc)}" -R "$1"
	fi
	exec ctest --output-on-failure -j "${JOBS:-$(nproc)}"
	;;
*)
	sed -n '4,16s/^# \{0,1\}//p' "$0" >&2
	exit 2
	;;
esac
