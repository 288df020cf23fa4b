// Zstandard (libzstd-dev): RFC 8878, the `zstd` content coding as RFC 9659 profiles it (issue 18).
#include <zstd.h>
