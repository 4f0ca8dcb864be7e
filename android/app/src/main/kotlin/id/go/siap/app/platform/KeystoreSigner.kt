package id.go.siap.app.platform

import android.content.Context
import android.content.pm.PackageManager
import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import id.go.siap.core.PlatformSigner
import id.go.siap.core.SiapException
import java.security.KeyPairGenerator
import java.security.KeyStore
import java.security.PrivateKey
import java.security.Signature
import java.security.spec.ECGenParameterSpec

/**
 * The device's ledger key: EC P-256 in AndroidKeyStore (StrongBox when the phone has one), never
 * exportable. The core calls [sign] for every record from a background thread.
 */
class KeystoreSigner(context: Context, private val alias: String = "siap-device-key") : PlatformSigner {
    private val keyStore = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }

    init {
        if (!keyStore.containsAlias(alias)) {
            val strongBox = Build.VERSION.SDK_INT >= Build.VERSION_CODES.P &&
                context.packageManager.hasSystemFeature(PackageManager.FEATURE_STRONGBOX_KEYSTORE)
            try {
                generate(strongBox)
            } catch (e: Exception) {
                if (!strongBox || !isStrongBoxUnavailable(e)) throw e
                generate(false)
            }
        }
    }

    private fun isStrongBoxUnavailable(e: Exception) =
        Build.VERSION.SDK_INT >= Build.VERSION_CODES.P && e is StrongBoxUnavailableException

    private fun generate(strongBox: Boolean) {
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_SIGN)
            .setAlgorithmParameterSpec(ECGenParameterSpec("secp256r1"))
            .setDigests(KeyProperties.DIGEST_SHA256)
        if (strongBox && Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) spec.setIsStrongBoxBacked(true)
        KeyPairGenerator.getInstance(KeyProperties.KEY_ALGORITHM_EC, ANDROID_KEYSTORE).run {
            initialize(spec.build())
            generateKeyPair()
        }
    }

    /** The uncompressed point: a P-256 X.509 SubjectPublicKeyInfo ends with the 65-byte `04 ‖ X ‖ Y`. */
    override fun publicKey(): ByteArray = keystoreCall {
        val cert = keyStore.getCertificate(alias)
            ?: throw SiapException.Signer("keystore: no key under alias $alias")
        val spki = cert.publicKey.encoded
        spki.copyOfRange(spki.size - 65, spki.size)
    }

    /**
     * SHA256withECDSA, DER encoded, as the core expects. Called on a core worker thread, never the main
     * thread; a key that needs the user (`UserNotAuthenticatedException`) or was invalidated
     * (`KeyPermanentlyInvalidatedException`) fails the call with that reason rather than blocking.
     */
    override fun sign(message: ByteArray): ByteArray = keystoreCall {
        val key = keyStore.getKey(alias, null) as? PrivateKey
            ?: throw SiapException.Signer("keystore: no private key under alias $alias")
        Signature.getInstance("SHA256withECDSA").run {
            initSign(key)
            update(message)
            sign()
        }
    }

    /**
     * Any keystore failure as `SiapException.Signer` carrying the keystore's own reason (exception class
     * and message, with its causes: e.g. `SignatureException` caused by `android.security.KeyStoreException`),
     * which the core hands back unchanged in the error of the call that needed the signature. It records
     * nothing unsigned. Keystore messages carry no key material.
     */
    private inline fun <T> keystoreCall(block: () -> T): T = try {
        block()
    } catch (e: SiapException) {
        throw e
    } catch (e: Exception) {
        throw SiapException.Signer(reason(e))
    }

    private fun reason(e: Throwable): String =
        generateSequence(e) { it.cause?.takeIf { c -> c !== it } }
            .take(4)
            .joinToString(" <- ") { t -> t.javaClass.simpleName + (t.message?.let { ": $it" } ?: "") }

    private companion object {
        const val ANDROID_KEYSTORE = "AndroidKeyStore"
    }
}
