package id.go.siap.app.ui

import id.go.siap.app.SiapApp
import id.go.siap.app.platform.FrameGrabber
import id.go.siap.core.HeadMovement
import id.go.siap.core.LivenessFeedback
import id.go.siap.core.LivenessHint
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

/** The core's hint for a frame, as a sentence; `null` when the movement prompt says it all. */
fun LivenessHint.prompt(): String = when (this) {
    LivenessHint.NO_FACE -> "Arahkan wajah ke kamera"
    LivenessHint.ONE_FACE_ONLY -> "Hanya satu orang di depan kamera"
    LivenessHint.MOVE_CLOSER -> "Dekatkan wajah ke kamera"
    LivenessHint.HOLD_STILL -> "Lihat ke kamera dan diam sejenak"
    LivenessHint.TURN_FURTHER -> "Sedikit lagi"
    LivenessHint.COME_BACK -> "Bagus, sekarang kembali lihat ke kamera"
}

/** What to show for one frame's feedback: the hint first, then the movement asked for. */
fun LivenessFeedback.prompt(): String? = when {
    failed -> null
    hint == LivenessHint.TURN_FURTHER -> next?.prompt()?.let { "$it (${hint!!.prompt()})" }
    hint != null -> hint!!.prompt()
    else -> next?.prompt()
}

/**
 * Runs the core's liveness challenge: shows each movement via [onPrompt] and streams camera frames to
 * the session at about 10 per second until the core says the challenge is answered, has failed, or its
 * time is up. Every decision is the core's; this only moves frames and text. The caller passes the
 * session to `SiapCore.check` as `FaceInput.Liveness` (and closes it). Cancelling the calling coroutine
 * (leaving the screen) stops the loop at the next frame; the session is then closed here.
 */
suspend fun runLiveness(
    core: SiapCore,
    app: SiapApp,
    grabber: FrameGrabber,
    employeeId: String,
    enrollment: Boolean = false,
    onPrompt: (String?) -> Unit,
): LivenessSession {
    // The core reads its clock and draws the challenge (a database read: off the main thread); an
    // enrollment's session is for someone without an approved face yet.
    val session = withContext(Dispatchers.IO) {
        if (enrollment) core.startEnrollment(employeeId) else core.startLiveness(employeeId)
    }
    try {
        val challenge = session.challenge()
        // Frames are timed on the monotonic clock of the same DeviceClock the core reads.
        val start = app.clock.monotonicMs()
        onPrompt(challenge.steps.firstOrNull()?.prompt())
        while (app.clock.monotonicMs() - start < challenge.totalTimeoutMs) {
            val frame = grabber.next()
            // The frame's arrival on the monotonic clock stands in for its capture time.
            val at = app.clock.monotonicMs()
            // Detection, face mesh and optical flow: CPU work, never on the main thread.
            val feedback = withContext(Dispatchers.Default) { session.pushFrame(frame, at) }
            onPrompt(feedback.prompt())
            if (feedback.failed || feedback.next == null) break
            delay(maxOf(0L, 100L - (app.clock.monotonicMs() - at)))
        }
        return session
    } catch (e: Throwable) {
        session.close()
        throw e
    } finally {
        onPrompt(null)
    }
}
