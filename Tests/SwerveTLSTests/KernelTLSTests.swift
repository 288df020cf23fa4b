import Foundation
import Testing

@testable import SwerveTLS

@Suite("Kernel TLS probe")
struct KernelTLSTests {
    @Test("the probe agrees with the kernel: available exactly when the tls module is loaded (/proc/net/tls_stat)")
    func agreesWithProc() {
        // The module registers /proc/net/tls_stat when it loads; attaching the ULP loads it on demand where it can
        // be loaded, so after the probe the file exists exactly when kTLS is there.
        let result = KernelTLS.probe()
        let hasModule = FileManager.default.fileExists(atPath: "/proc/net/tls_stat")
        if hasModule {
            #expect(result == .available)
        } else {
            #expect(result == .unavailable(reason: "the kernel has no tls module (TCP_ULP \"tls\": ENOENT)"))
        }
    }
}
