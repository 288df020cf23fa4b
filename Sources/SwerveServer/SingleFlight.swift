import SwerveEngine
import Synchronization

/// Joins concurrent requests for the same off-loop work: the first caller for a key starts the job, later callers
/// only register to be resumed when it is done. One lock per call; waiters are resumed outside the lock.
final class SingleFlight<Key: Hashable & Sendable>: Sendable {
    private let waiting = Mutex<[Key: [ConnectionResumer]]>([:])

    /// Registers `resumer` for `key`. True: the caller must start the job (and later call `finish`).
    func join(_ key: Key, _ resumer: ConnectionResumer) -> Bool {
        waiting.withLock { waiting in
            if waiting[key] != nil {
                waiting[key]!.append(resumer)
                return false
            }
            waiting[key] = [resumer]
            return true
        }
    }

    /// Ends the job for `key` and resumes everyone who waited. Publish the result before calling this, so a
    /// resumed connection that looks again finds it.
    func finish(_ key: Key) {
        let waiters = waiting.withLock { $0.removeValue(forKey: key) } ?? []
        for waiter in waiters { waiter.resume() }
    }
}
