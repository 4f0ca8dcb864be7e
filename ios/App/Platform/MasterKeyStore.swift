import Foundation
import Security

/// The core's 32-byte master key (it seals the database's secrets and face templates): random, created
/// once, kept in the Keychain, readable after first unlock, never leaving this device (not in backups).
enum MasterKeyStore {
    struct KeychainError: Error { let status: OSStatus }

    private static let item: [String: Any] = [
        kSecClass as String: kSecClassGenericPassword,
        kSecAttrService as String: "id.go.siap",
        kSecAttrAccount as String: "master-key",
    ]

    static func load() throws -> Data {
        var query = item
        query[kSecReturnData as String] = true
        var result: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &result)
        if status == errSecSuccess, let data = result as? Data { return data }
        // Anything but "not found" must not create a new key: the sealed data would be lost.
        guard status == errSecItemNotFound else { throw KeychainError(status: status) }

        var key = Data(count: 32)
        let rc = key.withUnsafeMutableBytes { SecRandomCopyBytes(kSecRandomDefault, 32, $0.baseAddress!) }
        guard rc == errSecSuccess else { throw KeychainError(status: rc) }
        var add = item
        add[kSecValueData as String] = key
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        let added = SecItemAdd(add as CFDictionary, nil)
        guard added == errSecSuccess else { throw KeychainError(status: added) }
        return key
    }
}
