// A phone's day through the Kotlin API against a real siap-server on loopback: register with an
// enrollment code, pull the office fence, enroll a face, check in inside and outside, sync.
package id.go.siap.core

import java.io.File
import java.net.HttpURLConnection
import java.net.URI
import java.nio.file.Files
import kotlin.test.AfterTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assumptions.assumeTrue

class SyncTest {
    private val token = "kotlin-test-admin-token"
    private var server: Process? = null

    @AfterTest
    fun stop() {
        server?.destroy()
    }

    /** Starts siap-server on a free port; returns (base URL, server public key). */
    private fun startServer(): Pair<String, ByteArray> {
        val bin = System.getProperty("siap.server.bin")
        assumeTrue(bin != null && File(bin).canExecute(), "SKIPPED: siap-server binary not given (-Dsiap.server.bin)")
        val dir = Files.createTempDirectory("siap-server").toString()
        val p = ProcessBuilder(bin, "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin-token", token)
            .redirectError(ProcessBuilder.Redirect.INHERIT).start()
        server = p
        val line = p.inputStream.bufferedReader().readLine() ?: error("siap-server exited")
        val parts = line.split(" ")
        assertEquals("listening", parts[0], line)
        return "http://" + parts[1] to parts[3].chunked(2).map { it.toInt(16).toByte() }.toByteArray()
    }

    private fun admin(base: String, method: String, path: String, body: String): String {
        val c = URI(base + path).toURL().openConnection() as HttpURLConnection
        c.requestMethod = method
        c.doOutput = true
        c.setRequestProperty("Authorization", "Bearer $token")
        c.setRequestProperty("Content-Type", "application/json")
        c.outputStream.use { it.write(body.toByteArray()) }
        val code = c.responseCode
        val text = (if (code < 400) c.inputStream else c.errorStream).bufferedReader().readText()
        assertTrue(code in 200..299, "$method $path -> $code $text")
        return text
    }

    @Test
    fun `register, pull, check in and sync against a real server`() {
        assumeTrue(Support.facesDir != null, "SKIPPED: ../shared/faces not found (set -Dsiap.faces.dir)")
        val (base, serverKey) = startServer()
        admin(base, "PUT", "/v1/admin/sites/office",
            """{"name":"Balai Kota","fence":{"type":"circle","center":{"lat":-10.1635,"lon":123.5895},"radius_m":150.0}}""")
        admin(base, "PUT", "/v1/admin/employees/e1", """{"name":"Test","site_ids":["office"]}""")
        val enrollment = admin(base, "POST", "/v1/admin/enrollments", """{"binding":{"type":"employee","id":"e1"}}""")
        val code = Regex("\"code\"\\s*:\\s*\"([^\"]+)\"").find(enrollment)!!.groupValues[1]

        // This city allows a still selfie (requireLiveness = false) so that an accepted check-in can be
        // shown without video of a live head; the liveness session is exercised below all the same.
        val cfg = Support.config().copy(serverUrl = base, serverPublicKey = serverKey, requireLiveness = false)
        SiapCore.open(cfg, JvmSigner(), JvmClock).use { core ->
            runBlocking {
                assertEquals(core.status().deviceId, core.register(code))
                val first = core.sync()
                assertTrue(first.complete, first.errors.toString())
                assertTrue(first.pulled >= 2u, "pulled ${first.pulled}")
            }
            core.enrollFace("e1", listOf("obama/1.jpg", "obama/2.jpg", "obama/3.jpg").map(Support::photo))
            fun fix(lat: Double) = LocationFix(lat, 123.5895, 8.0, System.currentTimeMillis() - 500, "fused", false)
            val inside = core.check("e1", CheckDirection.IN, Support.photo("obama/4.jpg"), null, fix(-10.1636), Support.clock())
            assertTrue(inside.accepted, inside.reasons.toString())
            assertTrue(inside.similarity!! > 0.45f)
            assertFalse(inside.clockSkew)
            assertEquals(null, inside.livenessPassed)

            // A photo held still in front of the camera during a liveness session: the face matches,
            // the session fails, the check is recorded as rejected with the liveness reasons.
            val session = core.startLiveness("e1", Support.clock())
            val challenge = session.challenge()
            assertEquals(32, challenge.nonce.length)
            assertTrue(challenge.steps.size in 2..4)
            val start = Support.clock().monotonicMs
            val frame = Support.photo("obama/4.jpg")
            for (i in 1..10) {
                val f = session.pushFrame(frame, start + 100L * i)
                assertEquals(1u, f.faces)
                assertEquals(0u, f.stepsCompleted)
                assertEquals(challenge.steps[0], f.next)
            }
            assertFailsWith<SiapException.BadInput> {
                core.check("e1", CheckDirection.IN, frame, session, fix(-10.16362), Support.clock())
            }
            val spoof = core.check("e1", CheckDirection.IN, null, session, fix(-10.16361), Support.clock())
            assertFalse(spoof.accepted)
            assertEquals(listOf("liveness_failed"), spoof.reasons)
            assertEquals(false, spoof.livenessPassed)
            assertTrue("static_sequence" in spoof.livenessReasons, spoof.livenessReasons.toString())
            assertTrue(spoof.similarity!! > 0.45f)
            // A session is good for one check only.
            assertFailsWith<SiapException.BadInput> {
                core.check("e1", CheckDirection.IN, null, session, fix(-10.16363), Support.clock())
            }

            val outside = core.check("e1", CheckDirection.OUT, Support.photo("obama/4.jpg"), null, fix(-10.20), Support.clock())
            assertFalse(outside.accepted)
            // 4 km from the first fix a second later: outside, and flagged as an impossible move.
            assertEquals(listOf("outside_fence", "impossible_speed"), outside.reasons)
            assertEquals(3uL, core.status().pendingRecords)
            runBlocking {
                val second = core.sync()
                assertEquals(3uL, second.acknowledged)
                assertEquals(0uL, second.pending)
                // A retry is a no-op: nothing resent twice, nothing lost.
                assertEquals(0uL, core.sync().acknowledged)
            }
            assertEquals(0uL, core.status().pendingRecords)
        }
    }

    @Test
    fun `a citizen's phone shows its permit as signed by the city, offline after one sync`() {
        val (base, serverKey) = startServer()
        val deadline = System.currentTimeMillis() + 14L * 86_400_000
        admin(base, "PUT", "/v1/admin/permits/PBG-7",
            """{"permit_type":"PBG","status":"submitted","official_fee_idr":1250000,"deadline_ms":$deadline,"office":"DPMPTSP"}""")
        admin(base, "PUT", "/v1/admin/permits/PBG-8",
            """{"permit_type":"PBG","status":"submitted","official_fee_idr":999,"deadline_ms":$deadline,"office":"DPMPTSP"}""")
        val enrollment = admin(base, "POST", "/v1/admin/enrollments", """{"binding":{"type":"permit","id":"PBG-7"}}""")
        val code = Regex("\"code\"\\s*:\\s*\"([^\"]+)\"").find(enrollment)!!.groupValues[1]
        admin(base, "PUT", "/v1/admin/permits/PBG-7", """{"status":"in_review"}""")

        val cfg = Support.config(models = false).copy(serverUrl = base, serverPublicKey = serverKey)
        SiapCore.open(cfg, null, JvmClock).use { core ->
            runBlocking {
                core.register(code)
                val s = core.sync()
                assertTrue(s.complete, s.errors.toString())
            }
            // Only the citizen's own permit reaches the phone, with the official fee and the history.
            val all = core.permits(System.currentTimeMillis())
            assertEquals(listOf("PBG-7"), all.map { it.permitId })
            val p = core.permit("PBG-7", System.currentTimeMillis())
            assertEquals("in_review", p.status)
            assertEquals(1_250_000uL, p.officialFeeIdr)
            assertEquals(deadline, p.deadlineMs)
            assertFalse(p.overdue)
            assertEquals(listOf("submitted", "in_review"), p.timeline.map { it.status })
            // Past the deadline, the same signed permit reads as overdue.
            assertTrue(core.permit("PBG-7", deadline + 1).overdue)
            assertFailsWith<SiapException.NotFound> { core.permit("PBG-8", System.currentTimeMillis()) }
        }
    }
}
