#!/usr/bin/env bash
# The test guest dirties memory at exactly the rate its image was built for
# (QEMU's dirty-bitmap measurement at 5, 20 and 45 MiB/s), without KVM errors.
# A rate off its nominal exits 75 (a timing sample, retried); anything else 1.
cd "$(dirname "$0")/../.." || exit 1
exec bash tests/guest/run-qemu-test.sh
