#!/usr/bin/env bash
# Installs the Debian packages the dev stack (internal/devstack) needs:
# PostgreSQL 15, PgBouncer and Redis, and with --browser (the tests) also
# Chromium, Prometheus and Alertmanager, and Debian's Python with psycopg,
# pytest, setuptools, wheel and venv for the platform agent (platform/python),
# which --python alone installs too.
#
# Usage: scripts/install-deps.sh [--browser] [--python]
#
# Quiet and idempotent when everything is present. As root, installs what is
# missing with apt-get; otherwise prints the packages to install and exits 1.
# Never starts a service: devstack runs the binaries itself.
set -euo pipefail

browser=0
python=0
for arg in "$@"; do
	case "$arg" in
	--browser) browser=1 python=1 ;;
	--python) python=1 ;;
	-h | --help)
		sed -n '2,12s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*)
		echo "install-deps.sh: unknown argument: $arg" >&2
		exit 2
		;;
	esac
done

# have BINARY DIR... succeeds when BINARY is executable in one of the DIRs
# or on PATH.
have() {
	local bin=$1 dir
	shift
	for dir in "$@"; do
		[[ -x "$dir/$bin" ]] && return 0
	done
	command -v "$bin" >/dev/null 2>&1
}

missing=()
if [[ ! -x /usr/lib/postgresql/15/bin/initdb || ! -x /usr/lib/postgresql/15/bin/postgres ]]; then
	missing+=(postgresql-15 postgresql-client-15)
fi
have pgbouncer /usr/sbin || missing+=(pgbouncer)
have redis-server /usr/bin || missing+=(redis-server)
if ((browser)) && [[ ! -x /usr/bin/chromium ]]; then
	missing+=(chromium)
fi
if ((browser)); then
	have prometheus /usr/bin || missing+=(prometheus)
	have prometheus-alertmanager /usr/bin || missing+=(prometheus-alertmanager)
fi
# The platform agent's venv, tests and benchmark use Debian's interpreter
# (a python3 of pyenv on PATH does not see apt's packages); each package is
# checked by importing a module it provides (ensurepip: python3-venv).
if ((python)); then
	if [[ ! -x /usr/bin/python3 ]]; then
		missing+=(python3 python3-psycopg python3-pytest python3-setuptools python3-wheel python3-venv)
	else
		# One interpreter start: prints the package of each module that is
		# missing (psycopg is imported: it also needs libpq5).
		while read -r pkg; do missing+=("$pkg"); done < <(/usr/bin/python3 -c '
import importlib.util
try:
    import psycopg
except Exception:
    print("python3-psycopg")
for mod, pkg in (("pytest", "python3-pytest"), ("setuptools", "python3-setuptools"), ("wheel", "python3-wheel"),
                 ("ensurepip", "python3-venv")):
    if importlib.util.find_spec(mod) is None:
        print(pkg)
' 2>/dev/null || echo python3-venv)
	fi
fi

if ((${#missing[@]} == 0)); then
	exit 0
fi

if ((EUID != 0)); then
	echo "install-deps.sh: missing packages: ${missing[*]}" >&2
	echo "install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

echo "install-deps.sh: installing ${missing[*]}" >&2

# Debian's maintainer scripts start pgbouncer and redis-server through
# invoke-rc.d, which fails or hangs in containers without an init system.
# A policy-rc.d that exits 101 ("action forbidden") makes them skip that.
# Only install our own if there is none, and remove only our own.
policy=/usr/sbin/policy-rc.d
own_policy=0
cleanup() {
	if ((own_policy)); then
		rm -f "$policy"
	fi
}
trap cleanup EXIT
if [[ ! -e "$policy" ]]; then
	printf '#!/bin/sh\n# Temporary, written by install-deps.sh: start no services.\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	own_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
