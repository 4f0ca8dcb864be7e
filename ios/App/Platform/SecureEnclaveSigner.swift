import Foundation
import Security
import SiapFFI

/// The device's ledger key: P-256 in the Secure Enclave, created once, never exportable. The core calls
/// `sign` for every record from a background thread. (The simulator has no Secure Enclave: there the key
/// is an ordinary Keychain key, which is only good for development.)
final class SecureEnclaveSigner: PlatformSigner, @unchecked Sendable {
    private let key: SecKey

    init(tag: String = "id.go.siap.device-key") throws {
        let tagData = Data(tag.utf8)
        key = try Self.load(tag: tagData) ?? Self.create(tag: tagData)
    }

    /// `SecKeyCopyExternalRepresentation` of a P-256 public key is the 65-byte `04 ‖ X ‖ Y` point.
    func publicKey() throws -> Data {
        guard let pub = SecKeyCopyPublicKey(key) else {
            throw SiapError.Signer(reason: "secure enclave: no public key for the device key")
        }
        var error: Unmanaged<CFError>?
        guard let data = SecKeyCopyExternalRepresentation(pub, &error) as Data? else {
            throw SiapError.Signer(reason: Self.reason("public key export failed", error))
        }
        return data
    }

    /// ECDSA over SHA-256 of `message`, DER encoded — what the core verifies. Called on a core worker
    /// thread. A failure (device locked, key gone, authentication needed) throws `SiapError.Signer` with
    /// the Security framework's own reason, which the core returns unchanged to the call that needed it.
    func sign(message: Data) throws -> Data {
        var error: Unmanaged<CFError>?
        guard let signature = SecKeyCreateSignature(key, .ecdsaSignatureMessageX962SHA256, message as CFData, &error) as Data? else {
            throw SiapError.Signer(reason: Self.reason("signing failed", error))
        }
        return signature
    }

    /// The platform's reason: the CFError's description, domain and code (no key material).
    private static func reason(_ what: String, _ error: Unmanaged<CFError>?) -> String {
        guard let error = error?.takeRetainedValue() else { return "secure enclave: \(what)" }
        let e = error as Error as NSError
        return "secure enclave: \(what): \(e.localizedDescription) (\(e.domain) \(e.code))"
    }

    private static func load(tag: Data) -> SecKey? {
        let query: [String: Any] = [
            kSecClass as String: kSecClassKey,
            kSecAttrApplicationTag as String: tag,
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecReturnRef as String: true,
        ]
        var item: CFTypeRef?
        guard SecItemCopyMatching(query as CFDictionary, &item) == errSecSuccess, let item else { return nil }
        return (item as! SecKey)
    }

    private static func create(tag: Data) throws -> SecKey {
        var error: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(
            nil, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly, .privateKeyUsage, &error
        ) else { throw SiapError.Signer(reason: reason("access control", error)) }
        var attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecPrivateKeyAttrs as String: [
                kSecAttrIsPermanent as String: true,
                kSecAttrApplicationTag as String: tag,
                kSecAttrAccessControl as String: access,
            ] as [String: Any],
        ]
        #if !targetEnvironment(simulator)
        attributes[kSecAttrTokenID as String] = kSecAttrTokenIDSecureEnclave
        #endif
        guard let key = SecKeyCreateRandomKey(attributes as CFDictionary, &error) else {
            throw SiapError.Signer(reason: reason("key creation failed", error))
        }
        return key
    }
}
