#!/usr/bin/env bash
# Operator-side tools the copy tests and bench/copy.sh need (the servers'
# tools come with the lab image, see lab/build-rootfs.sh). Idempotent, quick
# when done. The two-server lab itself is brought up by the lab's own CI step
# (lab/up.sh); tests/it/copy_e2e.rs fails if it is not running.
set -euo pipefail
need=()
for pair in ssh:openssh-client ssh-keygen:openssh-client tar:tar find:findutils \
            sha256sum:coreutils zstd:zstd rsync:rsync python3:python3 hyperfine:hyperfine bc:bc; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y --no-install-recommends "${need[@]}"
fi
echo "copy: operator tools present"
