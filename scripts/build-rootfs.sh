#!/usr/bin/env bash
# Builds a guest root filesystem (runtime image) as an ext4 image made with `mkfs.ext4 -d` (no loop
# mounts), with busybox-static and our init (guest/init/init as /sbin/init):
#   python3 (default)  Debian bookworm's python3 (3.11, standard library, the shared libpython3.11
#                      the agent embeds; tzdata for zoneinfo, the time zones without their
#                      leap-second "right/" copies); the CPython agent (build/release/guest/agent/snapfaas-agent,
#                      or $SNAPFAAS_AGENT) as /usr/bin/snapfaas-agent.   Output: $CACHE/images/rootfs.ext4
#   nodejs             Debian's nodejs + libnode108 at the version of the N-API headers the addon is
#                      built with (libnode-dev's candidate, scripts/setup.sh), no npm; the Node agent
#                      (build/release/guest/node/{agent.js,snapfaas_agent.node,snapfaas-node-reaper},
#                      or $SNAPFAAS_NODE_AGENT_DIR) in /usr/lib/snapfaas; /usr/bin/snapfaas-agent runs
#                      the reaper, which runs node with agent.js in its child.
#                      Output: $CACHE/images/nodejs.ext4
# Packages come through this machine's own apt sources (the files in /etc/apt are handed to
# mmdebstrap). Cached: rebuilt only when the package versions, the init, the agent or this script
# change. Usage: scripts/build-rootfs.sh [python3|nodejs] [--check]
#   (--check: exit 0 if current, 1 if a build is needed)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

check=0 runtime=python3
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    python3 | nodejs) runtime="$arg" ;;
    *) die "build-rootfs.sh: unknown argument '$arg' (use python3, nodejs, --check)" ;;
  esac
done

init="$ROOT/guest/init/init"
stdlib_check="$ROOT/functions/stdlib/handler.py"  # python3: run in the new root (it checks itself)
if [[ $runtime == python3 ]]; then
  packages=(python3-minimal libpython3.11-stdlib libpython3.11 tzdata busybox-static)
  agent="${SNAPFAAS_AGENT:-$BUILD_RELEASE/guest/agent/snapfaas-agent}"
  agent_files=("$agent")
  out="$CACHE/images/rootfs.ext4"
else
  # The guest's Node is Debian's, at the version of the N-API headers of scripts/setup.sh: pinned,
  # so that another configured source offering a newer nodejs is never mixed in.
  node_version="$(cat "$CACHE/node-api/version" 2>/dev/null)" ||
    die "no N-API headers in $CACHE/node-api: run scripts/setup.sh"
  packages=("nodejs=$node_version" "libnode108=$node_version" busybox-static)
  agent_dir="${SNAPFAAS_NODE_AGENT_DIR:-$BUILD_RELEASE/guest/node}"
  agent_files=("$agent_dir/agent.js" "$agent_dir/snapfaas_agent.node" "$agent_dir/snapfaas-node-reaper")
  agent="$agent_dir/snapfaas_agent.node"
  out="$CACHE/images/nodejs.ext4"
  # An image without its agent boots to "nothing to run" and fails every snapshot far from here.
  for f in "${agent_files[@]}"; do
    [[ -f $f ]] || die "rootfs: the Node agent is not built: $f missing (scripts/setup.sh builds it once the N-API headers are in $CACHE/node-api)"
  done
fi
[[ -f $init ]] || die "guest init missing: $init"
command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed: run scripts/setup.sh --no-build"
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 (e2fsprogs) is not installed: run scripts/setup.sh --no-build"

# The machine's own apt sources (one-line and deb822 files), passed to mmdebstrap as files.
sources=()
[[ -s /etc/apt/sources.list ]] && sources+=(/etc/apt/sources.list)
for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [[ -s $f ]] && sources+=("$f")
done
[[ ${#sources[@]} -gt 0 ]] || die "no apt sources configured in /etc/apt"

versions="$(apt-cache policy "${packages[@]%%=*}" | awk '/^[^ ]/{p=$1} /Candidate:/{print p, $2}')"
[[ $runtime == python3 ]] || versions="$(printf '%s\n' "${packages[@]}")"
agent_sum="none"
[[ -f $agent ]] && agent_sum="$(cat "${agent_files[@]}" | sha256sum | cut -d' ' -f1)"
key="$( { sha256sum <"$0"; echo "runtime=$runtime mmdebstrap=$(dpkg-query -W -f='${Version}' mmdebstrap)"
          echo "$versions"; echo "agent=$agent_sum"; cat "$init" "$stdlib_check"; } | sha256sum | cut -d' ' -f1)"

if [[ -f $out && -f $out.key && "$(cat "$out.key")" == "$key" ]]; then
  [[ $check -eq 1 ]] && exit 0
  step "rootfs: $runtime cached ${out#"$ROOT"/} ($(du -m --apparent-size "$out" | cut -f1) MiB, key ${key:0:12})"
  exit 0
fi
[[ $check -eq 1 ]] && exit 1

t0=$SECONDS
work="$CACHE/rootfs-build-$runtime"
mkdir -p "$CACHE/images"
exec 9>"$CACHE/images/.lock-rootfs-$runtime"
flock 9
rm -rf "$work"
mkdir -p "$work"
step "rootfs: $runtime: mmdebstrap bookworm (essential + ${packages[*]})"
debs="$CACHE/debs"  # downloaded .debs, kept so that a rebuild (new init, new agent) downloads nothing
mkdir -p "$debs"
excludes=()
for p in /usr/share/doc/ /usr/share/man/ /usr/share/info/ /usr/share/locale/ /usr/share/lintian/ \
         /usr/share/linda/ /usr/share/i18n/ /usr/lib/x86_64-linux-gnu/gconv/; do
  excludes+=(--dpkgopt="path-exclude=$p*")
done
mmdebstrap --variant=essential --mode=root --include="$(IFS=,; echo "${packages[*]}")" \
  "${excludes[@]}" --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-include=/usr/lib/x86_64-linux-gnu/gconv/gconv-modules*' \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --skip=essential/unlink --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
  --setup-hook="sync-in $debs /var/cache/apt/archives/" \
  --customize-hook="sync-out /var/cache/apt/archives $debs" \
  bookworm "$work/root" "${sources[@]}" </dev/null 2>"$work/mmdebstrap.log" ||
  { tail -n 20 "$work/mmdebstrap.log" >&2; die "rootfs: mmdebstrap failed (log: $work/mmdebstrap.log)"; }

r="$work/root"
mkdir -p "$r/srv" "$r/tmp" "$r/run" "$r/proc" "$r/sys" "$r/dev"
install -m 0755 "$init" "$r/sbin/init"
if [[ $runtime == python3 ]]; then
  step "rootfs: installing init$([[ -x $agent ]] && echo " and agent ${agent#"$ROOT"/}"), precompiling the standard library"
  [[ -x $agent ]] && install -m 0755 "$agent" "$r/usr/bin/snapfaas-agent"
  # Bytecode for the whole standard library: the guest never writes to its (read-only) root.
  chroot "$r" /usr/bin/python3 -m compileall -q -j 0 /usr/lib/python3.11 >/dev/null 2>&1 || true
  rm -rf "$r"/usr/lib/python3.11/{ensurepip,idlelib,lib2to3,pydoc_data,tkinter,turtledemo}
  # zoneinfo reads /usr/share/zoneinfo (tzdata); the leap-second "right/" zones are a second copy
  # nobody asks Python for.
  rm -rf "$r"/usr/share/zoneinfo/right
else
  step "rootfs: installing init$([[ -f $agent ]] && echo " and the Node agent ${agent_dir#"$ROOT"/}")"
  if [[ -f $agent ]]; then
    install -d "$r/usr/lib/snapfaas"
    install -m 0644 "$agent_dir/agent.js" "$agent_dir/snapfaas_agent.node" "$r/usr/lib/snapfaas/"
    install -m 0755 "$agent_dir/snapfaas-node-reaper" "$r/usr/lib/snapfaas/"
    # The Node agent's command, where init looks for the agent: the reaper (node's parent, which
    # answers a request whose runtime died), node running the JS loop of guest/node/agent.js.
    printf '%s\n' '#!/bin/sh' '# snapfaas-agent of the nodejs image: the reaper runs node with the JS loop of guest/node/agent.js.' \
      'exec /usr/lib/snapfaas/snapfaas-node-reaper /usr/bin/node /usr/lib/snapfaas/agent.js "$@"' >"$r/usr/bin/snapfaas-agent"
    chmod 0755 "$r/usr/bin/snapfaas-agent"
  fi
fi
# Packaging state and caches a read-only guest never uses.
# perl-base is Essential only for dpkg's maintainer scripts; nothing in the guest runs them.
rm -rf "$r"/var/cache/apt/* "$r"/var/lib/apt/lists/* "$r"/var/log/* "$r"/usr/share/perl* \
       "$r"/usr/bin/perl* "$r"/usr/lib/x86_64-linux-gnu/perl*
if [[ $runtime == python3 ]]; then
  chroot "$r" /usr/bin/python3 -c 'import json, encodings.idna, importlib; print(json.dumps({"ok": 1}))' >/dev/null ||
    die "rootfs: python3 does not run in the assembled root"
  # The standard library a function writer expects (issue 17): each must work, not only import.
  chroot "$r" /usr/bin/env -i /usr/bin/python3 - <"$stdlib_check" >/dev/null ||
    die "rootfs: a standard-library module does not work in the assembled root (functions/stdlib/handler.py)"
else
  chroot "$r" /usr/bin/env -i PATH=/usr/bin:/bin /usr/bin/node -e 'require("zlib").gzipSync("x"); require("crypto").randomUUID(); new URL("http://a/b")' ||
    die "rootfs: node does not run in the assembled root"
  if [[ -f $agent ]]; then
    chroot "$r" /usr/bin/env -i PATH=/usr/bin:/bin /usr/bin/node -e 'require("/usr/lib/snapfaas/snapfaas_agent.node").freshEntropy(8)' ||
      die "rootfs: the Node agent's addon does not load in the assembled root"
    rc=0; chroot "$r" /usr/lib/snapfaas/snapfaas-node-reaper 2>/dev/null || rc=$?
    [[ $rc -eq 2 ]] || die "rootfs: the Node agent's reaper does not run in the assembled root (exit $rc, want usage 2)"
  fi
fi

step "rootfs: mkfs.ext4 -d"
size_mib=$(( $(du -sm "$r" | cut -f1) * 110 / 100 + 8 ))
rm -f "$out.tmp"
mkfs.ext4 -q -F -L snapfaas-root -O ^has_journal -m 0 -E root_owner=0:0 -d "$r" "$out.tmp" "${size_mib}M" >/dev/null
mv "$out.tmp" "$out"
echo "$key" >"$out.key"
printf '%s\n' "$versions" >"$out.versions"
rm -rf "$work"
step "rootfs: $runtime built ${out#"$ROOT"/}: ${size_mib} MiB image ($(du -sm "$out" | cut -f1) MiB used on disk) in $((SECONDS - t0)) s"
