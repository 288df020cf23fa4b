// zopfli (libzopfli-dev): a deflate encoder that searches much harder than zlib for a shorter stream – typically
// 4–8% smaller than zlib level 9, in the same gzip format, at ~100× zlib's CPU cost. Debian ships no pkg-config file
// for it; the library and headers sit in /usr/lib and /usr/include/zopfli.
#include <zopfli/zopfli.h>
