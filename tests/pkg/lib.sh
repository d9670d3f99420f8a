# Shared by tests/pkg/test_*.sh: logging, and the rule for a missing tool
# (exit 77 for a skip; under CI=true a failure, since CI must not pass by not
# testing). Source it after setting name.
log() { echo "[$name] $*"; }
fail() {
	log "FAIL: $*"
	exit 1
}
missing() {
	if [ "${CI:-}" = "true" ]; then
		fail "$* (CI=true: a missing prerequisite is a failure)"
	fi
	log "SKIP: $*"
	exit 77
}
need_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || missing "$t is missing (make deps installs it)"
	done
}
