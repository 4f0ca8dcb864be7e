// The platform seams throw into Rust: a PlatformSigner or PlatformClock that fails with the typed
// SiapException gets its reason back unchanged, in the error of the call that needed it; one that
// throws any other exception still gives a typed error (never a crash); and nothing is recorded
// without a signature or a clock reading.
package id.go.siap.core

import java.security.InvalidKeyException
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll

class CallbackTest {
    companion object {
        private val shared = SharedServer {
            office()
            asset("A-1")
        }

        @JvmStatic
        @AfterAll
        fun stopServer() = shared.close()
    }

    private val server get() = shared.get()
    private val clock = TestClock()

    /** A registered, synced device of [employee] (so that checks and inspections get recorded). */
    private suspend fun device(employee: String, signer: JvmSigner): SiapCore {
        server.employee(employee)
        val code = server.enrollmentCode("employee", employee)
        val core = SiapCore.open(server.config(), signer, clock)
        core.register(code)
        assertTrue(core.sync().complete)
        return core
    }

    private fun fix(i: Int) = clock.fix(OFFICE_LAT - 0.00001 * i, OFFICE_LON)

    private val photo = Support.jpegStub

    @Test
    fun `a signer's typed failure comes back to the caller with its reason, and nothing is written`(): Unit = runBlocking {
        // The key cannot even be read: the open fails with the platform's words.
        val locked = object : PlatformSigner {
            override fun publicKey(): ByteArray = throw SiapException.Signer("keystore locked")
            override fun sign(message: ByteArray): ByteArray = throw SiapException.Signer("keystore locked")
        }
        val open = assertFailsWith<SiapException.Signer> { SiapCore.open(Support.config(), locked, clock) }
        assertEquals("keystore locked", open.reason)

        val signer = JvmSigner()
        device("e-signer", signer).use { core ->
            val first = core.check("e-signer", CheckDirection.IN, null, fix(1))
            assertEquals(1uL, first.seq)
            val signed = signer.calls.get()

            // The user removed the screen lock: the key stops signing.
            signer.failure = SiapException.Signer("user removed the screen lock")
            val check = assertFailsWith<SiapException.Signer> { core.check("e-signer", CheckDirection.OUT, null, fix(2)) }
            assertEquals("user removed the screen lock", check.reason)
            val insp = assertFailsWith<SiapException.Signer> { core.inspect("A-1", AssetCondition.GOOD, "", listOf(photo), fix(3)) }
            assertEquals("user removed the screen lock", insp.reason)
            assertEquals(1uL, core.status().records)
            assertEquals(signed, signer.calls.get())

            // The key works again: the chain goes on where it stopped.
            signer.failure = null
            assertEquals(2uL, core.check("e-signer", CheckDirection.OUT, null, fix(4)).seq)
            assertEquals(2uL, core.sync().acknowledged)
        }

        // Registration proves the key to the server by a signature, made before anything is sent.
        val unregistered = JvmSigner().apply { failure = SiapException.Signer("biometric prompt dismissed") }
        SiapCore.open(server.config(), unregistered, clock).use { core ->
            val e = assertFailsWith<SiapException.Signer> { core.register(server.enrollmentCode("employee", "e-signer")) }
            assertEquals("biometric prompt dismissed", e.reason)
            assertFalse(core.status().registered)
        }
    }

    @Test
    fun `a signer throwing an ordinary exception gives a typed Signer error, not a crash`(): Unit = runBlocking {
        val broken = object : PlatformSigner {
            override fun publicKey(): ByteArray = throw IllegalStateException("keystore service died")
            override fun sign(message: ByteArray): ByteArray = throw IllegalStateException("keystore service died")
        }
        val open = assertFailsWith<SiapException.Signer> { SiapCore.open(Support.config(), broken, clock) }
        assertTrue("IllegalStateException" in open.reason && "keystore service died" in open.reason, open.reason)

        // Not even an Exception (a JVM Error): the generated code does not catch it (JNA logs it), and the
        // core sees an empty answer; still a typed error, still no crash.
        val erring = object : PlatformSigner {
            override fun publicKey(): ByteArray = throw AssertionError("not an Exception")
            override fun sign(message: ByteArray): ByteArray = throw AssertionError("not an Exception")
        }
        assertFailsWith<SiapException.Signer> { SiapCore.open(Support.config(), erring, clock) }

        val signer = JvmSigner()
        device("e-broken", signer).use { core ->
            // What Android throws when a key was invalidated by a new fingerprint (a checked exception).
            signer.failure = InvalidKeyException("key permanently invalidated")
            val e = assertFailsWith<SiapException.Signer> { core.check("e-broken", CheckDirection.IN, null, fix(1)) }
            assertTrue("key permanently invalidated" in e.reason, e.reason)
            signer.failure = RuntimeException("unexpected")
            assertFailsWith<SiapException.Signer> { core.inspect("A-1", AssetCondition.LOST, "", listOf(photo), fix(2)) }
            assertEquals(0uL, core.status().records)
            signer.failure = null
            assertEquals(1uL, core.check("e-broken", CheckDirection.IN, null, fix(3)).seq)
        }
    }

    @Test
    fun `the app stays usable while the platform key waits for the user`(): Unit = runBlocking {
        val signer = JvmSigner()
        device("e-prompt", signer).use { core ->
            val gate = Gate()
            signer.gate = gate
            val call = async(Dispatchers.Default) { core.check("e-prompt", CheckDirection.IN, null, fix(1)) }
            // A BiometricPrompt is up: the signature waits for the user.
            gate.awaitEntered()
            try {
                // The status screen still reads the database meanwhile (a read of milliseconds: 10 s
                // means it waits for the signer, which holds at the gate for up to HOOK_TIMEOUT).
                val status = Executors.newSingleThreadExecutor().submit<DeviceStatus> { core.status() }
                val records = try {
                    status.get(10, TimeUnit.SECONDS).records
                } catch (e: TimeoutException) {
                    fail("status() waited for the platform signer")
                }
                assertEquals(0uL, records)
            } finally {
                gate.release()
            }
            assertEquals(1uL, call.await().seq)
        }
    }

    @Test
    fun `a clock that cannot be read fails the call with its reason and records nothing`(): Unit = runBlocking {
        val signer = JvmSigner()
        device("e-clock", signer).use { core ->
            val signed = signer.calls.get()
            clock.failure = SiapException.Clock("elapsedRealtime unavailable")
            val check = assertFailsWith<SiapException.Clock> { core.check("e-clock", CheckDirection.IN, null, fix(1)) }
            assertEquals("elapsedRealtime unavailable", check.reason)
            val insp = assertFailsWith<SiapException.Clock> { core.inspect("A-1", AssetCondition.GOOD, "", listOf(photo), fix(2)) }
            assertEquals("elapsedRealtime unavailable", insp.reason)
            // Permits are judged at trusted time, which needs the clock too.
            assertEquals("elapsedRealtime unavailable", assertFailsWith<SiapException.Clock> { core.permits() }.reason)

            // Any other exception from the clock is a Clock error as well.
            clock.failure = IllegalStateException("clock service died")
            val other = assertFailsWith<SiapException.Clock> { core.check("e-clock", CheckDirection.IN, null, fix(3)) }
            assertTrue("clock service died" in other.reason, other.reason)

            clock.failure = StackOverflowError("not an Exception")
            assertFailsWith<SiapException.Clock> { core.check("e-clock", CheckDirection.IN, null, fix(4)) }

            assertEquals(0uL, core.status().records)
            assertEquals(signed, signer.calls.get())
            clock.failure = null
            assertEquals(1uL, core.check("e-clock", CheckDirection.IN, null, fix(5)).seq)
        }
    }
}
