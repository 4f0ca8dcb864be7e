import SiapFFI
import SwiftUI

extension HeadMovement {
    /// What to tell the person for each movement the core asks for.
    var prompt: String {
        switch self {
        case .turnLeft: return "Tolehkan kepala ke kiri, lalu kembali"
        case .turnRight: return "Tolehkan kepala ke kanan, lalu kembali"
        case .lookUp: return "Angkat dagu, lalu kembali"
        case .lookDown: return "Tundukkan kepala, lalu kembali"
        }
    }
}

extension LivenessHint {
    /// The core's hint for a frame, as a sentence.
    var prompt: String {
        switch self {
        case .noFace: return "Arahkan wajah ke kamera"
        case .oneFaceOnly: return "Hanya satu orang di depan kamera"
        case .moveCloser: return "Dekatkan wajah ke kamera"
        case .holdStill: return "Lihat ke kamera dan diam sejenak"
        case .turnFurther: return "Sedikit lagi"
        case .comeBack: return "Bagus, sekarang kembali lihat ke kamera"
        }
    }
}

extension LivenessFeedback {
    /// What to show for one frame: the hint first, then the movement asked for.
    var prompt: String? {
        if failed { return nil }
        if hint == .turnFurther, let next = next { return "\(next.prompt) (\(LivenessHint.turnFurther.prompt))" }
        if let hint = hint { return hint.prompt }
        return next?.prompt
    }
}

/// Runs the core's liveness challenge: shows each movement via `onPrompt` and streams camera frames to
/// the session at about 10 per second until the core says the challenge is answered, has failed, or its
/// time is up. Every decision is the core's; this only moves frames and text. The caller passes the
/// session to `SiapCore.check` as `.liveness(session:)`. Cancelling the calling task (the view went away)
/// ends the loop with `CancellationError` at the next frame.
@MainActor
func runLiveness(
    core: SiapCore,
    camera: FrameGrabber,
    clock: DeviceClock,
    employeeId: String,
    enrollment: Bool = false,
    onPrompt: @escaping (String?) -> Void
) async throws -> LivenessSession {
    defer { onPrompt(nil) }
    // The core reads its clock and draws the challenge (a database read: off the main thread); an
    // enrollment's session is for someone without an approved face yet.
    let session = try await offMain {
        enrollment ? try core.startEnrollment(employeeId: employeeId) : try core.startLiveness(employeeId: employeeId)
    }
    let challenge = session.challenge()
    // Frames are timed on the monotonic clock of the same DeviceClock the core reads.
    let start = clock.monotonicMs()
    onPrompt(challenge.steps.first?.prompt)
    while clock.monotonicMs() - start < challenge.totalTimeoutMs {
        try Task.checkCancellation()
        let frame = try await camera.next()
        // The frame's arrival on the monotonic clock stands in for its capture time.
        let at = clock.monotonicMs()
        // Detection, face mesh and optical flow: CPU work, never on the main thread.
        let feedback = try await offMain { try session.pushFrame(frame: frame, monotonicMs: at) }
        onPrompt(feedback.prompt)
        if feedback.failed || feedback.next == nil { break }
        let spent = clock.monotonicMs() - at
        if spent < 100 { try await Task.sleep(nanoseconds: UInt64(100 - spent) * 1_000_000) }
    }
    return session
}
