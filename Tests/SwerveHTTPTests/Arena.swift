@testable import SwerveHTTP

/// Copies the strings into one long-lived buffer so the evaluator can borrow stable pointers.
final class Arena {
    private var blocks: [UnsafeMutableRawBufferPointer] = []

    func bytes(_ s: String) -> UnsafeRawBufferPointer {
        let utf8 = Array(s.utf8)
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: max(utf8.count, 1), alignment: 1)
        utf8.withUnsafeBytes { block.copyMemory(from: $0) }
        blocks.append(block)
        return UnsafeRawBufferPointer(rebasing: block[0..<utf8.count])
    }

    func lines(_ values: [String]) -> FieldLines {
        var lines = FieldLines()
        for v in values { lines.append(bytes(v)) }
        return lines
    }

    deinit { for b in blocks { b.deallocate() } }
}
