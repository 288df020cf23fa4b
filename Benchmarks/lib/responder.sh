# The do-nothing responder (lib/responder.c) and how Swerve sends what it imitates; sourced by capped.sh and
# ceiling.sh (needs gcc).
#
#   build_responder OUT     compile lib/responder.c to OUT
#   sends_inline BYTES      true when Swerve writes a body of BYTES with its head in one writev (then the responder
#                           is given head and body as one HEADFILE and an empty BODYFILE)

# Swerve's HTTPHandler.inlineBodyLimit: bodies up to this size go out with their head in one writev.
SWERVE_INLINE_BODY_MAX=16384

build_responder() {
    gcc -O2 -Wall -o "$1" "$(dirname "${BASH_SOURCE[0]}")/responder.c"
}

sends_inline() {
    (( $1 <= SWERVE_INLINE_BODY_MAX ))
}
