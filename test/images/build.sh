#!/usr/bin/env bash
# Build the container images of the driver, of its sidecars and of the two images the
# tests' pods use, as OCI archives for `ctr -n k8s.io images import`, without a
# container engine or a registry: Debian's packages through debootstrap, static
# binaries, and test/images/ocitar to pack each tree. See deploy/image/README.md.
# Usage: test/images/build.sh OUT_DIR
#
#  - ghcr.io/cinder-csi/cinder-csi-driver:<Chart.yaml appVersion>: debootstrap
#    --variant=minbase of deploy/image/packages.txt (cached under OUT_DIR/rootfs, keyed
#    by the package list and the suite) plus bin/csi-driver ($CSI_DRIVER_BIN, or built
#    here). Every executable of deploy/image/executables.txt is checked in the tree.
#  - registry.k8s.io/pause:3.10 (test/images/pause.c) and
#    registry.k8s.io/e2e-test-images/busybox:1.37.0-2 (Debian's busybox-static).
#  - the chart's sidecars at the chart's tags, one static binary each from $E2E_BIN
#    (default .cache/e2e/bin, built by test/e2e/tools.sh), and snapshot-controller.
# An image whose inputs did not change since its archive was written is not packed
# again (OUT_DIR/<archive>.stamp). IMAGES="driver pause busybox sidecars" picks groups;
# IMAGES=e2e adds the images of Kubernetes' storage suite (see build_e2e).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mkdir -p "${1:?usage: build.sh OUT_DIR}" && cd "$1" && pwd)
SUITE=${SUITE:-bookworm}
E2E_BIN=${E2E_BIN:-$ROOT/.cache/e2e/bin}
IMAGES=${IMAGES:-driver pause busybox sidecars}
VALUES=$ROOT/deploy/helm/values.yaml
# The image's PATH (ocitar's default), used for the checks in the tree too.
IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Bump when the way the driver's tree is made changes, to rebuild the cached tree.
ROOTFS_RECIPE=3
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
SELF=$ROOT/test/images/build.sh
TMP_TREE=

log() { echo "images: $*" >&2; }
die() { echo "images: error: $*" >&2; exit 1; }
sha() { sha256sum | cut -c1-64; }

# Host tools, from Debian; the lock timeout waits out another apt-get.
need_pkgs() {
  local missing=() p
  for p in "$@"; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
  [ ${#missing[@]} = 0 ] && return 0
  log "installing ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The mirror and keyring of the host's apt sources for $SUITE: deb822 files first,
# then the one-line format. Never written into this repository.
apt_source() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" 'BEGIN { RS = ""; FS = "\n" }
      { uris = ""; key = ""; deb = 0; ok = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
          if ($i ~ /^URIs:/) { split($i, u, /[ \t]+/); uris = u[2] }
          if ($i ~ /^Signed-By:/) { split($i, k, /[ \t]+/); key = k[2] }
          if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
        }
        if (deb && ok && uris != "") { print uris, key; exit } }' "$f" | grep . && return 0
  done
  [ -f /etc/apt/sources.list ] &&
    sed -n -E "s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+$SUITE[[:space:]].*/\2/p" /etc/apt/sources.list | head -1 | grep .
}

# Lazily unmount whatever is mounted under $1 (a debootstrap or chroot that died).
umount_under() {
  local d m
  [ -n "$1" ] || die "umount_under: no directory"
  d=$(realpath -m "$1")
  case $d in /|"$OUT"|"$OUT"/rootfs) die "umount_under: refusing $d" ;; esac
  awk -v d="$d" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" || true; done
  if awk -v d="$d" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    die "something is still mounted under $d; unmount it and retry"
  fi
}
remove_tree() { [ -e "$1" ] || return 0; umount_under "$1"; rm -rf --one-file-system "$1"; }

# stamp_ok ARCHIVE HASH: the archive exists and was made from these inputs. Its
# summary line is printed again.
stamp_ok() {
  [ -f "$1" ] && [ -f "$1.stamp" ] && [ "$(head -1 "$1.stamp")" = "$2" ] || return 1
  echo "$(sed -n 2p "$1.stamp")  (unchanged)"
}

# pack NAME ARCHIVE HASH OCITAR_ARGS...: writes the archive, the stamp and the summary.
pack() {
  local name=$1 archive=$2 hash=$3 line bytes summary
  shift 3
  rm -f "$archive.stamp"
  line=$("$OCITAR" -name "$name" -out "$archive" "$@")
  bytes=$(echo "$line" | awk '{ print $3 }')
  summary=$(printf '%-62s %8.1f MiB archive %8.1f MiB rootfs' "$name" \
    "$(awk -v b="$(stat -c %s "$archive")" 'BEGIN { print b / 1048576 }')" \
    "$(awk -v b="$bytes" 'BEGIN { print b / 1048576 }')")
  printf '%s\n%s\n' "$hash" "$summary" > "$archive.stamp"
  echo "$summary"
}

# archive_of REPO:TAG -> OUT/<last path element>_<tag>.tar
archive_of() { local n=${1##*/}; echo "$OUT/${n%%:*}_${n##*:}.tar"; }

# is_static FILE: an ELF that needs no loader (the sidecar and driver trees have none
# of the host's libraries).
is_static() { file -b "$1" | grep -Eq '^ELF .*(statically linked|static-pie linked)'; }

# chart_image KEY: "repository:tag" of sidecars.KEY.image in the chart's values.yaml.
chart_image() {
  awk -v key="$1" '
    /^sidecars:/ { s = 1; next }
    s && /^[^ #]/ { s = 0 }
    s && $0 ~ "^  " key ":" { k = 1; next }
    k && /^  [^ ]/ { k = 0 }
    k && /^ +repository:/ { r = $2 }
    k && /^ +tag:/ { t = $2 }
    END { gsub(/"/, "", r); gsub(/"/, "", t); if (r != "" && t != "") print r ":" t }' "$VALUES"
}

# The driver image's name: values.yaml image.repository, tag image.tag or appVersion.
driver_image() {
  local repo tag
  repo=$(awk '/^image:/ { s = 1; next } s && /^[^ #]/ { s = 0 } s && /^ +repository:/ { print $2; exit }' "$VALUES" | tr -d '"')
  tag=$(awk '/^image:/ { s = 1; next } s && /^[^ #]/ { s = 0 } s && /^ +tag:/ { print $2; exit }' "$VALUES" | tr -d '"')
  [ -n "$tag" ] || tag=$(sed -n -E 's/^appVersion:[[:space:]]*"?([^"[:space:]]+)"?.*/\1/p' "$ROOT/deploy/helm/Chart.yaml")
  [ -n "$repo" ] && [ -n "$tag" ] || die "no image.repository or appVersion in the chart"
  echo "$repo:$tag"
}

packages() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$ROOT/deploy/image/packages.txt"; }

# strip_tree DIR: what an image does not need, and what debootstrap copied from the
# host (resolv.conf, hostname). Copyright files stay.
strip_tree() {
  local r=$1
  find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$r"/usr/share/{man,info,locale,lintian,bug,groff,linda}/* "$r"/usr/share/i18n/locales
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
    "$r"/var/cache/apt/archives/partial/* "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old \
    "$r"/var/cache/ldconfig/aux-cache "$r"/tmp/* "$r"/var/tmp/* "$r"/root/.bash_history
  find "$r/var/log" -type f -delete
  rm -f "$r/etc/resolv.conf" "$r/etc/hostname" "$r/etc/iscsi/initiatorname.iscsi"
  # udev's hardware database (13 MB, made by its postinst, in no package): the host's
  # udevd applies it; the container only runs udevadm trigger.
  rm -f "$r/usr/lib/udev/hwdb.bin" "$r/etc/udev/hwdb.bin"
  [ ! -e "$r/etc/machine-id" ] || : > "$r/etc/machine-id"
  # The day each account was made is the one date in the tree: blank it (no password
  # aging; every account is locked anyway), so that a rebuild on another day is the same.
  sed -i -E 's/^([^:]*:[^:]*:)[0-9]*:/\1:/' "$r/etc/shadow"
  rm -f "$r"/etc/{passwd,group,shadow,gshadow,subuid,subgid}-
}

# in_tree DIR CMD...: a command in the tree, with the image's PATH and nothing else.
in_tree() { local r=$1; shift; chroot "$r" /usr/bin/env -i PATH="$IMAGE_PATH" "$@"; }

# check_tree DIR: each executable of executables.txt (but the absent ones) is on the
# image's PATH and its libraries (or its script interpreter) resolve.
check_tree() {
  local r=$1 line name pkg path bad=0 libs interp
  while IFS= read -r line; do
    name=$(echo "${line%%#*}" | tr -d '[:space:]')
    [ -n "$name" ] || continue
    pkg=$(echo "$line" | sed -n 's/^[^#]*#[[:space:]]*//p')
    case $pkg in absent:*) continue ;; esac
    if ! path=$(in_tree "$r" /bin/sh -c "command -v '$name'"); then
      echo "images: $name is not in the driver image: add the Debian package that provides it (${pkg:-see executables.txt}) to deploy/image/packages.txt" >&2
      bad=1; continue
    fi
    # Paths are read inside the tree: its symlinks may be absolute.
    if [ "$(in_tree "$r" head -c 2 "$path")" = "#!" ]; then
      interp=$(in_tree "$r" head -1 "$path" | sed -E 's/^#![[:space:]]*([^[:space:]]+).*/\1/')
      in_tree "$r" test -x "$interp" || { echo "images: $name ($path) needs $interp, which is not in the image" >&2; bad=1; }
    elif libs=$(in_tree "$r" ldd "$path" 2>&1); [ $? != 0 ] && ! echo "$libs" | grep -q 'not a dynamic executable' ||
        echo "$libs" | grep -q 'not found'; then
      echo "images: $name ($path): libraries do not resolve in the image (package ${pkg:-?}):" >&2
      echo "$libs" | grep 'not found' >&2 || echo "$libs" >&2
      bad=1
    fi
  done < "$ROOT/deploy/image/executables.txt"
  [ $bad = 0 ] || die "the driver image lacks executables the driver runs (deploy/image/executables.txt)"
}

# driver_rootfs: prints the cached tree, building it once per package list and suite.
# It is made under a temporary name and renamed at the end, so a debootstrap that died
# half-way is never taken for a finished tree.
driver_rootfs() {
  local arch key dir tmp src mirror keyring list old
  arch=$(dpkg --print-architecture)
  key=$( { packages; echo "$SUITE $arch recipe=$ROOTFS_RECIPE"; } | sha | cut -c1-16)
  dir=$OUT/rootfs/driver-$SUITE-$arch-$key
  if [ -d "$dir" ]; then echo "$dir"; return 0; fi
  mkdir -p "$OUT/rootfs"
  for tmp in "$OUT"/rootfs/.tmp-*; do remove_tree "$tmp"; done
  tmp=$OUT/rootfs/.tmp-$key-$$
  TMP_TREE=$tmp
  src=$(apt_source) || die "no apt source for $SUITE in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
  read -r mirror keyring <<< "$src"
  list=$(packages | paste -sd, -)
  log "debootstrap --variant=minbase $SUITE ($arch) with $list (a few minutes, once)"
  trap '[ -z "$TMP_TREE" ] || umount_under "$TMP_TREE" || true' EXIT
  if ! debootstrap --variant=minbase --arch="$arch" ${keyring:+--keyring="$keyring"} --include="$list" \
      "$SUITE" "$tmp" "$mirror" > "$OUT/rootfs/debootstrap.log" 2>&1; then
    tail -20 "$OUT/rootfs/debootstrap.log" >&2
    die "debootstrap failed; the whole log is $OUT/rootfs/debootstrap.log"
  fi
  # Security and point-release updates, from the host's own sources when it runs the
  # same suite (debootstrap reads one suite only).
  if [ "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" = "$SUITE" ]; then
    rm -f "$tmp/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/*.sources "$tmp/etc/apt/sources.list.d/" 2>/dev/null || true
    [ ! -f /etc/apt/sources.list ] || cp /etc/apt/sources.list "$tmp/etc/apt/sources.list"
    cp /etc/resolv.conf "$tmp/etc/resolv.conf"
    mount -t proc proc "$tmp/proc"
    if ! { in_tree "$tmp" apt-get update -qq &&
        in_tree "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get -y -qq -o Dpkg::Options::=--force-confold upgrade; } \
        < /dev/null >> "$OUT/rootfs/debootstrap.log" 2>&1; then
      umount_under "$tmp"
      tail -20 "$OUT/rootfs/debootstrap.log" >&2
      die "apt-get upgrade in the new tree failed; see $OUT/rootfs/debootstrap.log"
    fi
    in_tree "$tmp" apt-get clean >&2
    umount_under "$tmp"
  fi
  strip_tree "$tmp"
  trap - EXIT
  TMP_TREE=
  mv "$tmp" "$dir"
  for old in "$OUT/rootfs/driver-$SUITE-$arch-"*; do # trees of older package lists
    [ "$old" = "$dir" ] || { log "removing the outdated tree $old"; remove_tree "$old"; }
  done
  echo "$dir"
}

build_driver() {
  local name archive rootfs bin stage hash version
  name=$(driver_image)
  archive=$(archive_of "$name")
  rootfs=$(driver_rootfs)
  check_tree "$rootfs" # every time: executables.txt may have changed, not the packages
  bin=${CSI_DRIVER_BIN:-}
  if [ -z "$bin" ]; then
    version=${VERSION:-$(git -C "$ROOT" describe --tags --always --dirty 2>/dev/null || echo dev)}
    bin=$OUT/.build/csi-driver
    log "go build ./cmd/csi-driver ($version)"
    (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$bin" ./cmd/csi-driver)
  fi
  [ -x "$bin" ] || die "driver binary $bin does not exist"
  is_static "$bin" || die "$bin is not a static binary (build it with CGO_ENABLED=0, as make build does)"
  hash=$( { echo "$name"; basename "$rootfs"; sha256sum "$bin" "$OCITAR_SRC" "$SELF" | cut -c1-64; } | sha)
  stamp_ok "$archive" "$hash" && return 0
  stage=$OUT/.stage/driver
  rm -rf "$stage"; install -D -m 0755 "$bin" "$stage/usr/local/bin/csi-driver"
  "$stage/usr/local/bin/csi-driver" --version > /dev/null || die "$bin --version failed"
  pack "$name" "$archive" "$hash" -rootfs "$rootfs" -rootfs "$stage" -entrypoint /usr/local/bin/csi-driver
}

# base_files DIR: /tmp, and root and nobody (65532, the uid distroless images use).
# copy_libs BIN ROOT: the shared libraries BIN loads (ldd), at the same paths under ROOT.
copy_libs() {
  local lib
  for lib in $(ldd "$1" | grep -o '/[^ ]*'); do
    install -D -m 0755 "$(realpath "$lib")" "$2$lib"
  done
}

base_files() {
  install -d -m 1777 "$1/tmp"
  install -d -m 0755 "$1/etc"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65532:65532:nobody:/nonexistent:/sbin/nologin\n' > "$1/etc/passwd"
  printf 'root:x:0:\nnobody:x:65532:\n' > "$1/etc/group"
}

build_pause() {
  local name=registry.k8s.io/pause:3.10 archive stage hash
  archive=$(archive_of "$name")
  hash=$( { echo "$name"; gcc --version | head -1; sha256sum "$ROOT/test/images/pause.c" "$OCITAR_SRC" "$SELF" | cut -c1-64; } | sha)
  stamp_ok "$archive" "$hash" && return 0
  stage=$OUT/.stage/pause
  rm -rf "$stage"; mkdir -p "$stage"
  gcc -Os -static -s -Wall -Werror -o "$stage/pause" "$ROOT/test/images/pause.c"
  is_static "$stage/pause" || die "gcc -static made a dynamic pause"
  pack "$name" "$archive" "$hash" -rootfs "$stage" -entrypoint /pause
}

build_busybox() {
  local name=registry.k8s.io/e2e-test-images/busybox:1.37.0-2 archive stage hash bb a
  bb=/bin/busybox
  archive=$(archive_of "$name")
  is_static "$bb" || die "$bb is not static: install Debian's busybox-static"
  hash=$( { echo "$name"; sha256sum "$bb" "$GNU_DD" "$BASH_BIN" "$OCITAR_SRC" "$SELF" | cut -c1-64; } | sha)
  stamp_ok "$archive" "$hash" && return 0
  stage=$OUT/.stage/busybox
  rm -rf "$stage"; base_files "$stage"
  install -D -m 0755 "$bb" "$stage/bin/busybox"
  # Every applet in /bin, and at its usual place too (/usr/bin/env, /sbin/ifconfig).
  # The list names busybox itself, which must stay the binary.
  for a in $("$bb" --list); do
    [ "$a" = busybox ] || ln -s /bin/busybox "$stage/bin/$a"
  done
  for a in $("$bb" --list-full); do
    case $a in */*) ;; *) continue ;; esac # linuxrc: not in a container
    [ "${a##*/}" = busybox ] || [ -e "$stage/$a" ] || [ -L "$stage/$a" ] || { mkdir -p "$stage/$(dirname "$a")"; ln -s /bin/busybox "$stage/$a"; }
  done
  # The suite writes raw block devices with `dd oflag=nocache`, which Debian's busybox
  # 1.35 dd refuses: coreutils' dd instead, with the libraries it loads. busybox's sh
  # runs its own applets before PATH, so /bin/sh is Debian's bash (which, unlike dash,
  # has the `let` and `echo -n` the suite's scripts use), and finds this dd.
  rm -f "$stage/bin/dd" "$stage/bin/sh"
  install -m 0755 "$GNU_DD" "$stage/bin/dd"
  install -m 0755 "$BASH_BIN" "$stage/bin/sh"
  copy_libs "$GNU_DD" "$stage"
  copy_libs "$BASH_BIN" "$stage"
  chroot "$stage" /bin/sh -c 'i=0; let i+=1; [ $i = 1 ] && echo -n x >/tmp/dd-check && dd if=/bin/busybox of=/tmp/dd-check bs=512 count=1 oflag=nocache status=none' ||
    die "the suite's shell idioms (let, echo -n, dd oflag=nocache) do not run in the busybox tree"
  rm -f "$stage/tmp/dd-check"
  pack "$name" "$archive" "$hash" -rootfs "$stage" -env PATH=/bin:/sbin:/usr/bin:/usr/sbin -cmd sh
}

# The sidecars the chart runs, at its tags, and snapshot-controller at the
# snapshotter's (both are external-snapshotter releases).
build_sidecars() {
  local key bin name image tag archive stage hash missing=() stamp
  for key in provisioner:csi-provisioner attacher:csi-attacher snapshotter:csi-snapshotter \
      resizer:csi-resizer livenessProbe:livenessprobe nodeDriverRegistrar:csi-node-driver-registrar \
      snapshotter:snapshot-controller; do
    bin=${key#*:}
    image=$(chart_image "${key%%:*}") || true
    [ -n "$image" ] || die "no sidecars.${key%%:*}.image repository and tag in $VALUES"
    tag=${image##*:}
    name=$image
    [ "$bin" != snapshot-controller ] || name=registry.k8s.io/sig-storage/snapshot-controller:$tag
    if [ ! -x "$E2E_BIN/$bin" ]; then missing+=("$bin"); continue; fi
    is_static "$E2E_BIN/$bin" || die "$E2E_BIN/$bin is not static ($(file -b "$E2E_BIN/$bin" | cut -c1-80)): rebuild it with CGO_ENABLED=0 (test/e2e/tools.sh does)"
    stamp=$(cat "$E2E_BIN/.$bin.version" 2>/dev/null) || die "$E2E_BIN/.$bin.version is missing: which version is $E2E_BIN/$bin? (test/e2e/tools.sh writes it)"
    case "/$stamp/" in
      */"$tag"/*) ;;
      *) die "$E2E_BIN/$bin is version $stamp but the chart pins $name: rebuild it (test/e2e/tools.sh) or change the chart" ;;
    esac
    archive=$(archive_of "$name")
    hash=$( { echo "$name"; sha256sum "$E2E_BIN/$bin" "$OCITAR_SRC" "$SELF" | cut -c1-64; } | sha)
    stamp_ok "$archive" "$hash" && continue
    stage=$OUT/.stage/$bin
    rm -rf "$stage"; base_files "$stage"
    install -m 0755 "$E2E_BIN/$bin" "$stage/$bin"
    pack "$name" "$archive" "$hash" -rootfs "$stage" -entrypoint "/$bin"
  done
  [ ${#missing[@]} = 0 ] || die "sidecar binaries missing in $E2E_BIN: ${missing[*]} (build them with test/e2e/tools.sh, or set E2E_BIN)"
}

# The images Kubernetes' own storage suite (e2e.test, `make storage-suite`) runs, under
# the names it asks for (e2e.test --list-images): its pause, agnhost (built from the same
# k8s.io/kubernetes module as e2e.test: test/conformance/tools.sh), and nginx and
# glibc-dns-testing, which its storage tests only start with shell commands, stood in for
# by the busybox tree.
build_e2e() {
  local archive stage hash bb=/bin/busybox
  build_pause; build_busybox
  archive=$(archive_of registry.k8s.io/pause:3.10.2)
  hash=$( { echo pause-3.10.2; sha256sum "$OUT/.stage/pause/pause" "$OCITAR_SRC" "$SELF" | cut -c1-64; } | sha)
  stamp_ok "$archive" "$hash" || pack registry.k8s.io/pause:3.10.2 "$archive" "$hash" -rootfs "$OUT/.stage/pause" -entrypoint /pause
  local standin
  for standin in registry.k8s.io/e2e-test-images/nginx:1.27.0-2 registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1; do
    archive=$(archive_of "$standin")
    hash=$( { echo "$standin standin"; sha256sum "$bb" "$GNU_DD" "$BASH_BIN" "$OCITAR_SRC" "$SELF" | cut -c1-64; } | sha)
    stamp_ok "$archive" "$hash" || pack "$standin" "$archive" "$hash" \
      -rootfs "$OUT/.stage/busybox" -env PATH=/bin:/sbin:/usr/bin:/usr/sbin -cmd sh
  done
  [ -x "$E2E_BIN/agnhost" ] || die "$E2E_BIN/agnhost is missing: build it with test/conformance/tools.sh"
  is_static "$E2E_BIN/agnhost" || die "$E2E_BIN/agnhost is not static"
  archive=$(archive_of registry.k8s.io/e2e-test-images/agnhost:2.66.1)
  hash=$( { echo agnhost; sha256sum "$E2E_BIN/agnhost" "$bb" "$GNU_DD" "$BASH_BIN" "$OCITAR_SRC" "$SELF" | cut -c1-64; } | sha)
  stamp_ok "$archive" "$hash" && return 0
  stage=$OUT/.stage/agnhost
  rm -rf "$stage"; install -D -m 0755 "$E2E_BIN/agnhost" "$stage/agnhost"
  pack registry.k8s.io/e2e-test-images/agnhost:2.66.1 "$archive" "$hash" -rootfs "$OUT/.stage/busybox" -rootfs "$stage" \
    -env PATH=/bin:/sbin:/usr/bin:/usr/sbin -entrypoint /agnhost
}

# One build at a time in OUT_DIR: a second one would take the first one's half-made
# tree for a dead one and remove it.
exec 8> "$OUT/.lock"
flock -n 8 || { log "waiting for the other build in $OUT"; flock 8; }
need_pkgs file
case " $IMAGES " in *" driver "*) need_pkgs debootstrap ;; esac
case " $IMAGES " in *" pause "*|*" e2e "*) need_pkgs gcc libc6-dev ;; esac
case " $IMAGES " in *" busybox "*|*" e2e "*) need_pkgs busybox-static ;; esac
OCITAR_SRC=$ROOT/test/images/ocitar/main.go
GNU_DD=/usr/bin/dd BASH_BIN=/usr/bin/bash
OCITAR=$OUT/.build/ocitar
mkdir -p "$OUT/.build"
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$OCITAR" ./test/images/ocitar)
for group in $IMAGES; do
  case $group in
    driver) build_driver ;;
    pause) build_pause ;;
    busybox) build_busybox ;;
    sidecars) build_sidecars ;;
    e2e) build_e2e ;;
    *) die "unknown image group $group (driver pause busybox sidecars e2e)" ;;
  esac
done
