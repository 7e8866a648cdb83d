#!/usr/bin/env bash
# A new user's first hour, scripted: a fresh clone of this repository into a temporary
# directory, the README's install (make install into a PREFIX there), the seed's job on
# the real WSO2 keystore ../shared/wso2/wso2carbon-4.4.jks (the private key and the
# certificate as files, under jks2pem's names and the seed's server.key and public.cert,
# checked with openssl), the man pages and completion found where
# make install put them, make demo, make uninstall. Run by TestNewcomerWalk (make test) and by hand:
#   bash scripts/newcomer.sh
# The clone holds the last commit plus uncommitted changes to tracked files (as
# `git stash create` records them); untracked files are left out, as from any clone.
# Nothing outside the temporary directory is written; it is removed at the end.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$repo/.." && pwd)/shared
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "newcomer: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

step() { printf '\n\033[1m== newcomer: %s\033[0m\n' "$*"; }
fail() {
	echo "newcomer: FAILED: $*" >&2
	exit 1
}

step "git clone (the working tree as committed, plus changes to tracked files)"
git clone --quiet --no-hardlinks "$repo" "$work/keybridge"
rev=$(git -C "$repo" stash create 2>&1) || fail "cannot record the working tree's changes (a merge in progress?): $rev"
if [ -n "$rev" ]; then
	git -C "$work/keybridge" fetch --quiet "$repo" "$rev"
	git -C "$work/keybridge" checkout --quiet --detach FETCH_HEAD
fi
# The real WSO2 keystores sit beside the repository, as ../shared/wso2.
[ -d "$shared/wso2" ] || fail "the WSO2 keystores are not at $shared/wso2"
ln -s "$shared" "$work/shared"
cd "$work/keybridge"

step "the README's install: make install PREFIX=\$PREFIX"
grep -q 'make install PREFIX="$HOME/.local"' README.md || fail "README's Install section no longer shows make install"
prefix=$work/prefix
make --no-print-directory install PREFIX="$prefix" >"$work/install.log" 2>&1 || {
	cat "$work/install.log"
	fail "make install"
}
export PATH="$prefix/bin:$PATH"
for p in jks2pem certup jksproxy; do
	[ "$(command -v "$p")" = "$prefix/bin/$p" ] || fail "$p is not on PATH from $prefix/bin"
	[ -f "$prefix/share/man/man1/$p.1" ] || fail "no man page for $p"
	[ -f "$prefix/share/bash-completion/completions/$p" ] || fail "no bash completion for $p"
	[ -f "$prefix/share/zsh/site-functions/_$p" ] || fail "no zsh completion for $p"
done
# As the README says: man finds the pages from PATH, with no MANPATH set.
(unset MANPATH; man -w certup) | grep -qx "$prefix/share/man/man1/certup.1" || fail "man does not find certup(1)"
# shellcheck disable=SC1091
reply=$(bash -c 'source "$1"; COMP_WORDS=(certup rot); COMP_CWORD=1; _certup; echo "${COMPREPLY[*]}"' bash "$prefix/share/bash-completion/completions/certup")
[ "$reply" = rotate ] || fail "bash completion of 'certup rot': '$reply'"
echo "installed: $(cd "$prefix" && find . -type f | sort | tr '\n' ' ')"

step "the seed's job: the key and the certificate of ../shared/wso2/wso2carbon-4.4.jks"
# The password comes from the environment, never the command line.
export KEYSTORE_PASSWORD=wso2carbon
listing=$(jks2pem list ../shared/wso2/wso2carbon-4.4.jks)
echo "${listing%%$'\n'*}"
# As the README shows: flags after KEYSTORE, --out-dir made when missing.
jks2pem ../shared/wso2/wso2carbon-4.4.jks --out-dir certs
[ "$(stat -c %a certs)" = 700 ] || fail "--out-dir was not made 0700"
[ "$(stat -c %a certs/wso2carbon.key)" = 600 ] || fail "the key is not mode 0600"
key=$(openssl pkey -in certs/wso2carbon.key -pubout)
cert=$(openssl x509 -in certs/wso2carbon.crt -noout -pubkey)
[ "$key" = "$cert" ] || fail "the key does not match the certificate"
openssl x509 -in certs/wso2carbon.crt -noout -subject -enddate
# The seed's own file names.
jks2pem ../shared/wso2/wso2carbon-4.4.jks --key-out server.key --cert-out public.cert
[ "$(stat -c %a server.key)" = 600 ] || fail "server.key is not mode 0600"
cmp -s server.key certs/wso2carbon.key && cmp -s public.cert certs/wso2carbon.crt || fail "server.key and public.cert differ from --out-dir's files"
unset KEYSTORE_PASSWORD

step "make demo"
make --no-print-directory demo >"$work/demo.log" 2>&1 || {
	tail -40 "$work/demo.log"
	fail "make demo"
}
tail -1 "$work/demo.log"

step "make uninstall PREFIX=\$PREFIX"
make --no-print-directory uninstall PREFIX="$prefix" >/dev/null
left=$(find "$prefix" -type f)
[ -z "$left" ] || fail "make uninstall left: $left"
printf '\nnewcomer walk done\n'
