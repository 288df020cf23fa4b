// zlib for Swift. ZLIB_CONST makes `next_in` a const pointer, so input buffers need no mutable casts.
#define ZLIB_CONST
#include <zlib.h>
