// The generated Kotlin API against the real library, without a server: opening, status, the
// configuration and input errors, and the face calls with every kind of image. The Rust logic itself is
// tested in Rust; these tests check what crosses the boundary: records, enums, typed errors and their
// fields.
package id.go.siap.core

import kotlin.test.Test
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking

class BoundaryTest {
    private val clock = TestClock()

    @Test
    fun `opens, reports status, keeps its identity, and refuses a bad configuration with typed errors`() {
        val cfg = Support.config()
        val id = SiapCore.open(cfg, null, clock).use { core ->
            val s = core.status()
            assertEquals(65, s.publicKey.size)
            assertEquals(0x04.toByte(), s.publicKey[0])
            assertEquals(32, s.deviceId.length)
            assertEquals(0uL, s.records)
            assertEquals(0uL, s.pendingRecords)
            assertFalse(s.faceReady)
            assertFalse(s.registered)
            s.deviceId
        }
        // The software key is sealed under the master key: the same install opens as the same device...
        SiapCore.open(cfg, null, clock).use { assertEquals(id, it.status().deviceId) }
        // ...and another master key does not open it (nothing is overwritten).
        val wrongKey = assertFailsWith<SiapException.Crypto> { SiapCore.open(cfg.copy(masterKey = ByteArray(32) { 9 }), null, clock) }
        assertTrue(wrongKey.reason.isNotEmpty())
        SiapCore.open(cfg, null, clock).use { assertEquals(id, it.status().deviceId) }

        val shortKey = assertFailsWith<SiapException.BadInput> { SiapCore.open(Support.config().copy(masterKey = ByteArray(5)), null, clock) }
        assertTrue("master_key" in shortKey.reason, shortKey.reason)
        assertFailsWith<SiapException.BadInput> { SiapCore.open(Support.config().copy(dataDir = ""), null, clock) }
        val noKey = assertFailsWith<SiapException.BadInput> {
            SiapCore.open(Support.config().copy(serverUrl = "https://siap.example"), null, clock)
        }
        assertTrue("server_public_key" in noKey.reason, noKey.reason)
        val serverKey = assertFailsWith<SiapException.BadInput> {
            SiapCore.open(Support.config().copy(serverPublicKey = ByteArray(33) { 2 }), null, clock)
        }
        assertTrue("public_key" in serverKey.reason, serverKey.reason)
        // A models directory without the models: the face engine does not start half-loaded.
        val models = assertFailsWith<SiapException.ModelMissing> {
            SiapCore.open(Support.config().copy(modelsDir = Support.tempDir().path), null, clock)
        }
        assertTrue(models.reason.isNotEmpty())
        // A data "directory" that is a file: a storage error, not a crash.
        val file = Support.tempDir().resolve("siap.db").apply { writeText("not a directory") }
        val storage = assertFailsWith<SiapException.Storage> { SiapCore.open(Support.config().copy(dataDir = file.path), null, clock) }
        assertTrue(storage.reason.isNotEmpty())
    }

    @Test
    fun `a platform key signs for the device, and a different key cannot take over its database`() {
        val signer = JvmSigner()
        val cfg = Support.config()
        SiapCore.open(cfg, signer, clock).use { core ->
            assertContentEquals(signer.publicKey(), core.status().publicKey)
        }
        SiapCore.open(cfg, signer, clock).use { core ->
            assertContentEquals(signer.publicKey(), core.status().publicKey)
        }
        // Reopening with another platform key is refused: it would fork the device's chain.
        val e = assertFailsWith<SiapException.Crypto> { SiapCore.open(cfg, JvmSigner(), clock) }
        assertTrue(e.reason.isNotEmpty())
    }

    @Test
    fun `calls that need what this device lacks are NotReady, and bad or unknown input is typed, without personal data`() {
        SiapCore.open(Support.config(), null, clock).use { core ->
            runBlocking {
                // No server configured.
                assertFailsWith<SiapException.NotReady> { core.permits() }
                assertFailsWith<SiapException.NotReady> { core.permit("PBG-1") }
                assertFailsWith<SiapException.NotReady> { core.register("ABCD-EFGH") }
                assertFailsWith<SiapException.NotReady> { core.sync() }
                // No face models configured (a citizen's app).
                val img = CameraImage.Encoded(byteArrayOf(1, 2, 3))
                val models = assertFailsWith<SiapException.NotReady> { core.enrollFace("e1", listOf(img, img, img)) }
                assertTrue("model" in models.reason, models.reason)
                assertFailsWith<SiapException.NotReady> { core.identify(img) }
                assertFailsWith<SiapException.NotReady> { core.startLiveness("e1") }
                assertFalse(core.deleteFace("e1"))

                // A check: the fix is validated before anything is looked up; the error names the
                // field, never the employee or the coordinates.
                val nip = "199001012015031002"
                val nan = assertFailsWith<SiapException.BadInput> {
                    core.check(nip, CheckDirection.IN, null, clock.fix(Double.NaN, OFFICE_LON))
                }
                assertFalse(nip in nan.reason, nan.reason)
                assertFailsWith<SiapException.BadInput> { core.check(" ", CheckDirection.OUT, null, clock.fix(OFFICE_LAT, OFFICE_LON)) }
                val who = assertFailsWith<SiapException.NotFound> {
                    core.check(nip, CheckDirection.IN, null, clock.fix(OFFICE_LAT, OFFICE_LON))
                }
                assertEquals("employee", who.what)

                // Inspections: photos are type-checked and bounded, files read by the core, errors
                // without the path (it can hold a user name).
                val jpeg = Support.jpegStub
                val fix = clock.fix(OFFICE_LAT, OFFICE_LON)
                val asset = assertFailsWith<SiapException.NotFound> { core.inspect("A-404", AssetCondition.GOOD, "", listOf(jpeg), fix) }
                assertEquals("asset", asset.what)
                assertFailsWith<SiapException.BadInput> {
                    core.inspect("A-1", AssetCondition.LOST, "", listOf(Photo.Bytes("GIF89a".toByteArray())), fix)
                }
                assertFailsWith<SiapException.BadInput> {
                    core.inspect("A-1", AssetCondition.MINOR_DAMAGE, "", List(11) { jpeg }, fix)
                }
                val missing = Support.tempDir().resolve("budi-santoso.jpg").path
                val noFile = assertFailsWith<SiapException.BadInput> {
                    core.inspect("A-1", AssetCondition.MAJOR_DAMAGE, "", listOf(Photo.File(missing)), fix)
                }
                assertFalse("budi" in noFile.reason, noFile.reason)
            }
            // Nothing above wrote a record.
            assertEquals(0uL, core.status().records)
        }
        // A permit app (server key, no URL): an empty cache, an unknown permit is NotFound.
        val citizen = Support.config().copy(serverPublicKey = JvmSigner().publicKey())
        SiapCore.open(citizen, null, clock).use { core ->
            assertEquals(emptyList(), core.permits())
            assertEquals("permit", assertFailsWith<SiapException.NotFound> { core.permit("PBG-404") }.what)
        }
    }

    @Test
    fun `enrolls from photo files, gates bad photos, and erases the face`() {
        SiapCore.open(Support.config(models = true), null, clock).use { core ->
            assertTrue(core.status().faceReady)
            runBlocking {
                // Files the camera wrote: the core reads them, no copy through the FFI.
                val camera = Support.tempDir()
                val files = listOf("obama/1.jpg", "obama/2.jpg", "obama/3.jpg").mapIndexed { i, rel ->
                    Support.photoFile(rel).copyTo(camera.resolve("IMG_000$i.jpg"))
                }
                val enrolled = core.enrollFace("e1", files.map { CameraImage.File(it.path) })
                assertEquals(emptyList(), enrolled.refused)
                // Pending until the city approves it; the hash names it in the approval.
                assertEquals(FaceApproval.Pending, enrolled.approval)
                assertEquals(FaceStatus(enrolled.templateSha256, FaceApproval.Pending), core.faceStatus("e1"))
                assertEquals(64, enrolled.templateSha256.length)
                val count = assertFailsWith<SiapException.BadInput> { core.enrollFace("e2", listOf(Support.photo("biden/1.jpg"), Support.photo("biden/2.jpg"))) }
                assertTrue("3 to 5" in count.reason, count.reason)
                // A group photo fails the quality gate: the error says which photo, not who is in it.
                val group = assertFailsWith<SiapException.BadInput> {
                    core.enrollFace("e2", listOf("biden/1.jpg", "multi/obama_and_biden.jpg", "biden/2.jpg").map(Support::photo))
                }
                assertTrue("photo 2" in group.reason, group.reason)
                assertFailsWith<SiapException.BadInput> { core.enrollFace(" ", listOf("obama/1.jpg", "obama/2.jpg", "obama/3.jpg").map(Support::photo)) }
                val secret = Support.tempDir().resolve("siti-aminah.jpg").path
                val noFile = assertFailsWith<SiapException.BadInput> { core.enrollFace("e2", List(3) { CameraImage.File(secret) }) }
                assertFalse("siti" in noFile.reason, noFile.reason)
                assertFailsWith<SiapException.BadInput> { core.enrollFace("e2", List(3) { CameraImage.Encoded(ByteArray(0)) }) }
            }
            // Only e1 is enrolled: a liveness session is refused for e2 before any frame is captured.
            assertFailsWith<SiapException.NotEnrolled> { core.startLiveness("e2") }
            core.startLiveness("e1").close()

            assertTrue(core.deleteFace("e1"))
            assertFalse(core.deleteFace("e1"))
            assertNull(core.faceStatus("e1"))
            assertFailsWith<SiapException.NotEnrolled> { core.startLiveness("e1") }
        }
        // The city's default: photos alone do not enroll anyone (recorded as a refused attempt).
        SiapCore.open(Support.config(models = true).copy(requireEnrollmentLiveness = true), null, clock).use { core ->
            val refused = runBlocking { core.enrollFace("e1", listOf("obama/1.jpg", "obama/2.jpg", "obama/3.jpg").map(Support::photo)) }
            assertEquals(listOf(EnrollmentRefusal.LIVENESS_MISSING), refused.refused)
            assertNull(refused.approval)
            assertNull(core.faceStatus("e1"))
            assertEquals(1uL, core.status().records)
            // An enrollment's liveness session is started for someone not enrolled yet.
            core.startEnrollment("e1").close()
        }
    }

    @Test
    fun `kiosk mode identifies faces in encoded photos and in raw frames of every pixel format and rotation`() {
        SiapCore.open(Support.config(models = true), null, clock).use { core ->
            runBlocking {
                core.enrollFace("e1", listOf("obama/1.jpg", "obama/2.jpg", "obama/3.jpg").map(Support::photo))

                // Two people: the enrolled one is named, the other is unknown; boxes in image pixels.
                val group = Frames.decode(Support.photoBytes("multi/obama_and_biden.jpg"))
                val faces = core.identify(Support.photo("multi/obama_and_biden.jpg"))
                assertTrue(faces.size >= 2, faces.toString())
                assertEquals(listOf("e1"), faces.mapNotNull { it.employeeId })
                for (f in faces) {
                    val b = f.faceBox
                    assertTrue(b.left < b.right && b.top < b.bottom, b.toString())
                    assertTrue(b.right > 0 && b.left < group.width && b.bottom > 0 && b.top < group.height, b.toString())
                }
                val known = faces.single { it.employeeId == "e1" }
                assertTrue(known.qualityPassed)
                assertTrue(known.similarity > 0.45f, known.similarity.toString())

                // The same person as raw camera frames: RGBA (Android bitmaps), BGRA (iOS), NV21 and
                // I420 (camera YUV), decoded here from a JPEG so the shell never re-encodes.
                val pixels = Frames.decode(Support.photoBytes("obama/4.jpg"))
                assertEquals("e1", core.identify(Support.photo("obama/4.jpg")).single().employeeId)
                for (format in PixelFormat.entries) {
                    val found = core.identify(Frames.raw(pixels, format))
                    assertEquals(listOf("e1"), found.map { it.employeeId }, "$format: $found")
                    assertTrue(found[0].similarity > 0.45f, "$format: ${found[0].similarity}")
                }
                // A sensor mounted sideways: the frame comes turned and says by how much to turn it back;
                // the face is found where it is in the upright image.
                val upright = core.identify(Frames.raw(pixels, PixelFormat.RGBA8)).single()
                val turned = core.identify(Frames.raw(pixels.turnedCounterClockwise(), PixelFormat.RGBA8, rotationDegrees = 90u)).single()
                assertEquals("e1", turned.employeeId)
                assertEquals(upright.faceBox.left, turned.faceBox.left, 2f)
                assertEquals(upright.faceBox.top, turned.faceBox.top, 2f)

                // Nobody in the frame: no faces, not an error.
                assertEquals(emptyList(), core.identify(Frames.grey(PixelFormat.I420)))
                // Frames that do not add up are bad input.
                val bad = Frames.grey(PixelFormat.NV21)
                val short = assertFailsWith<SiapException.BadInput> { core.identify(bad.copy(data = bad.data.copyOf(bad.data.size - 1))) }
                assertTrue("data" in short.reason, short.reason)
                val rot = assertFailsWith<SiapException.BadInput> { core.identify(bad.copy(rotationDegrees = 45u)) }
                assertTrue("rotation" in rot.reason, rot.reason)
                assertFailsWith<SiapException.BadInput> { core.identify(CameraImage.Encoded("not a photo".toByteArray())) }
            }
        }
    }

    @Test
    fun `a liveness session shows the core's challenge and guides frame by frame`() {
        SiapCore.open(Support.config(models = true), null, clock).use { core ->
            runBlocking { core.enrollFace("e1", listOf("obama/1.jpg", "obama/2.jpg", "obama/3.jpg").map(Support::photo)) }
            core.startLiveness("e1").use { session ->
                val c = session.challenge()
                assertEquals(32, c.nonce.length)
                assertTrue(c.steps.size in 2..4, c.steps.toString())
                assertTrue(c.steps.all { it in HeadMovement.entries })
                assertTrue(c.stepTimeoutMs in 1..c.totalTimeoutMs)
                // Another session draws another challenge.
                core.startLiveness("e1").use { assertTrue(it.challenge().nonce != c.nonce) }

                val t0 = clock.monotonicMs()
                val face = Frames.raw(Frames.decode(Support.photoBytes("obama/4.jpg")), PixelFormat.NV21)
                val f1 = session.pushFrame(face, t0 + 100)
                assertEquals(1u, f1.faces)
                assertEquals(0u, f1.stepsCompleted)
                assertEquals(c.steps[0], f1.next)
                assertFalse(f1.failed)
                // Nobody in front of the camera: "look at the camera".
                val empty = session.pushFrame(Frames.grey(PixelFormat.RGBA8), t0 + 200)
                assertEquals(0u, empty.faces)
                assertNotNull(empty.next)
                val enc = session.pushFrame(Support.photo("obama/4.jpg"), t0 + 300)
                assertEquals(1u, enc.faces)
                assertFailsWith<SiapException.BadInput> { session.pushFrame(CameraImage.Encoded(ByteArray(3)), t0 + 400) }
            }
        }
    }
}
