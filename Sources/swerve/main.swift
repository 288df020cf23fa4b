import CSwerveSys
import Glibc
import Logging
import SwerveCLI
import SwerveServer

/// The command line: parse flags, start the server, then act on signals until told to stop.
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
    // Block the signals before any thread exists, so every thread inherits the mask and only the waits below ever
    // see SIGINT, SIGTERM, SIGUSR1 and SIGHUP.
    swerve_block_signals()
    // The server's own messages go to stderr in the access log's style, through the thread that writes the logs.
    let writer = LogWriter()
    LoggingSystem.bootstrap { _ in ServerLogHandler(writer: writer, format: configuration.accessLogFormat) }
    let logger = Logger(label: "swerve")
    let server: Server
    do {
        server = try Server(configuration: configuration, logger: logger, logWriter: writer)
        try server.start()
    } catch {
        writer.finish()
        if error.isUsage {
            writeStandardError(CommandLineOptions.errorReport(error.description))
            exit(CommandLineOptions.usageExitCode)
        }
        fail("\(error)")
    }
    logger.info("swerve \(swerveVersion) serving", metadata: server.startupMetadata)
    while true {
        let signal = swerve_wait_signal()
        if signal == SIGUSR1 {
            // logrotate has moved the file: open it afresh.
            server.reopenLogs()
            continue
        }
        if signal == SIGHUP {
            // A renewed certificate (certbot's deploy hook): new connections get it, open ones keep theirs.
            server.reloadTLS()
            continue
        }
        logger.notice("shutting down", metadata: ["signal": "\(signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT" : "\(signal)")"])
        // SIGTERM is what an orchestrator sends: fail the health check first, so load balancers move traffic away
        // before the listener closes. Ctrl-C (SIGINT) at a terminal stops at once; so does a second signal.
        let delay = signal == SIGTERM ? server.drainDelay : 0
        server.beginDraining()
        if delay > 0 {
            var remaining = Int(delay * 1000)
            while remaining > 0 {
                let started = monotonicMilliseconds()
                let next = swerve_wait_signal_timeout(Int32(clamping: remaining))
                if next == SIGUSR1 {
                    server.reopenLogs()
                } else if next == SIGHUP {
                    server.reloadTLS()
                } else if next != 0 {
                    break
                }
                remaining -= Int(monotonicMilliseconds() - started)
            }
        }
        server.stop()
        exit(0)
    }
}

func monotonicMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
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
