#!/bin/sh
# Makes the images the stand-in's compose file names, on this server, from
# the server's own Debian (which carries Dovecot, Postfix, SQLite, Python and
# Redis): Mailu's images cannot be pulled here (no registry). The image
# names and tag are Mailu's own (setup/flavors/compose/docker-compose.yml:
# ${DOCKER_ORG:-ghcr.io/mailu}/${DOCKER_PREFIX:-}<service>:${MAILU_VERSION}),
# so the tool finds the version where it finds a real Mailu's.
#   sh images.sh 2024.06.57
set -eu
version=${1:?usage: images.sh MAILU_VERSION}
base=lab/debian-mail:1
# lab/debian:1 is reused when it already carries the mail servers (an engine
# that imported it before they were added keeps the old one).
if docker run --rm --network none lab/debian:1 sh -c 'command -v dovecot && command -v postfix' >/dev/null 2>&1; then
  base=lab/debian:1
elif ! docker image inspect "$base" >/dev/null 2>&1; then
  (cd / && tar -c --exclude=usr/sbin/dockerd --exclude='usr/bin/containerd*' --exclude='usr/bin/docker*' \
     --exclude=etc/ssh --exclude=usr/share/doc --exclude=usr/share/man --exclude=usr/share/locale \
     bin sbin lib lib64 usr etc var/lib/dpkg var/run 2>/dev/null) \
    | docker import -c 'LABEL org.opencontainers.image.version=lab-1' - "$base" >/dev/null
fi
# Each image carries /version and the label `version`, as Mailu's do
# ("Every docker image will have a docker label with the version. Every
# docker image will have the file /version", docs/releases.rst 1.9).
for s in admin dovecot postfix nginx; do
  img="ghcr.io/mailu/$s:$version"
  [ "$(docker image inspect -f '{{index .Config.Labels "version"}}' "$img" 2>/dev/null)" = "$version" ] && continue
  c=$(docker create --network none "$base" sh -c "echo $version > /version")
  docker start -a "$c" >/dev/null
  docker commit -c "LABEL version=$version" "$c" "$img" >/dev/null
  docker rm "$c" >/dev/null
done
docker tag "$base" redis:alpine
