package id.go.siap.app.platform

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import java.security.KeyStore
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The core's 32-byte master key (it seals the database's secrets and face templates). Generated once,
 * stored in SharedPreferences wrapped by a non-exportable AES-256-GCM key in AndroidKeyStore.
 */
class MasterKeyStore(context: Context) {
    private val prefs = context.getSharedPreferences("siap_master_key", Context.MODE_PRIVATE)
    private val keyStore = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }

    /** The master key, created on first call. Throws if a stored key can no longer be unwrapped. */
    @Synchronized
    fun load(): ByteArray {
        val stored = prefs.getString(PREF, null)
        if (stored != null) {
            val blob = Base64.decode(stored, Base64.NO_WRAP)
            val iv = blob.copyOfRange(0, IV_LEN)
            val cipher = Cipher.getInstance(TRANSFORM)
            cipher.init(Cipher.DECRYPT_MODE, wrappingKey(create = false), GCMParameterSpec(128, iv))
            // A failure here (Keystore wiped) must not silently create a new key: the data would be lost.
            return cipher.doFinal(blob, IV_LEN, blob.size - IV_LEN)
        }
        val master = ByteArray(32).also { SecureRandom().nextBytes(it) }
        val cipher = Cipher.getInstance(TRANSFORM)
        cipher.init(Cipher.ENCRYPT_MODE, wrappingKey(create = true)) // Keystore picks the IV
        val blob = cipher.iv + cipher.doFinal(master)
        check(prefs.edit().putString(PREF, Base64.encodeToString(blob, Base64.NO_WRAP)).commit()) {
            "could not store the wrapped master key"
        }
        return master
    }

    private fun wrappingKey(create: Boolean): SecretKey {
        (keyStore.getKey(ALIAS, null) as SecretKey?)?.let { return it }
        check(create) { "the master key's wrapping key is gone from AndroidKeyStore" }
        return KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore").run {
            init(
                KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                    .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                    .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                    .setKeySize(256)
                    .build(),
            )
            generateKey()
        }
    }

    private companion object {
        const val ALIAS = "siap-master-wrap"
        const val PREF = "wrapped"
        const val TRANSFORM = "AES/GCM/NoPadding"
        const val IV_LEN = 12
    }
}
