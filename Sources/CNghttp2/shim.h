// The system libnghttp2 (Debian libnghttp2-dev): HTTP/2 framing, HPACK and flow control for Swerve's HTTP/2
// (issue 17), the library curl and Apache httpd use. Swerve feeds it bytes and takes bytes back (mem_recv and
// mem_send); it never touches a socket.
#ifndef SWERVE_CNGHTTP2_SHIM_H
#define SWERVE_CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>
#endif
