# The do-nothing responder (lib/responder.c) and how Swerve sends what it imitates; sourced by capped.sh and
# ceiling.sh (needs gcc).
#
#   build_responder OUT     compile lib/responder.c to OUT
#   sends_inline BYTES      true when Swerve writes a body of BYTES with its head in one writev (then the responder
#                           is given head and body as one HEADFILE and an empty BODYFILE)
#   responder_answer DIR URL [CURL-ARGS...]
#                           Swerve's answer at URL, as the responder is to send it: DIR/head and DIR/body (a body
#                           sent inline goes into DIR/head, and DIR/body is empty); as it came: DIR/swerve.head and
#                           DIR/swerve.body

# Swerve's HTTPHandler.inlineBodyLimit: bodies up to this size go out with their head in one writev.
SWERVE_INLINE_BODY_MAX=16384

build_responder() {
    gcc -O2 -Wall -o "$1" "$(dirname "${BASH_SOURCE[0]}")/responder.c"
}

sends_inline() {
    (( $1 <= SWERVE_INLINE_BODY_MAX ))
}

responder_answer() {
    local dir=$1 url=$2
    shift 2
    curl -s -D "$dir/swerve.head" -o "$dir/swerve.body" "$@" "$url" || return 1
    if sends_inline "$(stat -c %s "$dir/swerve.body")"; then
        cat "$dir/swerve.head" "$dir/swerve.body" >"$dir/head"
        : >"$dir/body"
    else
        cp "$dir/swerve.head" "$dir/head"
        cp "$dir/swerve.body" "$dir/body"
    fi
}
