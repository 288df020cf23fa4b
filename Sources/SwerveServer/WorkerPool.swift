import CSwerveSys
import Glibc
import Synchronization

/// A few threads that run blocking work – compression, whole-file reads – off the event loops, so a loop never
/// waits for zlib or the disk on a cold file. Jobs are closures; a job resumes the connections that wait for it.
///
/// Cost per job: one lock to enqueue, one semaphore post (a futex wake only when a worker sleeps), one lock to
/// dequeue. Jobs are coarse (a whole file, or a 64 KiB stream piece), so this is noise.
final class WorkerPool: @unchecked Sendable {
    // @unchecked: `threads` is written only by init and `shutdown`, which the server calls once, from one thread;
    // the queue is behind its Mutex and the semaphore is thread-safe by definition.
    private let queue = Mutex<JobQueue>(JobQueue())
    private let available: UnsafeMutablePointer<sem_t>
    private var threads: [pthread_t] = []

    /// Threads run at SCHED_IDLE (`swerve_set_idle_priority`): background work that may take only idle CPU.
    let idlePriority: Bool

    struct JobQueue {
        var jobs: [(@Sendable () -> Void)?] = []
        var head = 0
        var stopping = false
    }

    init(threads count: Int, idlePriority: Bool = false) {
        self.idlePriority = idlePriority
        available = .allocate(capacity: 1)
        sem_init(available, 0, 0)
        for _ in 0..<max(1, count) {
            let box = Unmanaged.passRetained(WorkerBody(pool: self))
            var thread = pthread_t()
            if pthread_create(&thread, nil, workerThreadEntry, box.toOpaque()) == 0 {
                threads.append(thread)
            } else {
                box.release()
            }
        }
    }

    deinit {
        sem_destroy(available)
        available.deallocate()
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        queue.withLock { $0.jobs.append(job) }
        sem_post(available)
    }

    /// Lets queued jobs finish, then stops and joins the threads.
    func shutdown() {
        queue.withLock { $0.stopping = true }
        for _ in threads { sem_post(available) }
        for thread in threads { pthread_join(thread, nil) }
        threads.removeAll()
    }

    /// Stops without waiting: queued jobs are dropped, a running job finishes on its own (it holds references to
    /// whatever it uses), then its thread exits. For optional background work whose jobs can take seconds.
    func abandon() {
        queue.withLock { q in
            q.stopping = true
            q.jobs.removeAll()
            q.head = 0
        }
        for _ in threads { sem_post(available) }
        for thread in threads { pthread_detach(thread) }
        threads.removeAll()
    }

    fileprivate func runWorker() {
        // Failure (a seccomp filter, say) leaves the thread at normal priority: slower serving, nothing wrong.
        if idlePriority { _ = swerve_set_idle_priority() }
        while true {
            while sem_wait(available) != 0 {}  // EINTR
            let job: (@Sendable () -> Void)? = queue.withLock { q in
                guard q.head < q.jobs.count else { return nil }
                let job = q.jobs[q.head]
                q.jobs[q.head] = nil
                q.head += 1
                // Compact once the consumed prefix dominates, so the array does not grow forever.
                if q.head > 64 && q.head * 2 > q.jobs.count {
                    q.jobs.removeFirst(q.head)
                    q.head = 0
                }
                return job
            }
            if let job {
                job()
                continue
            }
            if queue.withLock({ $0.stopping && $0.head >= $0.jobs.count }) { return }
        }
    }
}

private final class WorkerBody: Sendable {
    let pool: WorkerPool
    init(pool: WorkerPool) { self.pool = pool }
}

/// A named global function for pthread_create (a closure literal from top-level code would crash under Swift 6).
private func workerThreadEntry(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let body = Unmanaged<WorkerBody>.fromOpaque(argument!).takeRetainedValue()
    body.pool.runWorker()
    return nil
}
