// brotli's encoder (libbrotli-dev, libbrotlienc): RFC 7932, the `br` content coding (issue 18).
#include <brotli/encode.h>
