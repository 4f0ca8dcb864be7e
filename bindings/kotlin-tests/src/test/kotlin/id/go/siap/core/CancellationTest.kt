// Cancelling the suspend calls from Kotlin (the user leaves the screen: the coroutine is cancelled).
//
// What a cancellation does: cancelling the coroutine frees the call's Rust future, which sets the call's
// cancel flag (see bindings/src/run.rs). The work itself runs on a core worker thread and stops at its
// next checkpoint:
//   - enrollFace: before each photo is read, after all are read, after the embeddings are computed
//     (before the template is saved);
//   - check: after the selfie is decoded (before the face is compared), and before the ledger write;
//   - identify: after the photo is decoded and after the gallery is loaded;
//   - inspect: before each photo is read, and before the ledger write;
//   - register / sync: aborted at their next await (a request in flight is dropped; what the server
//     acknowledged stays acknowledged, see SyncTest).
// What cannot be stopped: a step already in progress completes — a photo being read or decoded, the face
// work between two checkpoints (an enrollment's detections and embeddings of all its photos, a check's
// comparison or liveness verification, an identification's detection), a signature by the platform key,
// and the ledger write once begun (a record is written whole or not at all). A call cancelled after its
// last checkpoint therefore still records (see the last test).
//
// The caller sees kotlinx's CancellationException, never SiapException.Cancelled: the Rust side returns
// Cancelled only to a future that nobody awaits any more, so that variant cannot be observed from Kotlin.
//
// The tests stop the core at a known point of its work with hooks (a photo delivered through a named
// pipe, a clock or signer that waits at a gate), cancel there, let the work go on, and then check what
// was and was not written. "Not written" is then confirmed by the next calls of the same kind: a
// cancelled call that went on would write (and read the clock, and sign) before them.
package id.go.siap.core

import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll

class CancellationTest {
    companion object {
        private val shared = SharedServer { office() }

        @JvmStatic
        @AfterAll
        fun stopServer() = shared.close()

        private val five = listOf("obama/2.jpg", "obama/3.jpg", "obama/4.jpg", "obama/1.jpg", "obama/2.jpg")
    }

    private val clock = TestClock()

    /** A registered, synced device of [employee], its face enrolled and approved, still selfies allowed. */
    private suspend fun device(employee: String, signer: JvmSigner): SiapCore {
        val server = shared.get()
        server.employee(employee)
        val code = server.enrollmentCode("employee", employee)
        val core = SiapCore.open(server.config(models = true, requireLiveness = false), signer, clock)
        core.register(code)
        assertTrue(core.sync().complete)
        val enrolled = core.enrollFace(employee, listOf("obama/1.jpg", "obama/2.jpg", "obama/3.jpg").map(Support::photo))
        assertTrue(core.sync().complete)
        server.approveFace(employee, enrolled.templateSha256)
        assertTrue(core.sync().complete)
        return core
    }

    @Test
    fun `a cancelled enrollment stops between photos and enrolls nothing`(): Unit = runBlocking {
        SiapCore.open(Support.config(models = true), null, clock).use { core ->
            val first = FifoPhoto(Support.photoBytes("obama/1.jpg"))
            val photos = listOf(first.image) + listOf("obama/2.jpg", "obama/3.jpg", "obama/4.jpg", "obama/1.jpg").map(Support::photo)
            val reads = clock.reads.get()
            val call = async(Dispatchers.Default) { core.enrollFace("e1", photos) }
            // The core has started: it is reading photo 1 on its worker thread.
            first.open()
            call.cancelAndJoin()
            assertTrue(call.isCancelled)
            assertFailsWith<CancellationException> { call.await() }
            // Photo 1 arrives and is decoded (that cannot be interrupted); the checkpoint before photo 2
            // stops the work: photos 2-5 are not decoded, no face is detected, nothing is saved.
            first.deliver()
            assertFailsWith<SiapException.NotEnrolled> { core.startLiveness("e1") }

            // The next calls work. Two full enrollments take longer than the cancelled one would have had
            // left, had it gone on: e1 would be enrolled (and the clock read for its save) by now.
            core.enrollFace("e2", five.map(Support::photo))
            core.enrollFace("e3", five.map(Support::photo))
            core.startLiveness("e2").close()
            assertFailsWith<SiapException.NotEnrolled> { core.startLiveness("e1") }
            // Only the two saves and the one session read the clock.
            assertEquals(reads + 3, clock.reads.get())
            core.enrollFace("e1", five.take(3).map(Support::photo))
            core.startLiveness("e1").close()
        }
    }

    @Test
    fun `a cancelled identification returns nothing and the next one works`(): Unit = runBlocking {
        SiapCore.open(Support.config(models = true), null, clock).use { core ->
            core.enrollFace("e1", listOf("obama/1.jpg", "obama/2.jpg", "obama/3.jpg").map(Support::photo))
            val photo = FifoPhoto(Support.photoBytes("multi/obama_and_biden.jpg"))
            val call = async(Dispatchers.Default) { core.identify(photo.image) }
            photo.open()
            call.cancelAndJoin()
            assertFailsWith<CancellationException> { call.await() }
            photo.deliver() // decoded, then the checkpoint stops it before any detection
            assertEquals(listOf("e1"), core.identify(Support.photo("multi/obama_and_biden.jpg")).mapNotNull { it.employeeId })
        }
    }

    @Test
    fun `a check cancelled before its checkpoints records nothing, and the next check works`(): Unit = runBlocking {
        val signer = JvmSigner()
        device("e-cancel", signer).use { core ->
            val records = core.status().records
            val signed = signer.calls.get()
            val gate = Gate()
            clock.gate = gate
            val call = async(Dispatchers.Default) {
                core.check("e-cancel", CheckDirection.IN, Support.selfie("obama/4.jpg"), clock.fix(OFFICE_LAT, OFFICE_LON))
            }
            // The check's first step: the core reads the platform clock (the time of the event).
            gate.awaitEntered()
            call.cancelAndJoin()
            assertFailsWith<CancellationException> { call.await() }
            // The work goes on to decode the selfie, then stops at the checkpoint before the face is
            // compared: no comparison, no signature, no record.
            gate.release()

            // The next checks work, and take the next seqs. Two full checks take longer than what the
            // cancelled one had left when released, had it gone on: its record would be there by now.
            for (i in 1..2) {
                val next = core.check("e-cancel", CheckDirection.IN, Support.selfie("obama/4.jpg"), clock.fix(OFFICE_LAT - 0.00001 * i, OFFICE_LON))
                assertTrue(next.accepted, next.reasons.toString())
                assertEquals(records + i.toULong(), next.seq)
            }
            assertEquals(records + 2uL, core.status().records)
            assertEquals(signed + 2, signer.calls.get())
        }
    }

    @Test
    fun `a signature in progress completes - a check cancelled while the key signs is recorded whole`(): Unit = runBlocking {
        val signer = JvmSigner()
        device("e-late", signer).use { core ->
            val records = core.status().records
            val gate = Gate()
            signer.gate = gate
            val call = async(Dispatchers.Default) {
                core.check("e-late", CheckDirection.OUT, Support.selfie("obama/4.jpg"), clock.fix(OFFICE_LAT, OFFICE_LON))
            }
            // The platform key is signing the record: the check is past its last checkpoint.
            gate.awaitEntered()
            call.cancelAndJoin()
            assertFailsWith<CancellationException> { call.await() }
            gate.release()
            // The caller is gone, but the record is written, whole and signed (the answer is dropped).
            awaitUntil { core.status().records == records + 1uL }
            assertEquals(records + 2uL, core.check("e-late", CheckDirection.IN, Support.selfie("obama/4.jpg"), clock.fix(OFFICE_LAT - 0.00001, OFFICE_LON)).seq)
            assertEquals(0uL, core.sync().pending)
        }
    }

    /** Polls [condition] until it holds (the core finishes work nobody awaits any more). */
    private fun awaitUntil(condition: () -> Boolean) {
        val deadline = System.nanoTime() + HOOK_TIMEOUT.toNanos()
        while (!condition()) {
            assertTrue(System.nanoTime() < deadline, "condition not reached within $HOOK_TIMEOUT")
            Thread.sleep(10)
        }
    }
}
