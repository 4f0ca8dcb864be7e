// Helpers shared by the boundary tests: temp directories, photos from ../shared/faces, a JVM signer.
package id.go.siap.core

import java.io.File
import java.math.BigInteger
import java.nio.file.Files
import java.security.KeyPairGenerator
import java.security.Signature
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec

object Support {
    val facesDir: File? = System.getProperty("siap.faces.dir")?.let(::File)?.takeIf { it.isDirectory }
    val modelsDir: String = File(System.getProperty("siap.models.dir") ?: "../../models").canonicalPath

    fun photo(rel: String): CameraImage = CameraImage.Encoded(File(facesDir, rel).readBytes())

    fun config(models: Boolean = true): CoreConfig = CoreConfig(
        dataDir = Files.createTempDirectory("siap-kt").toString(),
        modelsDir = if (models) modelsDir else null,
        serverUrl = null,
        serverPublicKey = null,
        masterKey = ByteArray(32) { it.toByte() },
    )

    fun clock(): ClockReading = JvmClock.now()
}

/** The JVM's monotonic clock standing in for `SystemClock.elapsedRealtime()`. */
object JvmClock : PlatformClock {
    private val boot = "jvm-" + ProcessHandle.current().pid()
    override fun now() = ClockReading(System.nanoTime() / 1_000_000, boot, System.currentTimeMillis())
}

/** A P-256 signer in the JVM's own crypto, standing in for Android Keystore / the Secure Enclave. */
class JvmSigner : PlatformSigner {
    private val pair = KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }.generateKeyPair()
    var calls = 0
        private set

    override fun publicKey(): ByteArray {
        val w = (pair.public as ECPublicKey).w
        fun fixed(v: BigInteger): ByteArray = v.toByteArray().let { b ->
            when {
                b.size == 32 -> b
                b.size > 32 -> b.copyOfRange(b.size - 32, b.size)
                else -> ByteArray(32 - b.size) + b
            }
        }
        return byteArrayOf(4) + fixed(w.affineX) + fixed(w.affineY)
    }

    override fun sign(message: ByteArray): ByteArray {
        calls++
        return Signature.getInstance("SHA256withECDSA").run {
            initSign(pair.private)
            update(message)
            sign()
        }
    }
}
