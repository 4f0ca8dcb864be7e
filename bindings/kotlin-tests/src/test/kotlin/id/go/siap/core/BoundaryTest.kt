// The generated Kotlin API against the real library: objects, records, errors, the foreign signer.
// The Rust logic itself is tested in Rust; these tests check what crosses the boundary.
package id.go.siap.core

import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import org.junit.jupiter.api.Assumptions.assumeTrue

class BoundaryTest {
    @Test
    fun `opens, reports status and refuses a bad master key with a typed error`() {
        SiapCore.open(Support.config(models = false), null, JvmClock).use { core ->
            val s = core.status()
            assertEquals(65, s.publicKey.size)
            assertEquals(32, s.deviceId.length)
            assertEquals(0uL, s.records)
            assertFalse(s.faceReady)
        }
        val bad = Support.config(models = false).copy(masterKey = ByteArray(5))
        val e = assertFailsWith<SiapException.BadInput> { SiapCore.open(bad, null, JvmClock) }
        assertTrue(e.message!!.contains("master_key"), e.message)
    }

    @Test
    fun `bad input and unknown ids are typed errors, without personal data`() {
        SiapCore.open(Support.config(models = false), null, JvmClock).use { core ->
            val nan = LocationFix(Double.NaN, 123.5, 5.0, System.currentTimeMillis(), "gps", false)
            val e = assertFailsWith<SiapException.BadInput> {
                core.check("199001012015031002", CheckDirection.IN, null, null, nan, Support.clock())
            }
            assertFalse(e.message!!.contains("199001012015031002"))
            val fix = LocationFix(-10.16, 123.59, 5.0, System.currentTimeMillis(), "gps", false)
            assertFailsWith<SiapException.NotFound> {
                core.check("nobody", CheckDirection.IN, null, null, fix, Support.clock())
            }
            assertFailsWith<SiapException.NotReady> { core.permits(0) }
            assertFailsWith<SiapException.NotReady> {
                core.enrollFace("x", listOf(CameraImage.Encoded(byteArrayOf(1, 2, 3))))
            }
        }
    }

    @Test
    fun `a Kotlin signer signs the device's records and its failures are typed`() {
        val signer = JvmSigner()
        val cfg = Support.config(models = false)
        SiapCore.open(cfg, signer, JvmClock).use { core ->
            assertTrue(core.status().publicKey.contentEquals(signer.publicKey()))
        }
        // Reopening the same database with a different platform key is refused (it would fork the chain).
        val other = JvmSigner()
        assertFailsWith<SiapException.Crypto> { SiapCore.open(cfg, other, JvmClock) }

        // A signer that throws: the open fails with a Signer error instead of crashing the app.
        val broken = object : PlatformSigner {
            override fun publicKey(): ByteArray = throw IllegalStateException("keystore locked")
            override fun sign(message: ByteArray): ByteArray = throw IllegalStateException("keystore locked")
        }
        assertFailsWith<SiapException.Signer> { SiapCore.open(Support.config(models = false), broken, JvmClock) }
    }

    @Test
    fun `enrolls faces from real photos, gates bad ones, and erases them`() {
        assumeTrue(Support.facesDir != null, "SKIPPED: ../shared/faces not found (set -Dsiap.faces.dir)")
        SiapCore.open(Support.config(), null, JvmClock).use { core ->
            assertTrue(core.status().faceReady)
            core.enrollFace("e1", listOf("obama/1.jpg", "obama/2.jpg", "obama/3.jpg").map(Support::photo))
            // A group photo fails the quality gate: the error says which photo, not who is in it.
            val e = assertFailsWith<SiapException.BadInput> {
                core.enrollFace("e2", listOf("biden/1.jpg", "multi/obama_and_biden.jpg", "biden/2.jpg").map(Support::photo))
            }
            assertTrue(e.message!!.contains("photo 2"), e.message)
            // Kiosk mode: in a photo of two people, the enrolled one is named and the other is unknown.
            val faces = core.identify(Support.photo("multi/obama_and_biden.jpg"))
            assertTrue(faces.size >= 2, faces.toString())
            assertEquals(listOf("e1"), faces.mapNotNull { it.employeeId })
            assertEquals(4, faces[0].faceBox.size)
            // A liveness session needs an enrolled face, and is refused before any frame otherwise.
            assertFailsWith<SiapException.NotEnrolled> { core.startLiveness("e2", Support.clock()) }
            assertFailsWith<SiapException.BadInput> {
                core.enrollFace("e3", listOf(CameraImage.Encoded(ByteArray(0))))
            }
            assertTrue(core.deleteFace("e1"))
            assertFalse(core.deleteFace("e1"))
        }
    }
}
