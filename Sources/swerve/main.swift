import CSwerveSys
import Glibc
import Logging
import SwerveCLI
import SwerveServer

/// The command line: parse flags, start the server, wait for SIGINT/SIGTERM, stop gracefully.
/// All state lives in the libraries; the flags are SwerveCLI's, this file only acts on the outcome
/// (keep hot code out of main.swift).

/// Text on stderr, unbuffered, so it is out before `exit`.
func writeStandardError(_ text: String) {
    _ = text.withCString { Glibc.write(2, $0, strlen($0)) }
}

/// One clear line on stderr, then a non-zero exit.
func fail(_ message: String) -> Never {
    writeStandardError("swerve: error: \(message)\n")
    exit(1)
}

func run(_ configuration: ServerConfiguration) -> Never {
    // Block the signals before any loop thread exists, so they inherit the mask and only `sigwait` below
    // ever sees SIGINT/SIGTERM.
    swerve_block_signals()
    let server: Server
    do {
        server = try Server(configuration: configuration)
        try server.start()
    } catch {
        if error.isUsage {
            writeStandardError(CommandLineOptions.errorReport(error.description))
            exit(CommandLineOptions.usageExitCode)
        }
        fail("\(error)")
    }
    print("Swerve \(swerveVersion) serving \(configuration.root) at \(server.url)")
    fflush(nil)
    let signal = swerve_wait_signal()
    var logger = Logger(label: "swerve")
    logger.logLevel = .info
    logger.info("shutting down", metadata: ["signal": "\(signal)"])
    server.stop()
    exit(0)
}

switch CommandLineOptions.parse(CommandLine.arguments.dropFirst()) {
case .help(let text), .version(let text):
    print(text)
    exit(0)
case .error(let message):
    writeStandardError(CommandLineOptions.errorReport(message))
    exit(CommandLineOptions.usageExitCode)
case .run(let configuration):
    run(configuration)
}
