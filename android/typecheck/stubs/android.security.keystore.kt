@file:Suppress("unused", "UNUSED_PARAMETER")
package android.security.keystore
import java.security.spec.AlgorithmParameterSpec
class KeyGenParameterSpec : AlgorithmParameterSpec {
    class Builder(alias: String, purposes: Int) {
        fun setAlgorithmParameterSpec(s: AlgorithmParameterSpec): Builder = this
        fun setDigests(vararg d: String): Builder = this
        fun setIsStrongBoxBacked(b: Boolean): Builder = this
        fun setBlockModes(vararg m: String): Builder = this
        fun setEncryptionPaddings(vararg p: String): Builder = this
        fun setKeySize(n: Int): Builder = this
        fun build(): KeyGenParameterSpec = KeyGenParameterSpec()
    }
}
object KeyProperties {
    const val PURPOSE_SIGN = 4; const val PURPOSE_ENCRYPT = 1; const val PURPOSE_DECRYPT = 2
    const val KEY_ALGORITHM_EC = "EC"; const val KEY_ALGORITHM_AES = "AES"; const val DIGEST_SHA256 = "SHA-256"
    const val BLOCK_MODE_GCM = "GCM"; const val ENCRYPTION_PADDING_NONE = "NoPadding"
}
class StrongBoxUnavailableException : java.security.ProviderException()
