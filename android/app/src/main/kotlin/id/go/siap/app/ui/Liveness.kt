package id.go.siap.app.ui

import id.go.siap.app.SiapApp
import id.go.siap.app.platform.FrameGrabber
import id.go.siap.core.HeadMovement
import id.go.siap.core.LivenessSession
import id.go.siap.core.SiapCore
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.withContext

/** What to tell the person for each movement the core asks for. */
fun HeadMovement.prompt(): String = when (this) {
    HeadMovement.TURN_LEFT -> "Tolehkan kepala ke kiri, lalu kembali"
    HeadMovement.TURN_RIGHT -> "Tolehkan kepala ke kanan, lalu kembali"
    HeadMovement.LOOK_UP -> "Angkat dagu, lalu kembali"
    HeadMovement.LOOK_DOWN -> "Tundukkan kepala, lalu kembali"
}

/**
 * Runs the core's liveness challenge: shows each movement via [onPrompt] and streams camera frames to
 * the session at about 10 per second until the core says the challenge is answered, has failed, or its
 * time is up. Every decision is the core's; this only moves frames and text. The session is then passed
 * to `SiapCore.check`.
 */
suspend fun runLiveness(
    core: SiapCore,
    app: SiapApp,
    grabber: FrameGrabber,
    employeeId: String,
    onPrompt: (String?) -> Unit,
): LivenessSession {
    val session = withContext(Dispatchers.Default) { core.startLiveness(employeeId, app.clock.now()) }
    val challenge = session.challenge()
    val start = app.clock.now().monotonicMs
    onPrompt(challenge.steps.firstOrNull()?.prompt())
    while (app.clock.now().monotonicMs - start < challenge.totalTimeoutMs) {
        val frame = grabber.next()
        // The frame's arrival on the monotonic clock stands in for its capture time.
        val at = app.clock.now().monotonicMs
        val feedback = withContext(Dispatchers.Default) { session.pushFrame(frame, at) }
        onPrompt(
            when {
                feedback.failed -> null
                feedback.faces == 0u -> "Arahkan wajah ke kamera"
                feedback.faces > 1u -> "Hanya satu orang di depan kamera"
                else -> feedback.next?.prompt()
            },
        )
        if (feedback.failed || feedback.next == null) break
        delay(maxOf(0L, 100L - (app.clock.now().monotonicMs - at)))
    }
    onPrompt(null)
    return session
}
