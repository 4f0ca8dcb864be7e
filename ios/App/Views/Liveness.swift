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

/// Runs the core's liveness challenge: shows each movement via `onPrompt` and streams camera frames to
/// the session at about 10 per second until the core says the challenge is answered, has failed, or its
/// time is up. Every decision is the core's; this only moves frames and text.
@MainActor
func runLiveness(
    core: SiapCore,
    camera: FrameGrabber,
    clock: DeviceClock,
    employeeId: String,
    onPrompt: @escaping (String?) -> Void
) async throws -> LivenessSession {
    let start = clock.now()
    let session = try await offMain { try core.startLiveness(employeeId: employeeId, clock: start) }
    let challenge = session.challenge()
    onPrompt(challenge.steps.first?.prompt)
    while clock.now().monotonicMs - start.monotonicMs < challenge.totalTimeoutMs {
        let frame = try await camera.next()
        // The frame's arrival on the monotonic clock stands in for its capture time.
        let at = clock.now().monotonicMs
        let feedback = try await offMain { try session.pushFrame(frame: frame, monotonicMs: at) }
        if feedback.failed {
            onPrompt(nil)
        } else if feedback.faces == 0 {
            onPrompt("Arahkan wajah ke kamera")
        } else if feedback.faces > 1 {
            onPrompt("Hanya satu orang di depan kamera")
        } else {
            onPrompt(feedback.next?.prompt)
        }
        if feedback.failed || feedback.next == nil { break }
        let spent = clock.now().monotonicMs - at
        if spent < 100 { try await Task.sleep(nanoseconds: UInt64(100 - spent) * 1_000_000) }
    }
    onPrompt(nil)
    return session
}
