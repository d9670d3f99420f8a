#!/usr/bin/env bash
# The Debian package: `make deb` builds it (or DEB=FILE names one already
# built); it is installed with dpkg into an empty root and the test checks
# that every file is where it belongs and nothing else is shipped, that the
# configuration is a conffile, that the man pages are compressed and found by
# man, that Depends covers every shared library the binaries need plus fuse3,
# that both binaries report the package's version, that systemd accepts the
# installed unit (systemd-analyze verify on an instance), that the Grafana
# provider points at the installed dashboard, and that lintian reports no
# error or warning.
# Needs root for dpkg --root (files owned by root). Exit 0 pass, 1 fail, 77
# when a tool is missing (a failure under CI=true).
set -u
cd "$(dirname "$0")/../.." || exit 1
name=$(basename "$0" .sh)
. tests/pkg/lib.sh
BUILD=${BUILD:-build}

need_tools dpkg dpkg-deb dpkg-query dpkg-architecture lintian systemd-analyze man python3 readelf gzip
python3 -c 'import yaml' 2>/dev/null || missing "python3's yaml module is missing (make deps installs python3-yaml)"
[ "$(id -u)" -eq 0 ] || missing "not root (dpkg --root installs files owned by root)"

version=$(sed -n 's/^#define MS_VERSION "\(.*\)"$/\1/p' include/version.h)
[ -n "$version" ] || fail "no MS_VERSION in include/version.h"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "${DEB:-}" ]; then
	deb=$DEB
else
	need_tools git dpkg-buildpackage dh
	log "make deb"
	if ! make -s deb BUILD="$BUILD" >"$tmp/build.log" 2>&1; then
		tail -n 40 "$tmp/build.log"
		fail "make deb"
	fi
	deb=$BUILD/migshaper_${version}_${arch}.deb
fi
[ -f "$deb" ] || fail "$deb was not built"
[ "$(basename "$deb")" = "migshaper_${version}_${arch}.deb" ] || fail "$deb is not named migshaper_${version}_${arch}.deb"

# --- install into an empty root ---------------------------------------------
root=$tmp/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
: >"$root/var/lib/dpkg/status"
# The root has none of the dependencies; Depends is checked below instead.
if ! dpkg --root="$root" --force-depends --force-not-root -i "$deb" >"$tmp/dpkg.log" 2>&1; then
	cat "$tmp/dpkg.log"
	fail "dpkg -i into $root"
fi
query() { dpkg-query --admindir="$root/var/lib/dpkg" -W -f="$1" migshaper; }
[ "$(query '${Status} ${Version}')" = "install ok installed $version" ] ||
	fail "dpkg status: $(query '${Status} ${Version}')"

# --- files: each where it belongs, with its mode, and nothing else -----------
# path (in the root), mode, source file it must equal (- for none)
expected=$tmp/expected
{
	echo "usr/sbin/migshaperd 755 -"
	echo "usr/sbin/migshaperctl 755 -"
	echo "lib/systemd/system/migshaperd@.service 644 scripts/migshaperd@.service"
	echo "etc/migshaper/migshaper.conf 644 scripts/migshaper.conf"
	echo "usr/share/man/man8/migshaperd.8.gz 644 docs/migshaperd.8"
	echo "usr/share/man/man8/migshaperctl.8.gz 644 docs/migshaperctl.8"
	echo "usr/share/doc/migshaper/copyright 644 debian/copyright"
	echo "usr/share/doc/migshaper/changelog.gz 644 debian/changelog"
	git ls-files --cached --others --exclude-standard scripts/monitoring | while read -r f; do
		echo "usr/share/migshaper/${f#scripts/monitoring/} 644 $f"
	done
} >"$expected"
[ "$(grep -c '^usr/share/migshaper/' "$expected")" -ge 4 ] || fail "scripts/monitoring has too few files to be the monitoring set"
while read -r path mode src; do
	f=$root/$path
	[ -f "$f" ] || fail "/$path is not installed"
	[ "$(stat -c '%a %U:%G' "$f")" = "$mode root:root" ] || fail "/$path: mode/owner $(stat -c '%a %U:%G' "$f"), want $mode root:root"
	case $src in
	-) ;;
	*.8 | debian/changelog)
		gzip -t "$f" || fail "/$path is not valid gzip"
		zcat "$f" | cmp -s - "$src" || fail "/$path does not uncompress to $src"
		;;
	*) cmp -s "$f" "$src" || fail "/$path differs from $src" ;;
	esac
done <"$expected"
for bin in migshaperd migshaperctl; do
	[ "$(head -c 4 "$root/usr/sbin/$bin" | od -An -c | tr -d ' ')" = '177ELF' ] || fail "/usr/sbin/$bin is not an ELF file"
done
dpkg-query --admindir="$root/var/lib/dpkg" -L migshaper | while read -r p; do
	[ -d "$root$p" ] || echo "${p#/}"
done | sort >"$tmp/shipped"
cut -d' ' -f1 "$expected" | sort >"$tmp/want"
if ! cmp -s "$tmp/shipped" "$tmp/want"; then
	diff "$tmp/want" "$tmp/shipped"
	fail "the package ships other files than expected (< missing, > extra)"
fi
log "files: $(wc -l <"$tmp/want") in place, modes and contents as in the source"

# --- conffile ----------------------------------------------------------------
conf_md5=$(md5sum "$root/etc/migshaper/migshaper.conf" | cut -d' ' -f1)
conffiles=$(query '${Conffiles}')
grep -qx " /etc/migshaper/migshaper.conf $conf_md5" <<<"$conffiles" ||
	fail "/etc/migshaper/migshaper.conf is not a conffile with its md5 (Conffiles:$conffiles)"
[ "$(grep -c . <<<"$conffiles")" -eq 1 ] || fail "unexpected conffiles:$conffiles"

# --- Depends: fuse3 and the package of every library the binaries need -------
depends=$(dpkg-deb -f "$deb" Depends)
dep_names=" $(sed 's/([^)]*)//g; s/[,|]/ /g' <<<"$depends" | tr -s ' ') "
[[ $dep_names == *" fuse3 "* ]] || fail "Depends lacks fuse3: $depends"
for lib in $(readelf -d "$root/usr/sbin/migshaperd" "$root/usr/sbin/migshaperctl" |
	sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u); do
	owner=$(dpkg -S "*/$lib" 2>/dev/null | grep -v -- '-dev' | head -n1 | cut -d: -f1)
	[ -n "$owner" ] || fail "no installed package on this host holds $lib"
	[[ $dep_names == *" $owner "* ]] || fail "Depends lacks $owner (for $lib): $depends"
done
log "Depends: $depends"

# --- version -------------------------------------------------------------------
for bin in migshaperd migshaperctl; do
	got=$("$root/usr/sbin/$bin" --version) || fail "$bin --version failed"
	[ "$got" = "$bin $version" ] || fail "$bin --version says '$got', the package is $version"
done

# --- the systemd unit ----------------------------------------------------------
unit=$root/lib/systemd/system/migshaperd@.service
grep -q '^ExecStart=/usr/sbin/migshaperd ' "$unit" || fail "ExecStart does not run /usr/sbin/migshaperd: $(grep ExecStart= "$unit")"
# verify --root would want a whole system in the root (sysinit.target,
# /bin/kill, man): verify a copy whose paths point into the root instead, with
# man looking only at the root's pages (Documentation=man:...).
mkdir "$tmp/units"
sed "s|=/usr/sbin/|=$root/usr/sbin/|" "$unit" >"$tmp/units/migshaperd@.service"
if ! MANPATH=$root/usr/share/man systemd-analyze verify "$tmp/units/migshaperd@eth0.service" >"$tmp/verify.log" 2>&1 ||
	[ -s "$tmp/verify.log" ]; then
	cat "$tmp/verify.log"
	fail "systemd-analyze verify migshaperd@eth0.service"
fi
log "systemd-analyze verify migshaperd@eth0.service: clean"

# --- Grafana: the installed provider points at the installed dashboard ----------
python3 tests/pkg/check_grafana.py --root "$root" \
	--provider "$root/usr/share/migshaper/grafana/provisioning/dashboards/migshaper.yml" ||
	fail "Grafana provisioning as installed (see above)"

# --- lintian ---------------------------------------------------------------------
# Warnings count too: the package is kept clean, or a tag is overridden with
# its reason in debian/migshaper.lintian-overrides.
if ! lintian --fail-on error,warning --display-info "$deb" >"$tmp/lintian.log" 2>&1; then
	cat "$tmp/lintian.log"
	fail "lintian"
fi
log "lintian: $(grep -c '^[EWI]:' "$tmp/lintian.log") tags (no error or warning)"
log PASS
