# shellcheck shell=bash
# pins.sh: the pinned-tool stamps shared by test/e2e/tools.sh, test/node/tools.sh and
# test/conformance/tools.sh. Sourced with BIN set to the tools directory: each binary
# has a .<name>.version file beside it naming the pin it was built from.
have() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.$1.version" 2>/dev/null)" = "$2" ]; }
mark() { echo "$2" > "$BIN/.$1.version"; }
