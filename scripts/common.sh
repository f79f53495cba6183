# scripts/common.sh: set-up shared by scripts/demo, scripts/test and bench/run.
#
# Installs what a bare Debian 12 machine lacks, builds and installs the
# extension, and runs a throwaway PostgreSQL cluster in a temp folder.
# initdb and pg_ctl refuse to run as root, so as root the cluster (and any
# command that needs it) runs as the postgres user.
#
# PG_MAJOR picks the PostgreSQL major version (default: the newest one
# installed, else 15, Debian 12's).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${PG_MAJOR:-}" ]; then
	# a bare machine has no /usr/lib/postgresql yet
	PG_MAJOR=$( (ls /usr/lib/postgresql 2>/dev/null || true) | sort -n | tail -n 1)
	PG_MAJOR=${PG_MAJOR:-15}
fi
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
export PATH="$PG_BIN:$PATH"	# this server's psql, pgbench and pg_dump, whatever else is installed
# the extension, and bus/ (libpq, hiredis, libcurl)
PACKAGES=(build-essential "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" libipc-run-perl
	libpq-dev libhiredis-dev libcurl4-openssl-dev pkg-config)

# Run a command as root (directly, or through sudo for a developer).
as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Run a command as the user that owns the cluster (from /tmp: the checkout
# may sit where that user cannot enter).
as_cluster_owner() {
	if [ "$(id -u)" = 0 ]; then (cd /tmp && runuser -u postgres -- "$@"); else "$@"; fi
}

# install_packages [extra package...]: apt-get install whatever is missing.
install_packages() {
	local missing=() pkg
	for pkg in "${PACKAGES[@]}" "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$pkg")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "== installing: ${missing[*]}"
		as_root apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# build_install: compile (PG_CFLAGS from the environment, as CI sets it)
# and install into the server's directories.
build_install() {
	echo "== building"
	make -C "$ROOT" -s PG_CONFIG="$PG_BIN/pg_config" PG_CFLAGS="${PG_CFLAGS:-}"
	as_root make -C "$ROOT" -s install PG_CONFIG="$PG_BIN/pg_config" >/dev/null
}

# package_install: build the Debian package from a copy of the tree and
# install it, so that the suites run against what a DBA would install.
package_install() {
	local build
	echo "== building and installing the Debian package"
	build=$(mktemp -d /tmp/allocation-deb.XXXXXX)
	mkdir "$build/src"
	tar -C "$ROOT" --exclude=.git --exclude='./build-*' -cf - . | tar -C "$build/src" -xf -
	(cd "$build/src" && make -s clean >/dev/null 2>&1; dpkg-buildpackage -us -uc -b >"$build/build.log" 2>&1) ||
		{ cat "$build/build.log"; return 1; }
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends --reinstall \
		"$build"/postgresql-"$PG_MAJOR"-allocation_*.deb >/dev/null
	dpkg-query -W -f='== installed ${Package} ${Version}\n' "postgresql-$PG_MAJOR-allocation"
	rm -rf "$build"
}

# cluster_start: initdb and start a cluster in a new temp folder, listening
# on a unix socket there and on 127.0.0.1:$PGPORT.  Exports PGHOST, PGPORT,
# PGUSER, PGDATABASE and CLUSTER_DIR.
cluster_start() {
	CLUSTER_DIR=$(mktemp -d /tmp/allocation-cluster.XXXXXX)
	chmod 755 "$CLUSTER_DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$CLUSTER_DIR"
	export CLUSTER_DIR
	export PGHOST=$CLUSTER_DIR PGPORT=${PGPORT:-54329} PGUSER=postgres PGDATABASE=postgres
	as_cluster_owner "$PG_BIN/initdb" -D "$CLUSTER_DIR/data" -U postgres -A trust \
		--no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
	as_cluster_owner "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w \
		-o "-p $PGPORT -k $CLUSTER_DIR -c listen_addresses=127.0.0.1 ${CLUSTER_OPTS:-}" \
		start >/dev/null
	trap cluster_stop EXIT
	echo "== cluster running in $CLUSTER_DIR (port $PGPORT)"
}

# cluster_stop: stop the cluster; fail if the server log shows a crash.
cluster_stop() {
	trap - EXIT
	[ -n "${CLUSTER_DIR:-}" ] || return 0
	as_cluster_owner "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null || true
	if grep -E 'terminated by signal|was terminated by exception' "$CLUSTER_DIR/server.log"; then
		echo "== the server crashed during the run; log kept in $CLUSTER_DIR/server.log"
		return 1
	fi
	rm -rf "$CLUSTER_DIR"
}
