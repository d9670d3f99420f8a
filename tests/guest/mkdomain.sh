#!/bin/bash
# Fill tests/guest/domain.xml.in:
#   tests/guest/mkdomain.sh NAME IMAGE SERIAL_LOG > NAME.xml
# IMAGE and SERIAL_LOG are made absolute.  Names and paths must not contain
# the characters | & < > ' " (they are substituted into XML attributes).
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 NAME IMAGE SERIAL_LOG" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
name=$1
image=$(realpath -m -- "$2")
serial=$(realpath -m -- "$3")
for v in "$name" "$image" "$serial"; do
    case "$v" in *[\|\&\<\>\'\"]*) echo "$0: bad character in '$v'" >&2; exit 2 ;; esac
done
[[ "$name" =~ ^[A-Za-z0-9_.+-]+$ ]] || { echo "$0: bad domain name '$name'" >&2; exit 2; }
sed -e "s|@NAME@|$name|g" -e "s|@IMAGE@|$image|g" -e "s|@SERIAL_LOG@|$serial|g" \
    "$here/domain.xml.in"
