#!/bin/sh
# Template instance -> published image -> fleet launch / rebuild, with lxops only.
#
#   flow.sh build VERSION     launch <prefix>web-VERSION from template.yaml, snapshot it,
#                             publish the snapshot as image <prefix>web-VERSION, delete it
#   flow.sh deploy VERSION    launch the fleet (<prefix>web1, <prefix>web2) from that image
#   flow.sh rebuild VERSION   rebuild the fleet from that image (device data stays)
#   flow.sh clean VERSION...  destroy the fleet and delete the images of those versions
#
# Environment: LXOPS (default: lxops-incus), PREFIX (default: empty), FLOW_ROOT (default:
# /var/lib/lxops-image-flow, where the fleet's /srv directories live).
set -eu
cd "$(dirname "$0")"
LXOPS=${LXOPS:-lxops-incus}
PREFIX=${PREFIX:-}
FLOW_ROOT=${FLOW_ROOT:-/var/lib/lxops-image-flow}
FLEET="${PREFIX}web1,${PREFIX}web2"

image() { echo "${PREFIX}web-$1"; }

case "${1:-}" in
build)
    version=$2
    template="${PREFIX}web-$version"
    "$LXOPS" launch -name "$template" template.yaml
    "$LXOPS" snapshot -c -s copy -name "$template" template.yaml
    # The version (serial, release) comes from the last digits of the template's name.
    "$LXOPS" publish -c template.yaml -alias "$(image "$version")" "$template/copy"
    "$LXOPS" delete --force -name "$template" template.yaml
    "$LXOPS" image info "$(image "$version")"
    ;;
deploy)
    "$LXOPS" launch -P "web-image=$(image "$2")" -P "flow-root=$FLOW_ROOT" -name "$FLEET" web.yaml
    "$LXOPS" image instances
    ;;
rebuild)
    "$LXOPS" rebuild -P "web-image=$(image "$2")" -P "flow-root=$FLOW_ROOT" -name "$FLEET" web.yaml
    "$LXOPS" image instances
    ;;
clean)
    "$LXOPS" destroy --force -P "web-image=unused" -P "flow-root=$FLOW_ROOT" -name "$FLEET" web.yaml || true
    shift
    for version in "$@"; do
        "$LXOPS" image delete "$(image "$version")" || true
    done
    ;;
*)
    sed -n '2,13p' "$0"
    exit 2
    ;;
esac
