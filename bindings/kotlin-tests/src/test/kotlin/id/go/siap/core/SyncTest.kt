// Phones through the Kotlin API against a real siap-server on loopback: an employee's day (register,
// pull the office fence, enroll, check in and out, inspect, sync), every rejection reason and location
// flag as typed enums, concurrent calls, a device without face models, a citizen's permit judged at
// trusted time, and the server's and the network's errors.
package id.go.siap.core

import java.time.Duration
import java.time.Instant
import java.util.Base64
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.yield
import org.junit.jupiter.api.AfterAll

class SyncTest {
    companion object {
        private val shared = SharedServer { office() }

        @JvmStatic
        @AfterAll
        fun stopServer() = shared.close()

        private val obama = listOf("obama/1.jpg", "obama/2.jpg", "obama/3.jpg")

        /** The records the server holds for [deviceId]: (kind, payload JSON). */
        fun TestServer.records(deviceId: String): List<Pair<String, String>> {
            val json = admin("GET", "/v1/admin/devices/$deviceId/records", "")
            return Regex("\"kind\":\"([^\"]+)\",\"payload\":\"([^\"]+)\"").findAll(json)
                .map { it.groupValues[1] to String(Base64.getDecoder().decode(it.groupValues[2])) }
                .toList()
        }
    }

    private val server get() = shared.get()
    private val clock = TestClock()

    /** A device registered for [employee] and synced (office fence, employees and assets pulled). */
    private suspend fun employeeDevice(employee: String, cfg: CoreConfig, signer: PlatformSigner? = JvmSigner()): SiapCore {
        val code = server.enrollmentCode("employee", employee)
        val core = SiapCore.open(cfg, signer, clock)
        assertEquals(core.status().deviceId, core.register(code))
        val s = core.sync()
        assertTrue(s.complete, s.problems.toString())
        return core
    }

    @Test
    fun `an employee's day - register, pull, enroll, check in and out, inspect, sync`(): Unit = runBlocking {
        server.employee("e-day")
        server.asset("A-1")
        // This city allows a still selfie (requireLiveness = false) so that an accepted check-in can be
        // shown without video of a live head; liveness sessions are exercised below all the same.
        val cfg = server.config(models = true, requireLiveness = false)
        employeeDevice("e-day", cfg).use { core ->
            val s = core.status()
            assertTrue(s.registered)
            assertTrue(s.faceReady)
            // Enrolled, pending; HR approves the template from the record the phone uploaded; the phone
            // pulls the signed approval. Only then does a check-in count.
            val enrolled = core.enrollFace("e-day", obama.map(Support::photo))
            assertEquals(FaceApproval.Pending, enrolled.approval)
            val pending = core.check("e-day", CheckDirection.IN, Support.selfie("obama/4.jpg"), clock.fix(-10.16361, OFFICE_LON))
            assertEquals(listOf(CheckReason.ENROLLMENT_PENDING), pending.reasons)
            assertTrue(core.sync().complete)
            server.approveFace("e-day", enrolled.templateSha256)
            assertTrue(core.sync().complete)
            assertEquals(FaceApproval.Approved, core.faceStatus("e-day")?.approval)

            val inside = core.check("e-day", CheckDirection.IN, Support.selfie("obama/4.jpg"), clock.fix(-10.1636, OFFICE_LON))
            assertTrue(inside.accepted, inside.reasons.toString())
            assertEquals(emptyList(), inside.reasons)
            assertEquals(emptyList(), inside.flags)
            assertEquals("office", inside.siteId)
            assertTrue(inside.distanceToEdgeM!! < 0, inside.distanceToEdgeM.toString())
            assertTrue(inside.similarity!! > 0.45f, inside.similarity.toString())
            assertFalse(inside.clockSkew)
            assertNull(inside.livenessPassed)
            assertEquals(emptyList(), inside.livenessFailures)

            // An inspection with one photo as bytes and one as a file the camera wrote.
            val png = Support.photoFile("alex_lacamoire/3.png").copyTo(Support.tempDir().resolve("IMG_0001.png"))
            val insp = core.inspect(
                "A-1", AssetCondition.MINOR_DAMAGE, "retak pada pagar",
                listOf(Photo.Bytes(Support.photoBytes("obama/1.jpg")), Photo.File(png.path)), clock.fix(-10.16355, OFFICE_LON),
            )
            assertEquals(inside.seq + 1uL, insp.seq)
            assertTrue(insp.distanceToEdgeM!! < 0)
            assertEquals(emptyList(), insp.flags)

            // 4 km from the last fix a second later: outside, and flagged as an impossible move.
            val outside = core.check("e-day", CheckDirection.OUT, Support.selfie("obama/4.jpg"), clock.fix(-10.20, OFFICE_LON))
            assertFalse(outside.accepted)
            assertEquals(listOf(CheckReason.OUTSIDE_FENCE, CheckReason.IMPOSSIBLE_SPEED), outside.reasons)
            assertEquals(listOf(LocationFlag.IMPOSSIBLE_SPEED), outside.flags)
            assertTrue(outside.distanceToEdgeM!! > 3_000)
            assertEquals(3uL, core.status().pendingRecords)

            val second = core.sync()
            assertTrue(second.complete, second.problems.toString())
            assertEquals(3uL, second.sent)
            assertEquals(3uL, second.acknowledged)
            assertEquals(0uL, second.pending)
            assertTrue(second.blobsUploaded >= 2u, "blobs ${second.blobsUploaded}")
            // A retry is a no-op: nothing resent, nothing lost.
            val third = core.sync()
            assertEquals(0uL, third.sent)
            assertEquals(0uL, third.acknowledged)
            assertEquals(0uL, core.status().pendingRecords)

            // The server holds what the typed inputs said: direction, condition.
            val held = server.records(core.status().deviceId)
            assertEquals(5, held.size)
            assertEquals("face.enrollment", held[0].first)
            assertEquals("attendance.check_in", held[1].first)
            assertEquals("attendance.check_in", held[2].first)
            assertTrue("\"condition\":\"minor_damage\"" in held[3].second, held[3].second)
            assertEquals("attendance.check_out", held[4].first)
        }
    }

    @Test
    fun `every rejection reason, location flag and liveness failure reaches Kotlin as a typed enum`(): Unit = runBlocking {
        server.employee("e-why")
        server.employee("e-nosite", sites = emptyList())
        // The default policy: a face, from a liveness session, is required.
        employeeDevice("e-why", server.config(models = true)).use { core ->
            val enrolled = core.enrollFace("e-why", obama.map(Support::photo))
            assertTrue(core.sync().complete)
            server.approveFace("e-why", enrolled.templateSha256)
            assertTrue(core.sync().complete)
            val reasons = mutableSetOf<CheckReason>()
            val flags = mutableSetOf<LocationFlag>()
            var n = 0
            var recorded = 1uL
            // Each check at its own spot, a centimetre and a second from the last one (the same fix twice
            // is a replay; any move in no time at all is an impossible speed).
            val start = clock.wall().minusSeconds(60)
            fun spot(accuracyM: Double? = 8.0, mock: Boolean = false, at: Instant = start.plusSeconds(n + 1L)): LocationFix {
                n++
                return LocationFix(OFFICE_LAT - 0.0000001 * n, OFFICE_LON, accuracyM, at, "gps", mock)
            }
            suspend fun check(face: FaceInput?, fix: LocationFix = spot(), who: String = "e-why"): CheckResult {
                val r = core.check(who, CheckDirection.IN, face, fix)
                reasons += r.reasons
                flags += r.flags
                assertFalse(r.accepted, r.toString())
                assertEquals(++recorded, r.seq)
                return r
            }

            // A still selfie where liveness is required: recorded as rejected, the face still compared.
            val still = check(Support.selfie("obama/4.jpg"))
            assertEquals(listOf(CheckReason.LIVENESS_MISSING), still.reasons)
            assertTrue(still.similarity!! > 0.45f)
            assertEquals(listOf(CheckReason.FACE_MISMATCH, CheckReason.LIVENESS_MISSING), check(Support.selfie("biden/2.jpg")).reasons)
            assertTrue(CheckReason.FACE_QUALITY in check(FaceInput.Selfie(Frames.grey(PixelFormat.BGRA8))).reasons)
            assertEquals(listOf(CheckReason.FACE_MISSING), check(null).reasons)
            // The face of someone not enrolled on this device cannot be checked at all.
            assertFailsWith<SiapException.NotEnrolled> {
                core.check("e-nosite", CheckDirection.IN, Support.selfie("obama/4.jpg"), clock.fix(OFFICE_LAT, OFFICE_LON))
            }
            assertEquals(listOf(CheckReason.NO_ASSIGNED_SITE, CheckReason.FACE_MISSING), check(null, who = "e-nosite").reasons)

            val mock = check(null, spot(mock = true))
            assertEquals(listOf(CheckReason.MOCK_LOCATION, CheckReason.FACE_MISSING), mock.reasons)
            assertEquals(listOf(LocationFlag.MOCK_LOCATION), mock.flags)
            val noAccuracy = check(null, spot(accuracyM = null))
            assertEquals(listOf(CheckReason.LOCATION_UNDECIDABLE, CheckReason.FACE_MISSING), noAccuracy.reasons)
            assertEquals(listOf(LocationFlag.MISSING_ACCURACY), noAccuracy.flags)
            val tooPrecise = check(null, spot(accuracyM = 0.01))
            assertEquals(listOf(LocationFlag.IMPLAUSIBLE_ACCURACY), tooPrecise.flags)
            val stale = check(null, spot(at = clock.wall().minus(Duration.ofMinutes(10))))
            assertEquals(listOf(CheckReason.STALE_FIX, CheckReason.FACE_MISSING), stale.reasons)
            assertEquals(listOf(LocationFlag.STALE_FIX), stale.flags)
            val future = check(null, spot(at = clock.wall().plusSeconds(60)))
            assertEquals(listOf(CheckReason.STALE_FIX, CheckReason.FACE_MISSING), future.reasons)
            assertEquals(listOf(LocationFlag.FUTURE_FIX), future.flags)
            val fix = spot()
            check(null, fix)
            val replay = check(null, fix)
            assertEquals(listOf(CheckReason.REPEATED_FIX, CheckReason.FACE_MISSING), replay.reasons)
            assertEquals(listOf(LocationFlag.REPEATED_FIX), replay.flags)

            // The user sets the phone's clock 10 minutes ahead; the time anchored at the last sync says
            // otherwise. (The fix carries GNSS time, which the user cannot set.)
            clock.skewWall(Duration.ofMinutes(10))
            val skewed = check(null)
            assertTrue(skewed.clockSkew)
            assertEquals(listOf(CheckReason.CLOCK_SKEW, CheckReason.FACE_MISSING), skewed.reasons)
            clock.skewWall(Duration.ofMinutes(-10))

            // A photo held still in front of the camera through a liveness session: the face matches,
            // the session fails, the check is recorded as rejected with the liveness failures.
            val session = core.startLiveness("e-why")
            val challenge = session.challenge()
            val frame = Support.photo("obama/4.jpg")
            val t0 = clock.monotonicMs()
            for (i in 1..10) {
                val f = session.pushFrame(frame, t0 + 100L * i)
                assertEquals(1u, f.faces)
                assertEquals(0u, f.stepsCompleted)
                assertEquals(challenge.steps[0], f.next)
            }
            // A session belongs to its employee.
            assertFailsWith<SiapException.BadInput> {
                core.check("e-nosite", CheckDirection.IN, FaceInput.Liveness(session), clock.fix(OFFICE_LAT, OFFICE_LON))
            }
            val spoof = check(FaceInput.Liveness(session))
            assertEquals(listOf(CheckReason.LIVENESS_FAILED), spoof.reasons)
            assertEquals(false, spoof.livenessPassed)
            assertTrue(LivenessFailure.STATIC_SEQUENCE in spoof.livenessFailures, spoof.livenessFailures.toString())
            assertTrue(spoof.similarity!! > 0.45f)
            // A session is good for one check only.
            val reused = assertFailsWith<SiapException.BadInput> { check(FaceInput.Liveness(session)) }
            assertTrue("already used" in reused.reason, reused.reason)
            assertFailsWith<SiapException.BadInput> { session.pushFrame(frame, t0 + 2_000) }

            // Re-enrolled from other photos: the new template is pending until the city approves it.
            core.enrollFace("e-why", listOf("obama/2.jpg", "obama/3.jpg", "obama/4.jpg").map(Support::photo))
            recorded++
            assertEquals(listOf(CheckReason.LIVENESS_MISSING, CheckReason.ENROLLMENT_PENDING), check(Support.selfie("obama/4.jpg")).reasons)

            // 15 km from the last fix (the one dated a minute ahead) within about a minute: outside, and
            // an impossible move.
            val outside = check(Support.selfie("obama/4.jpg"), clock.fix(-10.30, OFFICE_LON))
            assertEquals(
                listOf(CheckReason.OUTSIDE_FENCE, CheckReason.IMPOSSIBLE_SPEED, CheckReason.LIVENESS_MISSING, CheckReason.ENROLLMENT_PENDING),
                outside.reasons,
            )

            assertEquals(CheckReason.entries.toSet(), reasons, "reasons never seen: ${CheckReason.entries - reasons}")
            assertEquals(LocationFlag.entries.toSet(), flags, "flags never seen: ${LocationFlag.entries - flags}")
            // Every rejected attempt is evidence: all recorded.
            assertEquals(recorded, core.status().records)
        }
    }

    @Test
    fun `concurrent inspections and checks each get their own seq in one chain`(): Unit = runBlocking {
        server.employee("e-many")
        server.asset("A-2")
        val signer = JvmSigner()
        employeeDevice("e-many", server.config(), signer).use { core ->
            val signed = signer.calls.get() // the registration proof
            val photo = Support.jpegStub
            val conditions = AssetCondition.entries
            val inspections = (0 until 8).map { i ->
                async { core.inspect("A-2", conditions[i % conditions.size], "#$i", listOf(photo), clock.fix(OFFICE_LAT - 0.00001 * i, OFFICE_LON)) }
            }
            val checks = (0 until 4).map { i ->
                async { core.check("e-many", CheckDirection.entries[i % 2], null, clock.fix(OFFICE_LAT + 0.00001 * i, OFFICE_LON)) }
            }
            val seqs = inspections.awaitAll().map { it.seq } + checks.awaitAll().map { it.seq }
            assertEquals((1uL..12uL).toList(), seqs.sorted())
            assertEquals(signed + 12, signer.calls.get())
            val s = core.sync()
            assertEquals(12uL, s.acknowledged)
            // The server verified one unbroken chain, and the conditions arrived as sent.
            val held = server.records(core.status().deviceId)
            assertEquals(12, held.size)
            for (c in listOf("good", "minor_damage", "major_damage", "lost")) {
                assertEquals(2, held.count { "\"condition\":\"$c\"" in it.second }, c)
            }
        }
    }

    @Test
    fun `without face models a check without a face is recorded as rejected (fail closed)`(): Unit = runBlocking {
        server.employee("e-nomodels")
        employeeDevice("e-nomodels", server.config(models = false)).use { core ->
            assertFalse(core.status().faceReady)
            val r = core.check("e-nomodels", CheckDirection.IN, null, clock.fix(OFFICE_LAT, OFFICE_LON))
            assertFalse(r.accepted)
            assertEquals(listOf(CheckReason.FACE_MISSING), r.reasons)
            assertNull(r.similarity)
            assertNull(r.livenessPassed)
            assertEquals(1uL, r.seq)
            // A face cannot be checked without models: refused, not recorded.
            val e = assertFailsWith<SiapException.NotReady> {
                core.check("e-nomodels", CheckDirection.IN, FaceInput.Selfie(Frames.grey(PixelFormat.RGBA8)), clock.fix(OFFICE_LAT, OFFICE_LON + 0.00001))
            }
            assertTrue("model" in e.reason, e.reason)
            assertEquals(1uL, core.status().records)
        }
    }

    @Test
    fun `a citizen's phone shows its permit as signed by the city, overdue judged at trusted time`(): Unit = runBlocking {
        val deadline = Instant.ofEpochMilli(Instant.now().plus(Duration.ofDays(3)).toEpochMilli())
        server.permit("PBG-7", deadline)
        server.permit("PBG-8", deadline, fee = 999)
        val code = server.enrollmentCode("permit", "PBG-7")
        server.permitStatus("PBG-7", "in_review")

        SiapCore.open(server.config(), null, clock).use { core ->
            core.register(code)
            val s = core.sync()
            assertTrue(s.complete, s.problems.toString())
            // Only the citizen's own permit reaches the phone, with the official fee and the history.
            assertEquals(listOf("PBG-7"), core.permits().map { it.permitId })
            val p = core.permit("PBG-7")
            assertEquals("PBG", p.permitType)
            assertEquals(PermitStatus.IN_REVIEW, p.status)
            assertEquals(1_250_000uL, p.officialFeeIdr)
            assertEquals(deadline, p.deadline)
            assertEquals("DPMPTSP", p.office)
            assertFalse(p.overdue)
            assertEquals(listOf(PermitStatus.SUBMITTED, PermitStatus.IN_REVIEW), p.timeline.map { it.status })
            assertTrue(p.timeline.all { it.at <= Instant.now().plusSeconds(5) })
            assertEquals("permit", assertFailsWith<SiapException.NotFound> { core.permit("PBG-8") }.what)

            // Setting the phone's clock past the deadline changes nothing: the time anchored at the sync
            // (server time plus the monotonic clock since) is what counts.
            clock.skewWall(Duration.ofDays(4))
            assertFalse(core.permit("PBG-7").overdue)
            // Four days really pass (both clocks move): overdue.
            clock.advance(Duration.ofDays(4))
            assertTrue(core.permit("PBG-7").overdue)
            assertTrue(core.permits().single().overdue)
            // Eight days without a sync: the anchor is too old to trust, the wall clock is all there is.
            clock.advance(Duration.ofDays(4))
            assertTrue(core.permit("PBG-7").overdue)
            clock.skewWall(Duration.ofDays(-12))
            assertFalse(core.permit("PBG-7").overdue)
        }
    }

    @Test
    fun `the server's refusals are ServerRejected with its status, an unreachable server is Network`(): Unit = runBlocking {
        server.employee("e-codes")
        val code = server.enrollmentCode("employee", "e-codes")
        val cfg = server.config()
        SiapCore.open(cfg, null, clock).use { first ->
            val wrong = assertFailsWith<SiapException.ServerRejected> { first.register("WRONG-CODE-0000") }
            assertEquals(403.toUShort(), wrong.status)
            assertTrue("enrollment code" in wrong.reason, wrong.reason)
            assertFalse(first.status().registered)
            val id = first.register(code)
            // A retry with the same code after a lost answer is safe: same device.
            assertEquals(id, first.register(code))
            assertTrue(first.status().registered)
        }
        // The code is used: another phone cannot take it.
        SiapCore.open(server.config(), null, clock).use { other ->
            val used = assertFailsWith<SiapException.ServerRejected> { other.register(code) }
            assertEquals(403.toUShort(), used.status)
            assertFalse(other.status().registered)
        }
        // Data signed by another key than the configured server key (an impostor, or a misconfigured
        // build) does not verify: ServerRejected without an HTTP status, and nothing is applied.
        SiapCore.open(cfg.copy(serverPublicKey = JvmSigner().publicKey()), null, clock).use { misled ->
            val s = misled.sync()
            assertFalse(s.complete)
            assertEquals(0u, s.pulled)
            val pull = s.problems.single { it.phase == SyncPhase.PULL }.error
            assertTrue(pull is SiapException.ServerRejected && pull.status == null, pull.toString())
        }
        // Nothing listens: Network, after the client's retries.
        val closed = server.config().copy(serverUrl = "http://127.0.0.1:${Support.closedPort()}")
        SiapCore.open(closed, null, clock).use { offline ->
            val e = assertFailsWith<SiapException.Network> { offline.register("ABCD-EFGH-IJKL") }
            assertTrue(e.reason.isNotEmpty())
            assertFailsWith<SiapException.NotReady> { offline.sync() }
        }
    }

    @Test
    fun `a sync that cannot reach the server reports typed problems per phase and keeps everything`(): Unit = runBlocking {
        TestServer.start().use { own ->
            own.office()
            own.employee("e-off")
            own.asset("A-3")
            val code = own.enrollmentCode("employee", "e-off")
            SiapCore.open(own.config(), null, clock).use { core ->
                core.register(code)
                assertTrue(core.sync().complete)
                core.inspect("A-3", AssetCondition.GOOD, "", listOf(Photo.Bytes(Support.photoBytes("obama/1.jpg"))), clock.fix(OFFICE_LAT, OFFICE_LON))
                own.close()
                val s = core.sync()
                assertFalse(s.complete)
                assertEquals(0uL, s.acknowledged)
                assertEquals(1uL, s.pending)
                assertTrue(s.problems.all { it.error is SiapException.Network }, s.problems.toString())
                // Each phase tried (after the client's retries) and said why it could not finish.
                assertEquals(listOf(SyncPhase.RECORDS, SyncPhase.BLOBS, SyncPhase.PULL), s.problems.map { it.phase })
                assertEquals(1uL, core.status().pendingRecords)
            }
        }
    }

    @Test
    fun `a cancelled sync loses and duplicates nothing`(): Unit = runBlocking {
        server.employee("e-cancel-sync")
        server.asset("A-4")
        employeeDevice("e-cancel-sync", server.config()).use { core ->
            val photo = Photo.Bytes(Support.photoBytes("obama/2.jpg"))
            repeat(5) { i ->
                core.inspect("A-4", AssetCondition.GOOD, "#$i", listOf(photo), clock.fix(OFFICE_LAT - 0.00001 * i, OFFICE_LON))
            }
            // Cancelled wherever it is (before, during or after an upload): the task is aborted at its next
            // await. Whatever the server had acknowledged stays acknowledged; the rest is resent.
            val sync = async { core.sync() }
            yield()
            sync.cancel()
            assertFailsWith<CancellationException> { sync.await() }
            val again = core.sync()
            assertTrue(again.complete, again.problems.toString())
            assertEquals(0uL, again.pending)
            assertEquals(0uL, core.status().pendingRecords)
            val held = server.records(core.status().deviceId)
            assertEquals(List(5) { "inspection.recorded" }, held.map { it.first })
            assertEquals((0 until 5).map { "\"notes\":\"#$it\"" }, held.map { Regex("\"notes\":\"[^\"]*\"").find(it.second)!!.value })
        }
    }
}
